"""The store: named, plain SQL over the schema. One instance per process, thread-safe.

Functions that must share a transaction with the queue (the gateway's "record the event and enqueue
its job, then acknowledge") take a Connection; the rest open their own transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from deskhand.errors import NotFoundError
from deskhand.model import DEFAULT_TENANT, Action, Decision, Event, EventKind
from deskhand.settings import Settings
from deskhand.store import schema as t
from deskhand.store.db import insert_or_skip, new_id, open_engine
from deskhand.store.secrets import SecretBox


def now() -> datetime:
    return datetime.now(UTC)


def _event_row(tenant_id: str, event: Event, received_at: datetime) -> dict[str, Any]:
    return dict(
        tenant_id=tenant_id,
        account=event.account,
        provider=event.provider,
        kind=event.kind.value,
        ticket_id=event.ticket_id,
        delivery_id=event.delivery_id,
        comment_id=event.comment_id,
        author_id=event.author_id,
        occurred_at=event.occurred_at,
        received_at=received_at,
        payload=event.payload,
    )


@dataclass(frozen=True, slots=True)
class AccountRecord:
    name: str
    tenant_id: str
    provider: str
    config: dict[str, Any]  # decrypted connection values: never log
    settings: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)  # of the definition's arguments (no secrets)

    def redacted(self, secret_fields: Sequence[str]) -> dict[str, Any]:
        return {k: ("***" if k in secret_fields else v) for k, v in self.config.items()}


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    tenant_id: str
    event: Event
    received_at: datetime


@dataclass(frozen=True, slots=True)
class ActionRecord:
    key: str
    decision_id: int
    account: str
    ticket_id: str
    seq: int
    kind: str
    params: dict[str, Any]
    status: str
    result: dict[str, Any] | None
    error: str | None
    started_at: datetime | None
    done_at: datetime | None


class Store:
    def __init__(self, engine: Engine, box: SecretBox) -> None:
        self.engine = engine
        self.box = box

    @classmethod
    def open(cls, settings: Settings | None = None) -> Store:
        s = settings or Settings.from_env()
        if s.database_is_default:
            s.data_folder().mkdir(mode=0o700, parents=True, exist_ok=True)
        return cls(open_engine(s.database_url), SecretBox.open(s.secret_key, s.data_dir()))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- tenants and accounts -------------------------------------------------------------
    def ensure_tenant(self, tenant_id: str = DEFAULT_TENANT, name: str | None = None) -> None:
        with self.transaction() as c:
            if c.execute(select(t.tenants.c.id).where(t.tenants.c.id == tenant_id)).first() is None:
                c.execute(insert(t.tenants).values(id=tenant_id, name=name or tenant_id, created_at=now()))

    def save_account(
        self,
        name: str,
        provider: str,
        config: dict[str, Any],
        *,
        tenant_id: str = DEFAULT_TENANT,
        settings: dict[str, Any] | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        """Create or replace an account (its connection values are sealed). ``settings`` are merged
        into the stored ones; a None value removes that setting (back to its default)."""
        self.ensure_tenant(tenant_id)
        sealed = self.box.seal(config)
        with self.transaction() as c:
            old = c.execute(select(t.accounts.c.settings).where(t.accounts.c.name == name)).first()
            merged = {k: v for k, v in {**(old.settings if old else {}), **(settings or {})}.items() if v is not None}
            values = dict(
                tenant_id=tenant_id,
                provider=provider,
                config_sealed=sealed,
                settings=merged,
                updated_at=now(),
                **({"overrides": overrides} if overrides is not None else {}),
            )
            if old is None:
                c.execute(insert(t.accounts).values(name=name, created_at=now(), **values))
            else:
                c.execute(update(t.accounts).where(t.accounts.c.name == name).values(**values))

    def set_overrides(self, name: str, overrides: dict[str, Any]) -> None:
        """Replace an account's overrides of its definition's arguments (checked by the caller)."""
        with self.transaction() as c:
            res = c.execute(update(t.accounts).where(t.accounts.c.name == name)
                            .values(overrides=overrides, updated_at=now()))
        if res.rowcount == 0:
            raise NotFoundError(f"no account named {name!r}: see `deskhand accounts list`")

    def remove_account(self, name: str) -> None:
        """Forget an account, its connection values, its autonomy modes and its trained taxonomy, so that
        a new account of the same name starts afresh (never in a mode nobody chose for it); its events,
        decisions, outcomes and audit trail stay as history."""
        from deskhand.store.tables_autonomy import autonomy_modes
        from deskhand.store.tables_llm import taxonomy_models
        from deskhand.store.tables_oauth import oauth_tokens

        with self.transaction() as c:
            res = c.execute(delete(t.accounts).where(t.accounts.c.name == name))
            if res.rowcount == 0:
                raise NotFoundError(f"no account named {name!r}: see `deskhand accounts list`")
            c.execute(delete(autonomy_modes).where(autonomy_modes.c.account == name))
            c.execute(delete(oauth_tokens).where(oauth_tokens.c.account == name))  # its sealed OAuth tokens
            c.execute(delete(taxonomy_models).where(taxonomy_models.c.account == name))

    def get_account(self, name: str) -> AccountRecord:
        with self.engine.connect() as c:
            row = c.execute(select(t.accounts).where(t.accounts.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no account named {name!r}: see `deskhand accounts list`")
        return self._account(row)

    def find_account(self, name: str) -> AccountRecord | None:
        try:
            return self.get_account(name)
        except NotFoundError:
            return None

    def list_accounts(self) -> list[AccountRecord]:
        with self.engine.connect() as c:
            rows = c.execute(select(t.accounts).order_by(t.accounts.c.name)).all()
        return [self._account(r) for r in rows]

    def _account(self, row: Any) -> AccountRecord:
        return AccountRecord(
            name=row.name,
            tenant_id=row.tenant_id,
            provider=row.provider,
            config=self.box.unseal(row.config_sealed),
            settings=dict(row.settings or {}),
            overrides=dict(row.overrides or {}),
        )

    # -- events ---------------------------------------------------------------------------
    def record_event(self, conn: Connection, tenant_id: str, event: Event) -> int | None:
        """Insert an event; None when this delivery was already recorded (a duplicate)."""
        row = conn.execute(
            insert_or_skip(conn, t.events, "account", "delivery_id", returning=t.events.c.id),
            _event_row(tenant_id, event, now()),
        ).first()
        return None if row is None else int(row[0])  # no row: a duplicate delivery

    def record_events(self, conn: Connection, rows: Sequence[tuple[str, Event]]) -> list[int | None]:
        """Insert (tenant, event) rows in one multi-row statement; each one's new id, or None for a
        duplicate delivery (recorded before, or earlier in `rows`)."""
        if not rows:
            return []
        received = now()
        returning = (t.events.c.id, t.events.c.account, t.events.c.delivery_id)
        stmt = insert_or_skip(conn, t.events, "account", "delivery_id", returning=returning)
        result = conn.execute(stmt, [_event_row(tenant_id, event, received) for tenant_id, event in rows])
        new = {(r.account, r.delivery_id): int(r.id) for r in result}
        return [new.pop((event.account, event.delivery_id), None) for _, event in rows]

    def get_event(self, event_id: int) -> StoredEvent:
        with self.engine.connect() as c:
            row = c.execute(select(t.events).where(t.events.c.id == event_id)).first()
        if row is None:
            raise NotFoundError(f"no event {event_id}")
        return _stored_event(row)

    def list_events(self, *, account: str | None = None, limit: int = 100) -> list[StoredEvent]:
        q = select(t.events).order_by(t.events.c.id.desc()).limit(limit)
        if account:
            q = q.where(t.events.c.account == account)
        with self.engine.connect() as c:
            return [_stored_event(r) for r in c.execute(q).all()]

    # -- decisions and actions ------------------------------------------------------------
    def save_decision(
        self,
        conn: Connection,
        *,
        tenant_id: str,
        account: str,
        event_id: int,
        ticket_id: str,
        decision: Decision,
        evidence: dict[str, Any],
        actions: Sequence[Action],
    ) -> int:
        triage = decision.triage
        res = conn.execute(
            insert(t.decisions).values(
                tenant_id=tenant_id,
                account=account,
                event_id=event_id,
                ticket_id=ticket_id,
                route=decision.route.value,
                category=triage.category if triage else None,
                urgency=triage.urgency.value if triage else None,
                confidence=decision.confidence,
                rules=list(decision.rules),
                reasons=list(decision.reasons),
                evidence=evidence,
                reply=decision.reply,
                created_at=now(),
            )
        )
        decision_id = new_id(res)
        for seq, action in enumerate(actions):
            conn.execute(
                insert(t.actions).values(
                    key=action.key,
                    decision_id=decision_id,
                    account=account,
                    ticket_id=action.ticket_id,
                    seq=seq,
                    kind=action.kind.value,
                    params=action.params,
                    status="planned",
                )
            )
        return decision_id

    def decision_for_event(self, event_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(select(t.decisions).where(t.decisions.c.event_id == event_id)).first()
        return dict(row._mapping) if row else None

    def get_decision(self, decision_id: int) -> dict[str, Any]:
        with self.engine.connect() as c:
            row = c.execute(select(t.decisions).where(t.decisions.c.id == decision_id)).first()
        if row is None:
            raise NotFoundError(f"no decision {decision_id}: see `deskhand decisions list`")
        return dict(row._mapping)

    def list_decisions(
        self, *, account: str | None = None, ticket_id: str | None = None, limit: int = 100,
        without_routes: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        q = select(t.decisions).order_by(t.decisions.c.id.desc()).limit(limit)
        if without_routes:
            q = q.where(t.decisions.c.route.not_in(list(without_routes)))
        if account:
            q = q.where(t.decisions.c.account == account)
        if ticket_id:
            q = q.where(t.decisions.c.ticket_id == ticket_id)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q).all()]

    def actions_for(self, decision_id: int) -> list[ActionRecord]:
        q = select(t.actions).where(t.actions.c.decision_id == decision_id).order_by(t.actions.c.seq)
        with self.engine.connect() as c:
            return [ActionRecord(**dict(r._mapping)) for r in c.execute(q).all()]

    def mark_action(self, key: str, status: str, **values: Any) -> None:
        stamp = {"started_at": now()} if status == "started" else {}
        if status in ("done", "failed"):
            stamp = {"done_at": now()}
        with self.transaction() as c:
            c.execute(
                update(t.actions).where(t.actions.c.key == key).values(status=status, **stamp, **values)
            )

    def note_action(self, key: str, **values: Any) -> None:
        """Record values of an action in flight (its `result` so far) without changing its status."""
        with self.transaction() as c:
            c.execute(update(t.actions).where(t.actions.c.key == key).values(**values))

    def start_action(self, rec: ActionRecord) -> bool:
        """Take an action to perform it: compare-and-set to `started` only if its status and
        started_at are still what `rec` saw. False when another worker took it first."""
        seen = t.actions.c.started_at.is_(None) if rec.started_at is None else t.actions.c.started_at == rec.started_at
        with self.transaction() as c:
            res = c.execute(
                update(t.actions)
                .where(t.actions.c.key == rec.key, t.actions.c.status == rec.status, seen)
                .values(status="started", started_at=now())
            )
        return res.rowcount == 1

    # -- knowledge ------------------------------------------------------------------------
    def kb_hashes(self, tenant_id: str) -> dict[str, str]:
        q = select(t.kb_articles.c.source_id, t.kb_articles.c.content_hash).where(
            t.kb_articles.c.tenant_id == tenant_id
        )
        with self.engine.connect() as c:
            return {r.source_id: r.content_hash for r in c.execute(q).all()}

    def put_article(
        self,
        tenant_id: str,
        *,
        source_id: str,
        title: str,
        url: str | None,
        content_hash: str,
        chunks: Sequence[dict[str, Any]],
    ) -> None:
        """Replace one article and its chunks (each chunk: kind, title, heading, text, url)."""
        with self.transaction() as c:
            self._delete_article(c, tenant_id, source_id)
            c.execute(
                insert(t.kb_articles).values(
                    tenant_id=tenant_id,
                    source_id=source_id,
                    title=title,
                    url=url,
                    content_hash=content_hash,
                    updated_at=now(),
                )
            )
            for i, ch in enumerate(chunks):
                c.execute(
                    insert(t.kb_chunks).values(tenant_id=tenant_id, source_id=source_id, ordinal=i, **ch)
                )
            self._bump_kb_version(c, tenant_id)

    def remove_article(self, tenant_id: str, source_id: str) -> bool:
        """Remove one article and its chunks; False when there was no such article."""
        with self.transaction() as c:
            return self._delete_article(c, tenant_id, source_id)

    @staticmethod
    def _delete_article(c: Connection, tenant_id: str, source_id: str) -> bool:
        removed = 0
        for table in (t.kb_chunks, t.kb_articles):
            res = c.execute(delete(table).where(table.c.tenant_id == tenant_id, table.c.source_id == source_id))
            removed = res.rowcount
        if removed:
            Store._bump_kb_version(c, tenant_id)
        return bool(removed)

    @staticmethod
    def _bump_kb_version(c: Connection, tenant_id: str) -> None:
        from sqlalchemy.dialects import postgresql, sqlite

        from deskhand.store.tables_kb import kb_versions

        dialect = postgresql if c.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(kb_versions).values(tenant_id=tenant_id, version=1)
        c.execute(stmt.on_conflict_do_update(index_elements=[kb_versions.c.tenant_id],
                                             set_={"version": kb_versions.c.version + 1}))

    def list_articles(self, tenant_id: str) -> list[dict[str, Any]]:
        q = (
            select(t.kb_articles)
            .where(t.kb_articles.c.tenant_id == tenant_id)
            .order_by(t.kb_articles.c.source_id)
        )
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q).all()]

    def chunks(self, tenant_id: str, *, sources: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The tenant's chunks in (source, ordinal) order; with ``sources``, those articles' only."""
        q = (
            select(t.kb_chunks)
            .where(t.kb_chunks.c.tenant_id == tenant_id)
            .order_by(t.kb_chunks.c.source_id, t.kb_chunks.c.ordinal)
        )
        with self.engine.connect() as c:
            if sources is None:
                return [dict(r._mapping) for r in c.execute(q).all()]
            wanted = sorted(set(sources))
            return [  # in batches: a database bounds the parameters of one statement
                dict(r._mapping)
                for start in range(0, len(wanted), 500)
                for r in c.execute(q.where(t.kb_chunks.c.source_id.in_(wanted[start : start + 500]))).all()
            ]

    def kb_version(self, tenant_id: str) -> int:
        """Changes whenever the tenant's knowledge changes (cache key for indexes): one row, moved in the
        transaction of every article stored or removed (0 before the first)."""
        from deskhand.store.tables_kb import kb_versions

        with self.engine.connect() as c:
            found = c.execute(select(kb_versions.c.version).where(kb_versions.c.tenant_id == tenant_id)).scalar()
        return int(found or 0)


def _stored_event(row: Any) -> StoredEvent:
    ev = Event(
        provider=row.provider,
        account=row.account,
        kind=EventKind(row.kind),
        ticket_id=row.ticket_id,
        delivery_id=row.delivery_id,
        occurred_at=row.occurred_at,
        comment_id=row.comment_id,
        author_id=row.author_id,
        payload=row.payload,
    )
    return StoredEvent(id=row.id, tenant_id=row.tenant_id, event=ev, received_at=row.received_at)
