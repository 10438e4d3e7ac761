"""The console's pages: login/logout, the review queue and one draft (approve, edit-then-approve,
reject with a reason — the same deskhand.responder.review functions the API calls), kill switches of
the tenant's accounts, and the decisions list. Every page but login needs a session; every page
shows only the user's tenant.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deskhand.api.auth import tenant_account_names
from deskhand.console.session import COOKIE, LIFETIME_S, LOGIN_CSRF_COOKIE
from deskhand.console.throttle import LoginThrottle, keys_for
from deskhand.console.users import authenticate
from deskhand.console.web import HERE, ConsoleError, Form, csrf_checked, login, need, page, redirect, rt_of, signer
from deskhand.errors import DeskhandError, NotFoundError, ProviderError
from deskhand.responder import review

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)
QUEUE_LIMIT = 500  # drafts shown at once (the oldest or newest ones, as ordered)
STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/console", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise ConsoleError(404, f"no console asset {name!r}")
    return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name],
                    headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"})


@router.get("")
@router.get("/")
def home(request: Request) -> Response:
    login(request)
    return redirect("/console/review")


@router.get("/login")
def login_form(request: Request, next: str = "/console/review", error: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = page(request, "login.html", 401 if error else 200, csrf=token, next=_safe_next(next),
                    error=error, user=None)
    _cookie(response, request, LOGIN_CSRF_COOKIE, token, 3600)
    return response


@router.post("/login")
def login_submit(request: Request, posted: Form) -> Response:
    fields = csrf_checked(request, posted, None, expected=request.cookies.get(LOGIN_CSRF_COOKIE))
    username = fields.get("username", "")[:100]
    throttle, keys = _throttle(request), keys_for(username, request.client.host if request.client else None)
    wait = throttle.wait_s(keys)
    if wait > 0:
        response = login_form(request, fields.get("next", ""), error=f"Too many failed logins: try again in "
                                                                     f"{int(wait // 60) + 1} minute(s).")
        response.status_code = 429
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    user = authenticate(rt_of(request).store.engine, username, fields.get("password", ""))
    if user is None:
        throttle.failed(keys)
        log.warning("console login refused for %r", username)
        return login_form(request, fields.get("next", ""), error="Wrong username or password.")
    throttle.succeeded(username)
    response = redirect(_safe_next(fields.get("next", "")))
    _cookie(response, request, COOKIE, signer(request).issue(user.username), LIFETIME_S)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
    log.info("console login user=%s tenant=%s", user.username, user.tenant_id)
    return response


@router.post("/logout")
def logout(request: Request, posted: Form) -> Response:
    _, session = login(request)
    csrf_checked(request, posted, session)
    response = redirect("/console/login")
    response.delete_cookie(COOKIE, path="/console")
    return response


def _throttle(request: Request) -> LoginThrottle:
    found = getattr(request.app.state, "console_throttle", None)
    if found is None:
        found = request.app.state.console_throttle = LoginThrottle()
    return found


def _safe_next(target: str) -> str:
    """Only a console path of this site (no //host, no scheme): an open redirect is refused."""
    ok = target.startswith("/console") and not target.startswith("//") and "\\" not in target
    return target if ok and "://" not in target else "/console/review"


def base(request: Request, **extra: Any) -> dict[str, Any]:
    user, session = login(request)
    return {"user": user, "csrf": signer(request).csrf(session), **extra}


@router.get("/review")
def queue(request: Request, account: str = "", category: str = "", order: str = "newest",
          done: str = "") -> Response:
    ctx = base(request)
    rt, user = rt_of(request), ctx["user"]
    accounts = tenant_account_names(rt, user.tenant_id)
    chosen = account if account in accounts else None
    waiting = review.pending(rt, user.tenant_id, account=chosen, limit=QUEUE_LIMIT, oldest_first=order == "oldest")
    categories = sorted({r["category"] for r in waiting if r["category"]})
    rows = [r for r in waiting if r["category"] == category] if category else waiting
    done = done if re.fullmatch(r"(approved|edited|rejected)-\d{1,18}", done) else ""  # no reflected text
    return page(request, "queue.html", drafts=rows, accounts=accounts, account=chosen or "", categories=categories,
                category=category, order="oldest" if order == "oldest" else "newest", done=done,
                more=len(waiting) >= QUEUE_LIMIT, **ctx)


def _draft(request: Request, decision_id: int, user_tenant: str) -> dict[str, Any]:
    try:
        return review.show(rt_of(request), user_tenant, decision_id)
    except NotFoundError as exc:
        raise ConsoleError(404, f"no draft {decision_id} in your tenant: back to the review queue") from exc


def _thread(request: Request, row: dict[str, Any]) -> tuple[list[Any], str]:
    rt = rt_of(request)
    try:
        conn = rt.connector(rt.store.get_account(row["account"]))
        return list(conn.list_comments(row["ticket_id"])), ""
    except (ProviderError, DeskhandError) as exc:
        return [], f"the ticket's thread could not be read from the helpdesk ({exc.__class__.__name__}): {exc}"


def _neighbours(request: Request, tenant: str, decision_id: int) -> tuple[int | None, int | None]:
    ids = [r["id"] for r in review.pending(rt_of(request), tenant, limit=500)]
    if decision_id not in ids:
        return None, None
    i = ids.index(decision_id)
    return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)


def _draft_page(request: Request, decision_id: int, status: int = 200, error: str = "", **extra: Any) -> Response:
    ctx = base(request)
    row = _draft(request, decision_id, ctx["user"].tenant_id)
    thread, thread_error = _thread(request, row)
    prev_id, next_id = _neighbours(request, ctx["user"].tenant_id, decision_id)
    return page(request, "draft.html", status, d=row, evidence=row.get("evidence") or {}, thread=thread,
                thread_error=thread_error, error=error, prev_id=prev_id, next_id=next_id, **extra, **ctx)


@router.get("/review/{decision_id}")
def draft(request: Request, decision_id: int) -> Response:
    return _draft_page(request, decision_id)


@router.post("/review/{decision_id}/approve")
def approve(request: Request, decision_id: int, posted: Form) -> Response:
    user, session = login(request)
    fields = csrf_checked(request, posted, session)
    need(user, "reviewer")
    row = _draft(request, decision_id, user.tenant_id)
    body = fields.get("body")
    if body is not None:  # browsers send a textarea's line breaks as CRLF (HTML form submission)
        body = body.replace("\r\n", "\n")
    edited = body is not None and body.strip() != (row["reply"] or "").strip()
    try:
        review.approve(rt_of(request), user.tenant_id, decision_id, reviewer=f"console:{user.username}",
                       body=body if edited else None)
    except review.ReviewConflict as exc:
        return _draft_page(request, decision_id, 409, error=str(exc))
    except ProviderError as exc:
        return _draft_page(request, decision_id, 502, error=f"the helpdesk did not take the reply: {exc}; "
                                                            "approve again to retry (it is posted once)")
    return redirect(f"/console/review?done={'edited' if edited else 'approved'}-{decision_id}")


@router.post("/review/{decision_id}/reject")
def reject(request: Request, decision_id: int, posted: Form) -> Response:
    user, session = login(request)
    fields = csrf_checked(request, posted, session)
    need(user, "reviewer")
    _draft(request, decision_id, user.tenant_id)
    try:
        review.reject(rt_of(request), user.tenant_id, decision_id, reviewer=f"console:{user.username}",
                      reason=fields.get("reason", "")[:2000])
    except review.ReviewConflict as exc:
        return _draft_page(request, decision_id, 409, error=str(exc))
    return redirect(f"/console/review?done=rejected-{decision_id}")
