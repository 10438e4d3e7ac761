"""The kill switches page: the switches on the tenant's accounts (tripped by hand or automatically,
with why), trip one (account, cap, reason) and reset one — admins only. Global and provider switches
reach every tenant, so they stay with the operator's CLI (`deskhand switch …`) and are only shown.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deskhand import audit
from deskhand.api.auth import tenant_account_names
from deskhand.console.web import ConsoleError, Form, csrf_checked, login, need, page, redirect, rt_of, signer
from deskhand.errors import DeskhandError
from deskhand.responder.modes import Mode
from deskhand.responder.switches import list_switches, reset, trip

router = APIRouter(prefix="/console", include_in_schema=False)
CAPS = [m.value for m in Mode if m not in (Mode.AUTO,)]


def _visible(rows: list[dict], accounts: list[str]) -> list[dict]:
    """The tenant's account switches, plus the operator's global ones (they apply here too)."""
    return [r for r in rows if r["scope"] == "global" or (r["account"] in accounts and r["scope"] != "global")]


@router.get("/switches")
def switches(request: Request, error: str = "", status: int = 200) -> Response:
    user, session = login(request)
    rt = rt_of(request)
    accounts = tenant_account_names(rt, user.tenant_id)
    rows = _visible(list_switches(rt.store, include_reset=True), accounts)[:200]
    return page(request, "switches.html", status, user=user, csrf=signer(request).csrf(session), accounts=accounts,
                switches=rows, caps=CAPS, error=error)


@router.post("/switches/trip")
def trip_switch(request: Request, posted: Form) -> Response:
    user, session = login(request)
    fields = csrf_checked(request, posted, session)
    need(user, "admin")
    account = fields.get("account", "")
    if account not in tenant_account_names(rt_of(request), user.tenant_id):
        raise ConsoleError(404, f"no account {account!r} in your tenant")
    store, actor = rt_of(request).store, f"console:{user.username}"
    reason, cap = fields.get("reason", "")[:500], fields.get("cap", Mode.DRAFT.value)
    try:
        with store.transaction() as conn:
            switch_id = trip(store, "account", account=account, reason=reason, cap=cap, actor=actor, conn=conn)
            audit.record(conn, tenant_id=user.tenant_id, actor=actor, action="switch.trip", account=account,
                         target=f"kill switch #{switch_id} on {account}", new=f"capped at {cap}", reason=reason)
    except DeskhandError as exc:
        return switches(request, error=str(exc), status=400)
    return redirect("/console/switches")


@router.post("/switches/{switch_id}/reset")
def reset_switch(request: Request, switch_id: int, posted: Form) -> Response:
    user, session = login(request)
    fields = csrf_checked(request, posted, session)
    need(user, "admin")
    rt = rt_of(request)
    mine = _visible(list_switches(rt.store, include_reset=True), tenant_account_names(rt, user.tenant_id))
    found = next((r for r in mine if r["id"] == switch_id and r["scope"] != "global"), None)
    if found is None:
        raise ConsoleError(404, f"no kill switch {switch_id} on your accounts")
    reason = fields.get("reason", "").strip()[:500]
    if not reason:
        return switches(request, error="resetting a kill switch needs a reason", status=400)
    actor = f"console:{user.username}"
    try:
        with rt.store.transaction() as conn:
            reset(rt.store, switch_id, actor=actor, reason=reason, conn=conn)
            audit.record(conn, tenant_id=user.tenant_id, actor=actor, action="switch.reset", account=found["account"],
                         target=f"kill switch #{switch_id} ({found['scope']} {found['account']})",
                         old=f"tripped: {found['reason']}", new="reset", reason=reason)
    except DeskhandError as exc:
        return switches(request, error=str(exc), status=409)
    return redirect("/console/switches")
