"""Tickets and their comments, for every connected account through the same routes.

Reads come from the replica (deskhand.sync: fast, no provider quota) unless `fresh=true` or
`remote_data=true` (live, through the connector, written through to the replica); a ticket the
replica does not hold yet is read live. Writes go through the connector's actions, so each helpdesk's
own mechanism is used (a Jira status through its workflow's transitions), and accept Idempotency-Key.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from sqlalchemy import func, or_, select, text, tuple_

from deskhand import model
from deskhand.api import live
from deskhand.api import models as m
from deskhand.api.auth import account_of, require, runtime, tenant_account_names
from deskhand.api.idempotency import fingerprint, run_once
from deskhand.api.keys import Principal
from deskhand.api.paging import Timestamp, parse_time
from deskhand.api.problems import PROBLEMS, ApiProblem, not_found
from deskhand.errors import ProviderError
from deskhand.runtime import Runtime
from deskhand.store import AccountRecord
from deskhand.store.tables_sync import replica_comments as rc
from deskhand.store.tables_sync import replica_tickets as rt_
from deskhand.timestamps import parse_timestamp

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/tickets", tags=["tickets"], responses=PROBLEMS)
Reader = Annotated[Principal, Depends(require("tickets:read"))]
Writer = Annotated[Principal, Depends(require("tickets:write"))]
Rt = Annotated[Runtime, Depends(runtime)]
TicketId = Annotated[str, Path(min_length=3, max_length=200, description="unified id: <account>:<remote id>")]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
Fresh = Annotated[bool, Query(description="read live from the helpdesk instead of the replica")]
RemoteData = Annotated[bool, Query(description="include the helpdesk's own record (read live)")]
MAX_LIMIT = 100


async def connectors(request: Request) -> live.LiveConnectors:  # async: no I/O, no threadpool hop
    held: live.LiveConnectors | None = getattr(request.app.state, "live_connectors", None)
    if held is None:
        held = request.app.state.live_connectors = live.LiveConnectors(request.app.state.rt)
    return held


Live = Annotated[live.LiveConnectors, Depends(connectors)]


def split_id(rt: Runtime, who: Principal, ticket_id: str) -> tuple[AccountRecord, str]:
    name, sep, remote = ticket_id.partition(":")
    if not sep or not remote:
        raise not_found(f"ticket {ticket_id!r}")
    return account_of(rt, who, name), remote


def _dt(value: str | None) -> datetime | None:
    return parse_timestamp(value, "iso8601") if value else None


def _from_row(r: Any, provider: str) -> m.Ticket:
    return m.Ticket(
        id=live.unified_id(r.account, r.id), remote_id=r.id, account=r.account, provider=provider,
        created_at=_dt(r.created_at), updated_at=_dt(r.updated_at), subject=r.subject, description=r.description,
        status=r.status, raw_status=r.raw_status, priority=r.priority, requester_id=r.requester_id,
        assignee_id=r.assignee_id, team_id=r.team_id, tags=list(r.tags or []),
    )


def _cursor(cursor: str) -> list[str]:
    try:
        got = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        got = None
    if not (isinstance(got, list) and len(got) == 3 and all(isinstance(v, str) for v in got)):
        raise ApiProblem(422, "invalid_cursor", "the cursor is not one this API gave: pass next_cursor as is")
    return got


def _tag_clause(dialect: str, tag: str) -> Any:
    if dialect == "postgresql":
        return text("CAST(replica_tickets.tags AS jsonb) @> CAST(:tag_json AS jsonb)").bindparams(
            tag_json=json.dumps([tag]))
    return text("EXISTS (SELECT 1 FROM json_each(replica_tickets.tags) WHERE json_each.value = :tag)").bindparams(
        tag=tag)


@router.get("", response_model=m.Page[m.Ticket], summary="List tickets (newest change first)")
def list_tickets(
    who: Reader, rt: Rt, lc: Live,
    account: Annotated[str | None, Query(max_length=64)] = None,
    status: m.Status | None = None,
    updated_after: Timestamp = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    assignee: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=500, description=(
        "text to search for: with fresh=true the helpdesk's own search (Linear's searchIssues, in its "
        "relevance order); otherwise every word in the replica's subject or description"))] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    fresh: Fresh = False,
    remote_data: RemoteData = False,
) -> m.Page[m.Ticket]:
    after = parse_time(updated_after) if updated_after else None
    words = (q or "").lower().split()
    if q is not None and not words:
        raise ApiProblem(422, "invalid_query", "q has no words to search for")
    if fresh or remote_data:
        if account is None:
            raise ApiProblem(422, "account_required", "a live listing (fresh or remote_data) needs ?account=")
        return _list_live(rt, lc, account_of(rt, who, account), status, after, tag, assignee, limit, cursor,
                          remote_data, q)
    names = [account_of(rt, who, account).name] if account else tenant_account_names(rt, who.tenant_id)
    c = rt_.c
    updated = func.coalesce(c.updated_at, "")
    query = (select(rt_).where(c.tenant_id == who.tenant_id, c.account.in_(names), c.deleted.is_(False))
             .order_by(updated.desc(), c.account.desc(), c.id.desc()).limit(limit + 1))
    if status:
        query = query.where(c.status == status)
    if after:
        query = query.where(c.updated_at > after.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if assignee:
        query = query.where(c.assignee_id == assignee)
    if tag:
        query = query.where(_tag_clause(rt.store.engine.dialect.name, tag))
    for word in words:  # case-insensitive, % and _ taken literally
        query = query.where(or_(func.lower(c.subject).contains(word, autoescape=True),
                                func.lower(c.description).contains(word, autoescape=True)))
    if cursor:
        query = query.where(tuple_(updated, c.account, c.id) < tuple_(*_cursor(cursor)))
    with rt.store.engine.connect() as conn:
        rows = conn.execute(query).all()
    providers = _providers(rt, who)
    page = [_from_row(r, providers.get(r.account, "")) for r in rows[:limit]]
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = base64.urlsafe_b64encode(json.dumps([last.updated_at or "", last.account, last.id]).encode()).decode()
    return m.Page[m.Ticket](data=page, next_cursor=nxt.rstrip("=") if nxt else None)


def _providers(rt: Runtime, who: Principal) -> dict[str, str]:
    from deskhand.store.schema import accounts

    q = select(accounts.c.name, accounts.c.provider).where(accounts.c.tenant_id == who.tenant_id)
    with rt.store.engine.connect() as conn:
        return {r.name: r.provider for r in conn.execute(q).all()}


def _list_live(rt: Runtime, lc: live.LiveConnectors, account: AccountRecord, status: str | None,
               updated_after: datetime | None, tag: str | None, assignee: str | None, limit: int,
               cursor: str | None, remote_data: bool, q: str | None = None) -> m.Page[m.Ticket]:
    """A live listing: the helpdesk's own order (with `q`, its own search's), filtered here; the cursor
    counts records passed."""
    skip = 0
    if cursor:
        if not cursor.isdigit() or len(cursor) > 9:
            raise ApiProblem(422, "invalid_cursor", "the cursor is not one this API gave: pass next_cursor as is")
        skip = int(cursor)
    found: list[m.Ticket] = []
    seen = 0
    conn = lc.get(account)
    for t in (conn.search_tickets(q) if q else conn.iter_tickets()):
        seen += 1
        if seen <= skip:
            continue
        if (status and t.status.value != status) or (tag and tag not in t.tags) or \
                (assignee and t.assignee_id != assignee) or \
                (updated_after and (t.updated_at is None or t.updated_at <= updated_after)):
            continue
        found.append(live.ticket(account, t, remote_data=remote_data))
        if len(found) == limit:
            return m.Page[m.Ticket](data=found, next_cursor=str(seen))
    return m.Page[m.Ticket](data=found)


@router.get("/{ticket_id}", response_model=m.Ticket, summary="One ticket")
def get_ticket(who: Reader, rt: Rt, lc: Live, ticket_id: TicketId, fresh: Fresh = False,
               remote_data: RemoteData = False) -> m.Ticket:
    account, remote = split_id(rt, who, ticket_id)
    if not (fresh or remote_data):
        q = select(rt_).where(rt_.c.account == account.name, rt_.c.id == remote, rt_.c.deleted.is_(False))
        with rt.store.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is not None:
            return _from_row(row, account.provider)
    t = live.fetch_ticket(rt, lc.get(account), account, remote)
    return live.ticket(account, t, remote_data=remote_data)


@router.post("", response_model=m.Ticket, status_code=201, summary="Create a ticket in one account")
def create_ticket(who: Writer, rt: Rt, lc: Live, body: Annotated[m.TicketCreate, Body()],
                  idempotency_key: IdemKey = None) -> Any:
    account = account_of(rt, who, body.account)

    def perform() -> tuple[int, Any]:
        t = lc.get(account).create_ticket(
            subject=body.subject, body=body.body, requester_name=body.requester_name,
            requester_email=body.requester_email, tags=body.tags,
            priority=model.Priority(body.priority) if body.priority else None)
        _try_write_through(rt, lc, account, t)
        return 201, live.ticket(account, t).model_dump(mode="json")

    return run_once(rt, who, idempotency_key, fingerprint("POST", "/v1/tickets", body.model_dump(mode="json")),
                    perform)


@router.patch("/{ticket_id}", response_model=m.Ticket, summary="Change status, priority, assignee, team or tags")
def update_ticket(who: Writer, rt: Rt, lc: Live, ticket_id: TicketId, body: Annotated[m.TicketUpdate, Body()],
                  idempotency_key: IdemKey = None) -> Any:
    account, remote = split_id(rt, who, ticket_id)
    actions = _actions(remote, body)
    if not actions:
        raise ApiProblem(422, "nothing_to_change", "give at least one of status, priority, assignee_id, team_id, "
                         "add_tags")

    def perform() -> tuple[int, Any]:
        conn = lc.get(account)
        results = [perform_action(conn, a) for a in actions]
        t = live.fetch_ticket(rt, conn, account, remote)
        out = live.ticket(account, t).model_dump(mode="json")
        out["remote_data"] = None
        log.info("api update account=%s ticket=%s actions=%s", account.name, remote, [r.get("action") for r in results])
        return 200, out

    print_ = fingerprint("PATCH", ticket_id, body.model_dump(mode="json"))
    return run_once(rt, who, idempotency_key, print_, perform)


def _actions(remote: str, body: m.TicketUpdate) -> list[model.Action]:
    def act(kind: model.ActionKind, **params: Any) -> model.Action:
        return model.Action(kind=kind, ticket_id=remote, key=f"api:{uuid.uuid4().hex}", params=params)

    out = []
    if body.status:
        out.append(act(model.ActionKind.SET_STATUS, status=body.status))
    if body.priority:
        out.append(act(model.ActionKind.SET_PRIORITY, priority=body.priority))
    if body.assignee_id or body.team_id:
        out.append(act(model.ActionKind.ASSIGN, **{k: v for k, v in (("user_id", body.assignee_id),
                                                                     ("team_id", body.team_id)) if v}))
    if body.add_tags:
        out.append(act(model.ActionKind.ADD_TAGS, tags=list(body.add_tags)))
    return out


def perform_action(conn: Any, action: model.Action) -> dict[str, Any]:
    """One action through the connector; arguments the helpdesk cannot take are a 422, not a 500."""
    try:
        return dict(conn.perform(action))
    except ValueError as exc:
        raise ApiProblem(422, "invalid_for_provider", f"{conn.provider} cannot {action.kind.value} so: {exc}") from exc


def _try_write_through(rt: Runtime, lc: live.LiveConnectors, account: AccountRecord, t: model.Ticket) -> None:
    """After a write that was performed: refresh the replica; a failure here must not fail the write
    (the caller would retry it and do it twice)."""
    try:
        live.fetch_ticket(rt, lc.get(account), account, t.id)
    except ProviderError as exc:
        log.warning("api write-through of %s/%s failed: %s", account.name, t.id, exc)


# -- comments -----------------------------------------------------------------------------------


@router.get("/{ticket_id}/comments", response_model=m.Page[m.Comment], summary="A ticket's comments, oldest first")
def list_comments(who: Reader, rt: Rt, lc: Live, ticket_id: TicketId, fresh: Fresh = False,
                  remote_data: RemoteData = False) -> m.Page[m.Comment]:
    account, remote = split_id(rt, who, ticket_id)
    if not (fresh or remote_data):
        with rt.store.engine.connect() as conn:
            held = conn.execute(select(rt_.c.id).where(rt_.c.account == account.name, rt_.c.id == remote,
                                                       rt_.c.deleted.is_(False))).first()
            rows = conn.execute(select(rc).where(rc.c.account == account.name, rc.c.ticket_id == remote)
                                .order_by(func.coalesce(rc.c.created_at, ""), rc.c.id)).all() if held else []
        if held is not None:
            return m.Page[m.Comment](data=[_comment_row(account, r) for r in rows])
    t = live.fetch_ticket(rt, lc.get(account), account, remote)
    return m.Page[m.Comment](data=[live.comment(account, c, remote_data=remote_data) for c in t.comments])


def _comment_row(account: AccountRecord, r: Any) -> m.Comment:
    return m.Comment(id=live.unified_id(account.name, r.id), remote_id=r.id, account=account.name,
                     provider=account.provider, created_at=_dt(r.created_at),
                     ticket_id=live.unified_id(account.name, r.ticket_id), body=r.body, visibility=r.visibility,
                     author_id=r.author_id)


@router.post("/{ticket_id}/comments", response_model=m.Comment, status_code=201,
             summary="Add a comment: public (a reply the customer sees) or internal (a note)")
def create_comment(who: Writer, rt: Rt, lc: Live, ticket_id: TicketId, body: Annotated[m.CommentCreate, Body()],
                   idempotency_key: IdemKey = None) -> Any:
    account, remote = split_id(rt, who, ticket_id)
    kind = model.ActionKind.REPLY if body.visibility == "public" else model.ActionKind.NOTE
    conn_ = lc.get(account)
    if kind not in conn_.definition.actions:
        raise ApiProblem(422, "unsupported", f"{account.provider} has no {body.visibility} comments")

    def perform() -> tuple[int, Any]:
        action = model.Action(kind=kind, ticket_id=remote, key=f"api:{uuid.uuid4().hex}", params={"body": body.body})
        result = perform_action(conn_, action)
        comment_id = str(result.get("comment_id") or "")
        made = None
        try:
            t = live.fetch_ticket(rt, conn_, account, remote)
            made = next((c for c in t.comments if c.id == comment_id), None)
        except ProviderError as exc:
            log.warning("api write-through of %s/%s failed: %s", account.name, remote, exc)
        if made is None:
            made = model.Comment(id=comment_id, ticket_id=remote, body=body.body,
                                 visibility=model.Visibility(body.visibility), created_at=datetime.now(UTC))
        return 201, live.comment(account, made).model_dump(mode="json")

    print_ = fingerprint("POST", f"{ticket_id}/comments", body.model_dump(mode="json"))
    return run_once(rt, who, idempotency_key, print_, perform)

