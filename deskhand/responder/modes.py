"""Autonomy modes per account and category: off → shadow → draft → canary → auto.

The store is the source of truth: a row per (account, category), category "*" being the account's
default; an account without rows is in `draft`. Every change is audited (who, when, from → to).
`gate()` applies the mode (capped by any tripped kill switch) to a decision after `decide()` and
before `plan()`: it may demote an automatic reply to a draft, or keep the decision while writing
nothing (shadow).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select, update

from deskhand.errors import ConfigError
from deskhand.model import Decision, Route, Ticket
from deskhand.store import AccountRecord, Store, StoredEvent
from deskhand.store.store import now
from deskhand.store.tables_autonomy import ANY, autonomy_audit, autonomy_modes


class Mode(StrEnum):
    OFF = "off"  # deskhand does nothing for these tickets
    SHADOW = "shadow"  # decide and record; write nothing to the helpdesk
    DRAFT = "draft"  # internal notes only
    CANARY = "canary"  # automatic replies for a share of eligible tickets, drafts for the rest
    AUTO = "auto"


RANK = {m: i for i, m in enumerate(Mode)}
DEFAULT_MODE = Mode.DRAFT
DEFAULT_CANARY_SHARE = 0.10


def lower(a: Mode, b: Mode) -> Mode:
    return a if RANK[a] <= RANK[b] else b


def parse_mode(value: str) -> Mode:
    try:
        return Mode(value.strip().lower())
    except ValueError as exc:
        raise ConfigError(f"unknown mode {value!r}: use one of {', '.join(m.value for m in Mode)}") from exc


@dataclass(frozen=True, slots=True)
class ModeSetting:
    account: str
    category: str  # "*" = account default
    mode: Mode
    canary_share: float
    updated_by: str
    updated_at: datetime | None
    inherited: bool = False  # True when this category has no row of its own

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "category": self.category,
            "mode": self.mode.value,
            "canary_share": self.canary_share,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "inherited": self.inherited,
        }


def _setting(row: Any, *, category: str | None = None) -> ModeSetting:
    return ModeSetting(
        account=row.account,
        category=category or row.category,
        mode=Mode(row.mode),
        canary_share=float(row.canary_share),
        updated_by=row.updated_by,
        updated_at=row.updated_at,
        inherited=category is not None and category != row.category,
    )


def get_mode(store: Store, account: str, category: str | None = None) -> ModeSetting:
    """The mode in force for `account` (and `category`): its own row, else the account's, else draft."""
    wanted = [category, ANY] if category and category != ANY else [ANY]
    q = select(autonomy_modes).where(autonomy_modes.c.account == account, autonomy_modes.c.category.in_(wanted))
    with store.engine.connect() as c:
        rows = {r.category: r for r in c.execute(q).all()}
    for cat in wanted:
        if cat in rows:
            return _setting(rows[cat], category=category or ANY)
    return ModeSetting(account, category or ANY, DEFAULT_MODE, DEFAULT_CANARY_SHARE, "default", None, True)


def list_modes(store: Store, account: str) -> list[ModeSetting]:
    q = select(autonomy_modes).where(autonomy_modes.c.account == account).order_by(autonomy_modes.c.category)
    with store.engine.connect() as c:
        rows = [_setting(r) for r in c.execute(q).all()]
    if not any(r.category == ANY for r in rows):
        rows.insert(0, get_mode(store, account))
    return rows


def set_mode(
    store: Store,
    account: str,
    mode: Mode | str,
    *,
    actor: str,
    category: str | None = None,
    canary_share: float | None = None,
    reason: str | None = None,
    conn: Connection | None = None,
) -> ModeSetting:
    """Set a mode (audited). `category` None sets the account default."""
    mode = parse_mode(mode) if isinstance(mode, str) else mode
    if canary_share is not None and not 0.0 <= canary_share <= 1.0:
        raise ConfigError(f"canary share {canary_share} must be between 0 and 1")
    cat = category or ANY
    if conn is None:
        with store.transaction() as c:
            return set_mode(store, account, mode, actor=actor, category=category,
                            canary_share=canary_share, reason=reason, conn=c)
    key = (autonomy_modes.c.account == account, autonomy_modes.c.category == cat)
    old = conn.execute(select(autonomy_modes).where(*key)).first()
    share = canary_share if canary_share is not None else (old.canary_share if old else DEFAULT_CANARY_SHARE)
    values = dict(mode=mode.value, canary_share=share, updated_by=actor, updated_at=now())
    if old is None:
        conn.execute(insert(autonomy_modes).values(account=account, category=cat, **values))
    else:
        conn.execute(update(autonomy_modes).where(*key).values(**values))
    before = old.mode if old else None
    conn.execute(
        insert(autonomy_audit).values(
            account=account, category=cat, from_mode=before, to_mode=mode.value, actor=actor,
            reason=reason if reason else (f"canary share {share:.0%}" if mode is Mode.CANARY else None), at=now(),
        )
    )
    return ModeSetting(account, cat, mode, share, actor, values["updated_at"])  # type: ignore[arg-type]


def history(store: Store, account: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    q = select(autonomy_audit).order_by(autonomy_audit.c.id.desc()).limit(limit)
    if account:
        q = q.where(autonomy_audit.c.account == account)
    with store.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(q).all()]


def canary_bucket(account: str, ticket_id: str) -> float:
    """A stable number in [0, 1) per ticket: the ticket is in a canary of share s iff bucket < s."""
    digest = hashlib.sha256(f"{account}\x00{ticket_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True, slots=True)
class Gate:
    decision: Decision  # the decision as it will be stored and planned
    mode: Mode  # the effective mode (after kill switches)
    writes: bool  # False: plan nothing (shadow / off)


def gate(decision: Decision, setting: ModeSetting, *, ticket_id: str, cap: tuple[Mode, str] | None = None) -> Gate:
    """Apply the mode in `setting`, lowered to `cap` (a tripped kill switch: mode, why), to `decision`."""
    mode = setting.mode
    why_cap = ""
    if cap is not None and RANK[cap[0]] < RANK[mode]:
        mode, why_cap = cap[0], f" (kill switch: {cap[1]})"
    if decision.route is Route.IGNORE:
        return Gate(decision, mode, True)
    where = f"{setting.account}/{setting.category}"
    if mode is Mode.OFF:
        return Gate(_amend(decision, Route.IGNORE, f"autonomy mode off for {where}{why_cap}"), mode, False)
    if mode is Mode.SHADOW:
        return Gate(_amend(decision, decision.route, f"shadow mode for {where}{why_cap}: recorded, nothing written"),
                    mode, False)
    if decision.route is not Route.AUTO_REPLY or mode is Mode.AUTO:
        return Gate(decision, mode, True)
    if mode is Mode.CANARY:
        bucket = canary_bucket(setting.account, ticket_id)
        if bucket < setting.canary_share:
            note = f"canary for {where}: ticket in the {setting.canary_share:.0%} share answered automatically"
            return Gate(_amend(decision, Route.AUTO_REPLY, note), mode, True)
        note = f"canary for {where}: ticket outside the {setting.canary_share:.0%} share, drafted instead"
        return Gate(_amend(decision, Route.DRAFT, note), mode, True)
    return Gate(_amend(decision, Route.DRAFT, f"mode {mode.value} for {where}{why_cap}: auto-reply drafted instead"),
                mode, True)


def _amend(decision: Decision, route: Route, reason: str) -> Decision:
    return dataclasses.replace(decision, route=route, reasons=(*decision.reasons, reason))


def apply_autonomy(store: Store, account: AccountRecord, decision: Decision, *, stored: StoredEvent,
                   ticket: Ticket) -> Gate:
    """Loop safety, then the mode in force for the decision's category capped by kill switches."""
    from deskhand.responder.loopguard import store_reason
    from deskhand.responder.switches import cap_for

    if decision.route is not Route.IGNORE:
        why = store_reason(store, stored, ticket)
        if why:
            return Gate(_amend(decision, Route.IGNORE, why), DEFAULT_MODE, True)
    category = decision.triage.category if decision.triage else None
    setting = get_mode(store, account.name, category)
    return gate(decision, setting, ticket_id=ticket.id, cap=cap_for(store, account.name, account.provider, category))
