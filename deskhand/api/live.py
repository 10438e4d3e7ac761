"""The API's side of the helpdesks: connectors that never make a caller wait long, the conversions
from the unified vocabulary (deskhand.model) to the API's models, and write-through to the replica.

A throttled provider call is retried only when the provider asks for at most API_MAX_WAIT_S; a longer
wait comes back to the caller at once as 429 with Retry-After (deskhand.api.problems).
"""

from __future__ import annotations

import threading
import time

from deskhand import model
from deskhand.api import models as m
from deskhand.providers import Connector, open_connector
from deskhand.runtime import Runtime
from deskhand.store import AccountRecord
from deskhand.sync import replica

API_MAX_WAIT_S = 2.0


def unified_id(account: str, remote_id: str) -> str:
    return f"{account}:{remote_id}"


class LiveConnectors:
    """One connector per account for API calls (the account's shared budgets, short waits)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._lock = threading.Lock()
        self._open: dict[str, tuple[int, Connector]] = {}

    def get(self, account: AccountRecord) -> Connector:
        version = hash(repr((sorted(account.config.items()), sorted((account.overrides or {}).items()))))
        with self._lock:
            held = self._open.get(account.name)
            if held and held[0] == version:
                return held[1]
            if held:
                held[1].close()
            conn = open_connector(account.provider, account.name, account.config, overrides=account.overrides,
                                  limiter=self.rt.limiter(account), max_retry_after=API_MAX_WAIT_S,
                                  oauth_tokens=self.rt.oauth_tokens)
            self._open[account.name] = (version, conn)
            return conn

    def close(self) -> None:
        with self._lock:
            for _, conn in self._open.values():
                conn.close()
            self._open.clear()


def ticket(account: AccountRecord, t: model.Ticket, *, remote_data: bool = False) -> m.Ticket:
    return m.Ticket(
        id=unified_id(account.name, t.id), remote_id=t.id, account=account.name, provider=account.provider,
        created_at=t.created_at, updated_at=t.updated_at, remote_data=dict(t.raw) if remote_data else None,
        subject=t.subject, description=t.description, status=t.status.value, raw_status=t.raw_status,
        priority=t.priority.value if t.priority else None, requester_id=t.requester.id if t.requester else None,
        assignee_id=t.assignee_id, team_id=t.team_id, tags=list(t.tags), url=t.url,
    )


def comment(account: AccountRecord, c: model.Comment, *, remote_data: bool = False) -> m.Comment:
    return m.Comment(
        id=unified_id(account.name, c.id), remote_id=c.id, account=account.name, provider=account.provider,
        created_at=c.created_at, ticket_id=unified_id(account.name, c.ticket_id), body=c.body,
        visibility=c.visibility.value, author_id=c.author_id, remote_data=dict(c.raw) if remote_data else None,
    )


def person(account: AccountRecord, u: model.User) -> m.Person:
    return m.Person(id=unified_id(account.name, u.id), remote_id=u.id, account=account.name,
                    provider=account.provider, name=u.name, email=u.email, role=u.role.value)


def team(account: AccountRecord, t: model.Team) -> m.Team:
    return m.Team(id=unified_id(account.name, t.id), remote_id=t.id, account=account.name,
                  provider=account.provider, name=t.name)


def fetch_ticket(rt: Runtime, conn: Connector, account: AccountRecord, remote_id: str) -> model.Ticket:
    """The ticket read live with its comments, written through to the replica."""
    t = conn.get_ticket(remote_id, with_comments=True)
    write_through(rt, account, t)
    return t


def write_through(rt: Runtime, account: AccountRecord, t: model.Ticket) -> None:
    with rt.store.transaction() as c:
        replica.put_ticket(c, account.name, account.tenant_id, t, t.comments, time.time())

