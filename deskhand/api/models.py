"""The API's public shapes (pydantic): what routes return and accept, and what OpenAPI describes.

The MCP server and the console use these same models; a field added here appears in all of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` as `cursor` for the next (None: this was the last)."""

    data: list[T]
    next_cursor: str | None = None


class DecisionAction(BaseModel):
    kind: str
    status: str
    key: str
    result: dict[str, Any] | None = None
    error: str | None = None


class Decision(BaseModel):
    """Why a ticket event got its route: triage, rules, evidence and the reply (if any)."""

    id: int
    account: str
    ticket_id: str
    event_id: int
    route: Literal["auto_reply", "draft", "human", "ignore"] | str
    category: str | None = None
    urgency: str | None = None
    confidence: float
    rules: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    evidence: dict[str, Any] = Field(default_factory=dict)
    reply: str | None = None
    created_at: datetime
    actions: list[DecisionAction] | None = None  # in GET /v1/decisions/{id}


class ApiKeyInfo(BaseModel):
    id: str
    tenant_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None = None
