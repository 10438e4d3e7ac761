"""The outcomes dashboard: what deskhand did and how it went, per day over a chosen period, for the
tenant's accounts (one or all) and a category — from the outcome ledger (deskhand.responder.scores,
the figures `deskhand metrics` prints), drawn as inline SVG charts with the same figures in tables:

- decisions per day by route (auto-replied, drafted, routed to a person);
- automatic resolution, escalation, reopen and "didn't help" (failed) rates per day;
- first-response time per day, p50 and p95: the ticket's first event (created) → deskhand's public
  reply posted (an automatic reply, or a draft a reviewer approved in the console or API);
- CSAT where the helpdesk reports it, for tickets deskhand answered and tickets people answered,
  with the number of ratings beside each share;
- the promotion advice per category (deskhand.responder.advice).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from deskhand.api.auth import tenant_account_names
from deskhand.console import charts
from deskhand.console.pages import base
from deskhand.console.web import page, rt_of
from deskhand.responder.advice import advise
from deskhand.responder.outcomes import entries
from deskhand.responder.scores import summarise
from deskhand.runtime import Runtime
from deskhand.store import schema as t
from deskhand.store.store import now

router = APIRouter(prefix="/console", include_in_schema=False)
PERIODS = (7, 30, 90)
FEW_RATINGS = 30  # fewer ratings than this: the share is shown, marked as too few to read a trend
ANSWERED_BY_US = ("accepted", "edited")  # drafts whose reply was sent (by a reviewer, as is or edited)


def _aware(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0–100) by nearest rank; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def first_response_s(rt: Runtime, rows: list[dict[str, Any]]) -> dict[int, float]:
    """Decision id → seconds from the ticket's first event to deskhand's public reply being posted
    (only for decisions whose reply was posted)."""
    ids = [r["decision_id"] for r in rows]
    if not ids:
        return {}
    a, e = t.actions.c, t.events.c
    posted: dict[int, datetime] = {}
    first: dict[tuple[str, str], datetime] = {}
    with rt.store.engine.connect() as conn:
        for chunk in range(0, len(ids), 500):
            q = (select(a.decision_id, func.min(a.done_at)).where(
                a.decision_id.in_(ids[chunk:chunk + 500]), a.kind == "reply", a.status == "done",
                a.done_at.is_not(None)).group_by(a.decision_id))
            posted.update({int(d): at for d, at in conn.execute(q).all()})
        tickets = {(r["account"], r["ticket_id"]) for r in rows if r["decision_id"] in posted}
        for account in {acc for acc, _ in tickets}:
            wanted = [tid for acc, tid in tickets if acc == account]
            for chunk in range(0, len(wanted), 500):
                q = (select(e.ticket_id, func.min(func.coalesce(e.occurred_at, e.received_at)))
                     .where(e.account == account, e.ticket_id.in_(wanted[chunk:chunk + 500])).group_by(e.ticket_id))
                first.update({(account, tid): at for tid, at in conn.execute(q).all()})
    out = {}
    for r in rows:
        done, start = _aware(posted.get(r["decision_id"])), _aware(first.get((r["account"], r["ticket_id"])))
        if done is not None and start is not None and done >= start:
            out[r["decision_id"]] = (done - start).total_seconds()
    return out


def csat(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ratings of tickets deskhand answered vs tickets people answered, with counts: good share of
    all ratings (good | neutral | bad; neutral from Freshdesk's and JSM's wider scales). A rating is
    the ticket's: counted once per ticket (its latest), for deskhand when any entry of the ticket is
    deskhand's answer (a later decision on the same ticket, say routed to a person, does not count it
    again for people)."""
    tickets: dict[Any, tuple[bool, str]] = {}
    for i, r in enumerate(rows):
        if r.get("csat") not in ("good", "neutral", "bad") or r["mode"] == "shadow":
            continue
        ours = r["route"] == "auto_reply" or (r["route"] == "draft" and r["outcome"] in ANSWERED_BY_US)
        key = (r.get("account"), r["ticket_id"]) if r.get("ticket_id") is not None else i
        seen = tickets.get(key)
        tickets[key] = (ours or (seen is not None and seen[0]), r["csat"])
    groups: dict[str, list[str]] = {"deskhand": [], "people": []}
    for ours, rating in tickets.values():
        groups["deskhand" if ours else "people"].append(rating)
    return [{"who": who, "ratings": len(v), "good": v.count("good"),
             "share": round(v.count("good") / len(v), 4) if v else None, "few": len(v) < FEW_RATINGS}
            for who, v in groups.items()]


def _fmt_s(v: float) -> str:
    return f"{v / 3600:.1f} h" if v >= 3600 else f"{v / 60:.1f} min" if v >= 60 else f"{v:.0f} s"


def _pct(v: float) -> str:
    return f"{v:.0%}"


@router.get("/outcomes")
def outcomes(request: Request, account: str = "", category: str = "", days: int = 30) -> Response:
    ctx = base(request)
    rt, user = rt_of(request), ctx["user"]
    accounts = tenant_account_names(rt, user.tenant_id)
    chosen = [account] if account in accounts else accounts
    days = days if days in PERIODS else 30
    today = now().date()
    start = today - timedelta(days=days - 1)
    since = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    rows = [r for a in chosen for r in entries(rt.store, account=a, since=since)]
    categories = sorted({r["category"] for r in rows})
    if category:
        rows = [r for r in rows if r["category"] == category]
    labels = [(start + timedelta(days=i)).isoformat() for i in range(days)]
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_day[_aware(r["created_at"]).date().isoformat()].append(r)  # type: ignore[union-attr]
    daily = [{"day": d, **summarise(by_day.get(d, []))} for d in labels]
    frt = first_response_s(rt, [r for r in rows if r["mode"] != "shadow"])
    frt_day: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r["decision_id"] in frt:
            frt_day[_aware(r["created_at"]).date().isoformat()].append(frt[r["decision_id"]])  # type: ignore[union-attr]
    for d in daily:
        d["frt_p50"], d["frt_p95"], d["frt_n"] = (percentile(frt_day[d["day"]], 50),
                                                 percentile(frt_day[d["day"]], 95), len(frt_day[d["day"]]))
    by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_cat[r["category"]].append(r)
    all_frt = list(frt.values())
    figures = {
        "volume": charts.stacked_bars("Decisions per day by route", labels, {
            "auto-replied": [d["auto_replies"] for d in daily], "drafted": [d["drafts"] for d in daily],
            "routed to a person": [d["humans"] for d in daily]}),
        "rates": charts.lines("Rates per day", labels, {
            "automatic resolution": [d["automatic_resolution_rate"] for d in daily],
            "escalation": [d["escalation_rate"] for d in daily],
            "reopen": [d["reopen_rate"] for d in daily],
            "didn't help": [_failed_only(d) for d in daily]}, _pct, top=1.0),
        "frt": charts.lines("First-response time per day", labels, {
            "p50": [d["frt_p50"] for d in daily], "p95": [d["frt_p95"] for d in daily]}, _fmt_s),
    }
    advice = [a for name in chosen for a in advise(rt.store, name) if not category or a.category == category]
    return page(request, "outcomes.html", accounts=accounts, account=account if account in accounts else "",
                categories=categories, category=category, days=days, periods=PERIODS, daily=daily,
                total=summarise(rows), per_category=[(c, summarise(rs)) for c, rs in sorted(by_cat.items())],
                frt={"n": len(all_frt), "p50": percentile(all_frt, 50), "p95": percentile(all_frt, 95)},
                csat=csat(rows), few=FEW_RATINGS, figures=figures, advice=advice, fmt_s=_fmt_s,
                start=start, end=today, **ctx)


def _failed_only(d: dict[str, Any]) -> float | None:
    """Failed ("didn't help") share of settled automatic replies (the ledger's failed, without reopens)."""
    fr, rr = d["failed_resolution_rate"], d["reopen_rate"]
    return None if fr is None or rr is None else round(fr - rr, 4)

