"""apply_decision: perform a decision's actions on the helpdesk, each exactly once.

Each action row moves planned → started → done. A crash between the provider call and `done`
leaves it `started`; the retry then looks at the ticket before acting again: a comment of ours with
the same text means the first attempt landed, so it is marked done instead of posted twice.
Status, tags and assignment are idempotent by nature and are simply re-applied. Two deliveries of
one decision racing (a redelivered job while the first still runs) are kept apart by a
compare-and-set on each action's start; a comment that is `started` but not on the ticket is left
to its worker until TAKEOVER_S, then taken over. A call that failed with a retryable error in
front of its worker (an outage) is marked `interrupted` (or `planned` again when it never left):
its retry looks at the ticket and performs it at once, without waiting for TAKEOVER_S.
A write the helpdesk accepts asynchronously (Front's 202 + ``message_uid``) is recorded with the
action (``result.accepted``) before its hook waits for it to appear; every retry hands that back to
the hook, which then only waits for the accepted write, however late it appears: never a second send.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from deskhand import outbound
from deskhand.errors import AuthError, ProviderError
from deskhand.faults import crash_point
from deskhand.model import Action, ActionKind
from deskhand.providers.client import ConnectionFailed
from deskhand.providers.oauth import NeedsReauth
from deskhand.queue.breaker import helpdesk_down
from deskhand.responder.switches import note_write_error
from deskhand.runtime import Runtime
from deskhand.store import ActionRecord

log = logging.getLogger(__name__)
COMMENT_KINDS = (ActionKind.REPLY.value, ActionKind.NOTE.value)
TAKEOVER_S = 120.0  # a started action older than this was abandoned by a crashed worker
INTERRUPTED = "interrupted"  # the call failed after it may have reached the helpdesk; no one performs it


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def apply_decision(rt: Runtime, decision_id: int) -> None:
    records = rt.store.actions_for(decision_id)
    if not records:
        return
    account = rt.store.get_account(records[0].account)
    connector = rt.connector(account)
    for rec in records:
        if rec.status in ("done", "failed"):
            continue
        unsure = rec.status in ("started", INTERRUPTED)
        accepted = _accepted(rec)  # the helpdesk took the write (asynchronously): never send it again
        if unsure and rec.kind in COMMENT_KINDS and _already_posted(rt, account, rec):
            rt.store.mark_action(rec.key, "done", result={"reconciled": True})
            log.info("action %s had landed before a crash; not posting again", rec.key)
            continue
        if rec.status == "started" and rec.kind in COMMENT_KINDS and accepted is None:
            _unless_abandoned(rec)  # (an accepted write is only waited for, which two may do at once)
        if not rt.store.start_action(rec):  # two deliveries of one decision racing: one performs
            log.info("action %s is being performed by another worker; leaving the rest to it", rec.key)
            return

        def note(info: dict[str, object], key: str = rec.key) -> None:
            rt.store.note_action(key, result={"accepted": _jsonable(info)})

        action = Action(kind=ActionKind(rec.kind), ticket_id=rec.ticket_id, key=rec.key, params=rec.params,
                        accepted=accepted, on_accepted=note)
        try:
            result = connector.perform(action)
        except ProviderError as exc:
            if not helpdesk_down(exc):  # an outage is the circuit breaker's, not a sign of bad writes
                note_write_error(rt.store, account.name, account.provider, f"{rec.kind}: {exc}"[:500])
            if isinstance(exc, AuthError):
                outbound.needs_reauth(rt, account.tenant_id, account.name, account.provider, str(exc))
            if isinstance(exc, NeedsReauth):  # nothing landed: the action waits for the reconnection
                rt.store.mark_action(rec.key, "planned", error=str(exc)[:2000])
                raise
            if exc.retryable:
                # this worker saw the call end: nobody is performing it, so the retry need not wait
                # TAKEOVER_S; a request that never left is simply planned again, one that may have
                # landed is `interrupted` (the retry looks for it on the ticket before posting again)
                never_sent = isinstance(exc, ConnectionFailed) and not exc.sent
                rt.store.mark_action(rec.key, "planned" if never_sent else INTERRUPTED, error=str(exc)[:2000])
                raise
            rt.store.mark_action(rec.key, "failed", error=str(exc)[:2000])
            log.error("action %s failed for good: %s", rec.key, exc)
            continue
        crash_point("after_provider_call")
        rt.store.mark_action(rec.key, "done", result=_jsonable(result))
        outbound.action_performed(rt, account.tenant_id, account.name, rec.ticket_id, rec.kind, rec.key,
                                  _jsonable(result))


def _accepted(rec: ActionRecord) -> dict[str, object] | None:
    """What the helpdesk answered when it accepted this action asynchronously (recorded by the
    attempt that sent it, before it waited for the write to land), else None."""
    found = (rec.result or {}).get("accepted") if isinstance(rec.result, dict) else None
    return dict(found) if isinstance(found, dict) else None


def _unless_abandoned(rec: ActionRecord) -> None:
    """A `started` action that has not landed is either in flight in another worker or was left by
    a crashed one: take it over only once it is older than TAKEOVER_S, else retry this job later."""
    started = rec.started_at or datetime.now(UTC)
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    age = (datetime.now(UTC) - started).total_seconds()
    if age < TAKEOVER_S:
        raise ProviderError(
            f"action {rec.key} was started {age:.0f} s ago, maybe by another worker still performing it; "
            "retrying once it has landed or was abandoned",
            retry_after=TAKEOVER_S - age + 1,
        )


def _already_posted(rt: Runtime, account: object, rec: ActionRecord) -> bool:
    from deskhand.store import AccountRecord

    assert isinstance(account, AccountRecord)
    ident = rt.identity(account)
    body = _norm(str(rec.params.get("body", "")))
    for c in rt.connector(account).list_comments(rec.ticket_id):
        if c.author_id == ident.own_id and _norm(c.body) == body:
            return True
    return False


def _jsonable(result: object) -> dict[str, object]:
    if isinstance(result, dict):
        return {str(k): v if isinstance(v, str | int | float | bool | None) else str(v) for k, v in result.items()}
    return {"result": str(result)}
