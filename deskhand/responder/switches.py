"""Kill switches: manual (global, account, provider, category) and automatic.

A tripped switch caps the mode of everything it covers (draft unless said otherwise), says why, and
stays tripped until a human resets it. Automatic trips:
- quality: over a sliding window of settled automatic replies, the share that failed or were reopened
  passes the threshold (seed 5 %, with a minimum sample) → that category is demoted to draft (the
  account, when the bad outcomes span several categories);
- a burst of write errors from a provider → the account's provider is capped at draft;
- LLM spend over the hourly cap → the account is capped at draft.
Each automatic trip logs a structured alert and POSTs it to the configured webhook URL.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, and_, func, insert, or_, select, update

from deskhand.errors import ConfigError, NotFoundError
from deskhand.responder.modes import RANK, Mode, get_mode, parse_mode, set_mode
from deskhand.store import Store
from deskhand.store.db import new_id
from deskhand.store.store import now
from deskhand.store.tables_autonomy import autonomy_signals, kill_switches, outcomes

log = logging.getLogger(__name__)
SCOPES = ("global", "account", "provider", "category")
BAD = ("failed", "reopened")
AUTO_ACTOR = "deskhand:kill-switch"


@dataclass(frozen=True, slots=True)
class AutonomyConfig:
    """Per-account autonomy settings (account settings keys, all optional)."""

    autonomy_failure_threshold: float = 0.05  # failed + reopened share of settled automatic replies
    autonomy_min_sample: int = 10  # settled automatic replies needed before the rate counts
    autonomy_window: int = 50  # the last N settled automatic replies…
    autonomy_window_days: float = 7.0  # …within this many days
    write_error_burst: int = 5  # write errors from a provider…
    write_error_window_s: float = 600.0  # …within this many seconds
    llm_cost_cap_per_hour: float = 5.0  # USD
    alert_webhook_url: str = ""
    autonomy_auto_promote: bool = False  # let promotion advice change modes by itself

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> AutonomyConfig:
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in settings:
                continue
            raw, default = settings[f.name], getattr(cls(), f.name)
            try:
                if isinstance(default, bool):
                    values[f.name] = raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
                else:
                    values[f.name] = type(default)(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"account setting {f.name}={raw!r} is not a valid {type(default).__name__}") from exc
        cfg = cls(**values)
        if not cfg.alert_webhook_url:
            cfg = cls(**{**values, "alert_webhook_url": os.environ.get("DESKHAND_ALERT_WEBHOOK_URL", "")})
        return cfg


def _config(store: Store, account: str) -> AutonomyConfig:
    rec = store.find_account(account)
    return AutonomyConfig.from_settings(rec.settings if rec else {})


# -- manual --------------------------------------------------------------------------------------
def trip(
    store: Store,
    scope: str,
    *,
    reason: str,
    actor: str,
    account: str | None = None,
    provider: str | None = None,
    category: str | None = None,
    cap: Mode | str = Mode.DRAFT,
    automatic: bool = False,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
    conn: Connection | None = None,
) -> int:
    """Trip a switch; returns its id. Needed: account (account), provider (provider), category (category).
    With `conn`, in that transaction (the console writes its audit row beside it)."""
    if scope not in SCOPES:
        raise ConfigError(f"unknown switch scope {scope!r}: use one of {', '.join(SCOPES)}")
    need = {"account": account, "provider": provider, "category": category}.get(scope, "ok")
    if not need:
        raise ConfigError(f"a {scope} switch needs --{scope}")
    cap = parse_mode(cap) if isinstance(cap, str) else cap
    if not reason.strip():
        raise ConfigError("a kill switch needs a reason (--reason)")
    values = dict(scope=scope, account=account if scope != "global" else None, provider=provider,
                  category=category, cap=cap.value, reason=reason, automatic=automatic,
                  details=details or {}, tripped_by=actor, tripped_at=at or now())
    if conn is None:
        with store.transaction() as c:
            switch_id = new_id(c.execute(insert(kill_switches).values(**values)))
    else:
        switch_id = new_id(conn.execute(insert(kill_switches).values(**values)))
    log.warning("kill switch %s tripped scope=%s account=%s provider=%s category=%s cap=%s by=%s: %s",
                switch_id, scope, account, provider, category, cap.value, actor, reason)
    return switch_id


def reset(store: Store, switch_id: int, *, actor: str, reason: str | None = None,
          conn: Connection | None = None) -> dict[str, Any]:
    """Reset a tripped switch, keeping who and why; the switch as it was, with reset_by/reset_reason.
    Only a switch not reset yet is reset (a conditional UPDATE: two resets at once, one wins)."""
    if conn is None:
        with store.transaction() as c:
            return reset(store, switch_id, actor=actor, reason=reason, conn=c)
    why = (reason or "").strip()[:2000] or None
    row = conn.execute(select(kill_switches).where(kill_switches.c.id == switch_id)).first()
    if row is None:
        raise NotFoundError(f"no kill switch {switch_id}: see `deskhand switch list`")
    done = conn.execute(update(kill_switches).where(kill_switches.c.id == switch_id, kill_switches.c.reset_at.is_(None))
                        .values(reset_by=actor, reset_at=now(), reset_reason=why)).rowcount
    if row.reset_at is not None or done != 1:
        raise ConfigError(f"kill switch {switch_id} was already reset by {row.reset_by or 'someone else'}")
    log.warning("kill switch %s reset by %s: %s", switch_id, actor, why or "(no reason given)")
    return {**dict(row._mapping), "reset_by": actor, "reset_reason": why}


def list_switches(store: Store, *, include_reset: bool = False) -> list[dict[str, Any]]:
    q = select(kill_switches).order_by(kill_switches.c.id.desc())
    if not include_reset:
        q = q.where(kill_switches.c.reset_at.is_(None))
    with store.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(q).all()]


def cap_for(store: Store, account: str, provider: str, category: str | None) -> tuple[Mode, str] | None:
    """The lowest mode allowed by the tripped switches covering this ticket, and why (None: no switch)."""
    sw = kill_switches.c
    covers = or_(
        sw.scope == "global",
        and_(sw.scope == "account", sw.account == account),
        and_(sw.scope == "provider", sw.provider == provider, or_(sw.account.is_(None), sw.account == account)),
        and_(sw.scope == "category", sw.category == (category or ""), or_(sw.account.is_(None), sw.account == account)),
    )
    with store.engine.connect() as c:
        rows = c.execute(select(kill_switches).where(sw.reset_at.is_(None), covers)).all()
    if not rows:
        return None
    low = min(rows, key=lambda r: RANK[Mode(r.cap)])
    return Mode(low.cap), f"#{low.id} {low.scope}: {low.reason}"


# -- automatic -----------------------------------------------------------------------------------
def quality(store: Store, account: str, category: str | None, cfg: AutonomyConfig, at: datetime | None = None
            ) -> dict[str, Any]:
    """Failed-or-reopened share of the last settled automatic replies (category None: the account)."""
    since = (at or now()) - timedelta(days=cfg.autonomy_window_days)
    o = outcomes.c
    q = (
        select(o.outcome, o.category)
        .where(o.account == account, o.route == "auto_reply", o.outcome != "pending", o.settled_at >= since)
        .order_by(o.settled_at.desc(), o.id.desc())
        .limit(cfg.autonomy_window)
    )
    if category is not None:
        q = q.where(o.category == category)
    with store.engine.connect() as c:
        rows = c.execute(q).all()
    bad = [r for r in rows if r.outcome in BAD]
    n = len(rows)
    return {"n": n, "bad": len(bad), "rate": (len(bad) / n) if n else 0.0,
            "bad_categories": sorted({r.category for r in bad})}


def _active_auto(store: Store, scope: str, account: str, category: str | None = None,
                 provider: str | None = None) -> bool:
    sw = kill_switches.c
    q = select(func.count()).select_from(kill_switches).where(
        sw.reset_at.is_(None), sw.automatic.is_(True), sw.scope == scope, sw.account == account
    )
    if category is not None:
        q = q.where(sw.category == category)
    if provider is not None:
        q = q.where(sw.provider == provider)
    with store.engine.connect() as c:
        return bool(c.execute(q).scalar_one())


def evaluate(store: Store, account: str, category: str, *, at: datetime | None = None) -> int | None:
    """Trip (and demote) the category, else the account, when automatic replies fail too often."""
    cfg = _config(store, account)
    for scope, cat in (("category", category), ("account", None)):
        q = quality(store, account, cat, cfg, at)
        if q["n"] < cfg.autonomy_min_sample or q["rate"] <= cfg.autonomy_failure_threshold:
            continue
        if scope == "account" and len(q["bad_categories"]) < 2:
            continue  # one category's failures are that category's business
        if _active_auto(store, scope, account, category=cat):
            continue
        where = f"{account}/{cat}" if cat else account
        reason = (f"failed or reopened automatic replies {q['bad']}/{q['n']} = {q['rate']:.1%} over the last "
                  f"{q['n']} settled > {cfg.autonomy_failure_threshold:.1%} threshold in {where}")
        switch_id = trip(store, scope, account=account, category=cat, reason=reason, actor=AUTO_ACTOR,
                         automatic=True, details=q, at=at)
        current = get_mode(store, account, cat)
        if RANK[current.mode] > RANK[Mode.DRAFT]:
            set_mode(store, account, Mode.DRAFT, category=cat, actor=AUTO_ACTOR, reason=f"kill switch #{switch_id}")
        alert(cfg, "autonomy.demoted", reason, {"switch_id": switch_id, "account": account, "category": cat, **q})
        return switch_id
    return None


def note_write_error(store: Store, account: str, provider: str, detail: str, *, at: datetime | None = None
                     ) -> int | None:
    """Record a failed helpdesk write; a burst trips the account's provider switch."""
    stamp = at or now()
    cfg = _config(store, account)
    count = _signal_total(store, account, "write_error", detail, stamp, cfg.write_error_window_s, value=1.0)
    if count < cfg.write_error_burst or _active_auto(store, "provider", account, provider=provider):
        return None
    reason = f"{int(count)} write errors from {provider} within {cfg.write_error_window_s:.0f} s (last: {detail[:200]})"
    switch_id = trip(store, "provider", account=account, provider=provider, reason=reason, actor=AUTO_ACTOR,
                     automatic=True, details={"errors": count}, at=stamp)
    alert(cfg, "autonomy.write_errors", reason, {"switch_id": switch_id, "account": account, "provider": provider})
    return switch_id


def note_llm_cost(store: Store, account: str, provider: str, usd: float, *, at: datetime | None = None) -> int | None:
    """Record LLM spend; over the hourly cap trips the account switch."""
    stamp = at or now()
    cfg = _config(store, account)
    spent = _signal_total(store, account, "llm_cost", None, stamp, 3600.0, value=usd, provider=provider)
    if spent <= cfg.llm_cost_cap_per_hour or _active_auto(store, "account", account):
        return None
    reason = f"LLM spend ${spent:.2f} in the last hour > cap ${cfg.llm_cost_cap_per_hour:.2f}"
    switch_id = trip(store, "account", account=account, reason=reason, actor=AUTO_ACTOR, automatic=True,
                     details={"usd_last_hour": spent}, at=stamp)
    alert(cfg, "autonomy.cost_cap", reason, {"switch_id": switch_id, "account": account})
    return switch_id


def _signal_total(store: Store, account: str, kind: str, detail: str | None, at: datetime, window_s: float,
                  *, value: float, provider: str = "") -> float:
    s = autonomy_signals.c
    if not provider:
        rec = store.find_account(account)
        provider = rec.provider if rec else ""
    with store.transaction() as c:
        c.execute(insert(autonomy_signals).values(account=account, provider=provider, kind=kind, value=value,
                                                  detail=detail, at=at))
        total = c.execute(
            select(func.coalesce(func.sum(s.value), 0.0)).where(
                s.account == account, s.kind == kind, s.at > at - timedelta(seconds=window_s), s.at <= at
            )
        ).scalar_one()
    return float(total)


def alert(cfg: AutonomyConfig, kind: str, message: str, details: dict[str, Any]) -> bool:
    """A structured log line and, when configured, a POST to the alert webhook (True when delivered)."""
    body = {"alert": kind, "message": message, "details": details, "at": now().isoformat()}
    log.warning("ALERT %s", json.dumps(body, default=str))
    if not cfg.alert_webhook_url:
        return False
    try:
        resp = httpx.post(cfg.alert_webhook_url, json=json.loads(json.dumps(body, default=str)), timeout=5.0)
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        log.error("alert webhook %s failed: %s", cfg.alert_webhook_url.split("?")[0], exc.__class__.__name__)
        return False
    return True
