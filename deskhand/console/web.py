"""The console's plumbing: templates (Jinja2, autoescaped, shipped in the package), the logged-in
user of a request, posted forms with their CSRF check, and the HTML answers for "log in first",
"not allowed" and "not found" (the console never answers with the API's JSON problems).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from deskhand.console.session import COOKIE, Session, Signer
from deskhand.console.users import User, get_user
from deskhand.runtime import Runtime

HERE = Path(__file__).parent
MAX_FORM_BYTES = 256 * 1024
HEADERS = {  # no inline script or style, no framing, no caching of pages that show tickets
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                  trim_blocks=True, lstrip_blocks=True)


class LoginRequired(Exception):
    """No valid session: answered with a redirect to /console/login."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class ConsoleError(Exception):
    """An error page (403 forbidden, 404 not found, …) in HTML."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def rt_of(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def signer(request: Request) -> Signer:
    found = getattr(request.app.state, "console_signer", None)
    if found is None:
        found = request.app.state.console_signer = Signer(rt_of(request).store.box.derive("console-session"))
    return found


def login(request: Request) -> tuple[User, Session]:
    """The logged-in user (read again from the store: a removed user is logged out) and their session."""
    session = signer(request).read(request.cookies.get(COOKIE))
    user = get_user(rt_of(request).store.engine, session.username) if session else None
    if user is None or session is None:
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return user, session


def need(user: User, role: str) -> None:
    if not user.may(role):
        raise ConsoleError(403, f"this needs the {role} role; you are a {user.role} (ask an admin: "
                                f"`deskhand users create … --role {role}`)")


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another site (Origin or Sec-Fetch-Site)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def posted(request: Request) -> dict[str, str]:
    """The posted urlencoded form (a dependency: the body is read on the event loop, the handler then
    runs in the threadpool, so helpdesk calls and password hashing never block the gateway)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ConsoleError(413, f"the form is larger than {MAX_FORM_BYTES // 1024} KiB")
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def csrf_checked(request: Request, fields: dict[str, str], session: Session | None,
                 expected: str | None = None) -> dict[str, str]:
    """`fields` after the CSRF check: the session's token (or, at login, `expected`, the token of the
    login cookie) must be in `csrf_token`, and the browser must not say it came from another site; else 403."""
    token = fields.get("csrf_token")
    ok = signer(request).csrf_ok(session, token) if session is not None else bool(expected) and token == expected
    if not ok or not same_origin(request):
        raise ConsoleError(403, "the form's CSRF token is missing or wrong (or the request came from another "
                                "site): reload the page and submit again")
    return fields


Form = Annotated[dict[str, str], Depends(posted)]


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = env.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def install(app: Any) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return redirect("/console/login?next=" + quote(exc.path, safe="/"))

    @app.exception_handler(ConsoleError)
    async def _error(request: Request, exc: ConsoleError) -> Response:
        return page(request, "error.html", exc.status, message=exc.message, user=None)
