"""The controls page: autonomy mode per account and category (off, shadow, draft, canary with its
share, auto) and the account's thresholds, changed by admins with a reason; the promotion advice
beside them; and the audit page (who changed what, when, old → new, why).

Every change calls the same functions as the CLI (`deskhand policy set`, `connect --setting`) and
writes its audit row in the same transaction. Viewers and reviewers see; only admins change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from deskhand import audit
from deskhand.account_settings import change, effective
from deskhand.api.auth import tenant_account_names
from deskhand.console.pages import base
from deskhand.console.web import ConsoleError, Form, csrf_checked, login, need, page, redirect, rt_of
from deskhand.errors import DeskhandError
from deskhand.responder.advice import advise
from deskhand.responder.modes import Mode, get_mode, list_modes, set_mode
from deskhand.store.tables_autonomy import ANY, autonomy_audit

router = APIRouter(prefix="/console", include_in_schema=False)
MODES = [m.value for m in Mode]
THRESHOLDS = {  # the settings shown and changed here: name → what it does
    "auto_threshold": "confidence at or above which a reply may be sent automatically",
    "draft_threshold": "confidence at or above which a draft is written (below: a human)",
    "autonomy_failure_threshold": "failed-or-reopened share of automatic replies that trips the kill switch",
    "autonomy_min_sample": "settled automatic replies needed before that share counts",
    "llm_cost_cap_per_hour": "LLM spend (USD) per hour that trips the account's kill switch",
}


def _account(request: Request, tenant_id: str, name: str) -> str:
    if name not in tenant_account_names(rt_of(request), tenant_id):
        raise ConsoleError(404, f"no account {name!r} in your tenant")
    return name


def _categories(request: Request, account: str) -> list[str]:
    from deskhand.cli.checks import categories  # the categories triage can give (seed + trained taxonomy)

    return categories(rt_of(request).store, account)


@router.get("/controls")
def controls(request: Request, account: str = "", error: str = "", status: int = 200) -> Response:
    ctx = base(request)
    rt, user = rt_of(request), ctx["user"]
    accounts = tenant_account_names(rt, user.tenant_id)
    chosen = account if account in accounts else (accounts[0] if accounts else "")
    data: dict[str, Any] = {"modes": [], "thresholds": [], "advice": [], "categories": [], "audit": []}
    if chosen:
        rec = rt.store.get_account(chosen)
        shown = {e.name: e for e in effective(rec.settings)}
        data = {
            "modes": list_modes(rt.store, chosen),
            "thresholds": [(name, shown[name], help) for name, help in THRESHOLDS.items()],
            "advice": advise(rt.store, chosen),
            "categories": _categories(request, chosen),
            "audit": audit.entries(rt.store.engine, user.tenant_id, account=chosen, limit=20),
        }
    return page(request, "controls.html", status, accounts=accounts, account=chosen, mode_names=MODES,
                error=error, **data, **ctx)


@router.post("/controls/mode")
def change_mode(request: Request, posted: Form) -> Response:
    user, session = login(request)
    fields = csrf_checked(request, posted, session)
    need(user, "admin")
    account = _account(request, user.tenant_id, fields.get("account", ""))
    rt, actor = rt_of(request), f"console:{user.username}"
    category, reason = fields.get("category", ANY) or ANY, fields.get("reason", "").strip()[:500]
    try:
        if not reason:
            raise DeskhandError("changing a mode needs a reason (it goes into the audit log)")
        if category != ANY and category not in _categories(request, account):
            raise DeskhandError(f"unknown category {category!r} for {account}")
        share_text = fields.get("canary_share", "").strip()
        share = float(share_text) / 100 if share_text else None
        cat = None if category == ANY else category
        before = get_mode(rt.store, account, cat)
        with rt.store.transaction() as conn:
            after = set_mode(rt.store, account, fields.get("mode", ""), category=cat, canary_share=share,
                             actor=actor, reason=reason, conn=conn)
            audit.record(conn, tenant_id=user.tenant_id, actor=actor, action="mode.set", account=account,
                         target=f"{account}/{category}", old=_shown(before.mode, before.canary_share, before.inherited),
                         new=_shown(after.mode, after.canary_share, False), reason=reason)
    except ValueError:
        return controls(request, account, error="the canary share is a percentage, e.g. 10", status=400)
    except DeskhandError as exc:
        return controls(request, account, error=str(exc), status=400)
    return redirect(f"/console/controls?account={account}")


def _shown(mode: Mode, share: float, inherited: bool) -> str:
    text = f"{mode.value} {share:.0%}" if mode is Mode.CANARY else mode.value
    return f"{text} (inherited)" if inherited else text


@router.post("/controls/thresholds")
def change_thresholds(request: Request, posted: Form) -> Response:
    user, session = login(request)
    fields = csrf_checked(request, posted, session)
    need(user, "admin")
    account = _account(request, user.tenant_id, fields.get("account", ""))
    rt, actor = rt_of(request), f"console:{user.username}"
    reason = fields.get("reason", "").strip()[:500]
    current = {e.name: e for e in effective(rt.store.get_account(account).settings)}
    wanted = {k: fields[k].strip() for k in THRESHOLDS if k in fields}
    changed = {k: v for k, v in wanted.items() if v != "" and not _same(current[k].value, v)}
    try:
        if not changed:
            raise DeskhandError("nothing changed: every threshold already has that value")
        if not reason:
            raise DeskhandError("changing a threshold needs a reason (it goes into the audit log)")
        with rt.store.transaction() as conn:
            change(conn, account, changed)
            for key, value in changed.items():
                audit.record(conn, tenant_id=user.tenant_id, actor=actor, action="setting.set", account=account,
                             target=f"{account}:{key}", old=current[key].value, new=value, reason=reason)
    except DeskhandError as exc:
        return controls(request, account, error=str(exc), status=400)
    return redirect(f"/console/controls?account={account}")


def _same(value: Any, text: str) -> bool:
    try:
        return float(value) == float(text)
    except (TypeError, ValueError):
        return str(value) == text


@router.get("/audit")
def audit_page(request: Request, account: str = "", action: str = "") -> Response:
    ctx = base(request)
    rt, user = rt_of(request), ctx["user"]
    accounts = tenant_account_names(rt, user.tenant_id)
    chosen = account if account in accounts else ""
    rows = audit.entries(rt.store.engine, user.tenant_id, account=chosen or None,
                         action=action if action in audit.ACTIONS else None)
    a = autonomy_audit.c  # every mode change of the tenant's accounts: CLI, automatic demotions, advice
    q = select(autonomy_audit).where(a.account.in_([chosen] if chosen else accounts)).order_by(a.id.desc()).limit(200)
    with rt.store.engine.connect() as conn:
        modes = [dict(r._mapping) for r in conn.execute(q).all()]
    return page(request, "audit.html", rows=rows, modes=modes, accounts=accounts, account=chosen,
                actions=audit.ACTIONS, action=action, **ctx)
