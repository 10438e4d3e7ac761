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
    """One connector per account for API calls (the account's shared budgets, short waits), and the
    accounts as last read, for `ttl_s` seconds (`account`): a burst of proxied calls costs one read and
    one decryption of the account, not one each; a change of its credentials is seen within `ttl_s`."""

    def __init__(self, rt: Runtime, ttl_s: float = 2.0, max_names: int = 10_000) -> None:
        self.rt, self.ttl_s, self.max_names = rt, ttl_s, max_names
        self._lock = threading.Lock()
        self._open: dict[str, tuple[int, Connector]] = {}
        self._accounts: dict[str, tuple[float, AccountRecord]] = {}

    def account(self, name: str) -> AccountRecord | None:
        """The account `name` as read at most `ttl_s` ago (None: there is none; not remembered, so made-up
        names cannot grow the cache)."""
        now = time.monotonic()
        hit = self._accounts.get(name)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        found = self.rt.store.find_account(name)
        with self._lock:
            if found is None:
                self._accounts.pop(name, None)
            else:
                if len(self._accounts) >= self.max_names:
                    self._accounts.clear()
                self._accounts[name] = (now, found)
        return found

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

