"""Who and what a helpdesk account holds: users (agents/admins), contacts (customers), teams, tags.

From the replica by default (what `deskhand sync` keeps), live with `fresh=true`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select, tuple_

from deskhand.api import live
from deskhand.api import models as m
from deskhand.api.auth import account_of, require, runtime, tenant_account_names
from deskhand.api.keys import Principal
from deskhand.api.problems import PROBLEMS, ApiProblem
from deskhand.api.tickets import Live, _providers
from deskhand.model import Role
from deskhand.runtime import Runtime
from deskhand.store.tables_sync import replica_teams, replica_tickets, replica_users

router = APIRouter(prefix="/v1", tags=["directory"], responses=PROBLEMS)
Reader = Annotated[Principal, Depends(require("tickets:read"))]
Rt = Annotated[Runtime, Depends(runtime)]
Account = Annotated[str | None, Query(max_length=64)]
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=300)]
STAFF = (Role.AGENT.value, Role.ADMIN.value)


def _names(rt: Runtime, who: Principal, account: str | None) -> list[str]:
    return [account_of(rt, who, account).name] if account else tenant_account_names(rt, who.tenant_id)


def _cursor(cursor: str) -> tuple[str, str]:
    try:
        got = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        got = None
    if not (isinstance(got, list) and len(got) == 2 and all(isinstance(v, str) for v in got)):
        raise ApiProblem(422, "invalid_cursor", "the cursor is not one this API gave: pass next_cursor as is")
    return got[0], got[1]


def _page(rows: Sequence[Any], limit: int, build: Any) -> dict[str, Any]:
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = base64.urlsafe_b64encode(json.dumps([last.account, last.id]).encode()).decode().rstrip("=")
    return {"data": [build(r) for r in rows[:limit]], "next_cursor": nxt}


def _people(rt: Runtime, who: Principal, lc: live.LiveConnectors, account: str | None, fresh: bool, limit: int,
            cursor: str | None, staff: bool) -> m.Page[m.Person]:
    def wanted(role: str) -> bool:
        return (role in STAFF) == staff

    if fresh:
        if account is None:
            raise ApiProblem(422, "account_required", "a live listing (fresh=true) needs ?account=")
        acc = account_of(rt, who, account)
        people = [live.person(acc, u) for u in lc.get(acc).list_users() if wanted(u.role.value)]
        return m.Page[m.Person](data=people[:limit])
    providers = _providers(rt, who)
    c = replica_users.c
    roles = list(STAFF) if staff else [Role.END_USER.value, Role.UNKNOWN.value]
    q = (select(replica_users).where(c.account.in_(_names(rt, who, account)), c.role.in_(roles))
         .order_by(c.account, c.id).limit(limit + 1))
    if cursor:
        q = q.where(tuple_(c.account, c.id) > tuple_(*_cursor(cursor)))
    with rt.store.engine.connect() as conn:
        rows = conn.execute(q).all()
    return m.Page[m.Person](**_page(rows, limit, lambda r: m.Person(
        id=live.unified_id(r.account, r.id), remote_id=r.id, account=r.account, provider=providers.get(r.account, ""),
        name=r.name, email=r.email, role=r.role)))


@router.get("/users", response_model=m.Page[m.Person], tags=["directory"], summary="Agents and admins")
def list_users(who: Reader, rt: Rt, lc: Live, account: Account = None, fresh: bool = False, limit: Limit = 100,
               cursor: Cursor = None) -> m.Page[m.Person]:
    return _people(rt, who, lc, account, fresh, limit, cursor, staff=True)


@router.get("/contacts", response_model=m.Page[m.Person], summary="Customers (requesters)")
def list_contacts(who: Reader, rt: Rt, lc: Live, account: Account = None, fresh: bool = False, limit: Limit = 100,
                  cursor: Cursor = None) -> m.Page[m.Person]:
    return _people(rt, who, lc, account, fresh, limit, cursor, staff=False)


@router.get("/teams", response_model=m.Page[m.Team], summary="Teams (groups, queues)")
def list_teams(who: Reader, rt: Rt, lc: Live, account: Account = None, fresh: bool = False, limit: Limit = 100,
               cursor: Cursor = None) -> m.Page[m.Team]:
    if fresh:
        if account is None:
            raise ApiProblem(422, "account_required", "a live listing (fresh=true) needs ?account=")
        acc = account_of(rt, who, account)
        return m.Page[m.Team](data=[live.team(acc, t) for t in lc.get(acc).list_teams()][:limit])
    providers = _providers(rt, who)
    c = replica_teams.c
    q = select(replica_teams).where(c.account.in_(_names(rt, who, account))).order_by(c.account, c.id).limit(limit + 1)
    if cursor:
        q = q.where(tuple_(c.account, c.id) > tuple_(*_cursor(cursor)))
    with rt.store.engine.connect() as conn:
        rows = conn.execute(q).all()
    return m.Page[m.Team](**_page(rows, limit, lambda r: m.Team(
        id=live.unified_id(r.account, r.id), remote_id=r.id, account=r.account, provider=providers.get(r.account, ""),
        name=r.name)))


@router.get("/tags", response_model=m.Page[m.Tag], summary="Tags in use, most used first")
def list_tags(who: Reader, rt: Rt, account: Account = None, limit: Limit = 100) -> m.Page[m.Tag]:
    providers = _providers(rt, who)
    c = replica_tickets.c
    q = select(c.account, c.tags).where(c.account.in_(_names(rt, who, account)), c.deleted.is_(False))
    counts: Counter[tuple[str, str]] = Counter()
    with rt.store.engine.connect() as conn:
        for r in conn.execute(q):
            counts.update((r.account, str(tag)) for tag in set(r.tags or []))
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return m.Page[m.Tag](data=[m.Tag(name=tag, account=acc, provider=providers.get(acc, ""), tickets=n)
                               for (acc, tag), n in top])
