"""GET /v1/knowledge/search: the tenant's knowledge (articles and generalised solved tickets) as the
responder retrieves it for a question, best first: the same index and ranking a reply is grounded on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from deskhand.api.auth import require, runtime
from deskhand.api.keys import Principal
from deskhand.api.problems import PROBLEMS
from deskhand.runtime import Runtime

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"], responses=PROBLEMS)
Reader = Annotated[Principal, Depends(require("tickets:read"))]
Rt = Annotated[Runtime, Depends(runtime)]
MAX_TEXT = 4000


class Passage(BaseModel):
    id: str
    title: str
    text: str
    score: float
    kind: str  # knowledge_base | resolved_ticket
    url: str | None = None


class Passages(BaseModel):
    data: list[Passage]


@router.get("/search", response_model=Passages, summary="Search the knowledge replies are grounded on")
def search_knowledge(who: Reader, rt: Rt, q: Annotated[str, Query(min_length=2, max_length=1000,
                                                                    description="the question, in plain words")],
                     limit: Annotated[int, Query(ge=1, le=20)] = 5) -> Passages:
    found = rt.retrieve(who.tenant_id, q, k=limit)
    return Passages(data=[Passage(id=s.id, title=s.title, text=s.text[:MAX_TEXT], score=round(s.score, 4), kind=s.kind,
                                  url=s.url) for s in found])
