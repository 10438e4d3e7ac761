"""Connecting an account by OAuth from the console (admins only, CSRF-checked, the user's tenant):
"Reconnect" for an OAuth account (e.g. one in needs_reauth) and "Connect by OAuth" for a new one
(provider, account name, the provider's connection values). Both call the CLI's
deskhand.providers.oauth_connect.start and send the browser to the authorise URL it makes (state,
and PKCE where the provider has it); the gateway's /oauth/callback/<slug> finishes the connection.

The redirect URL is this console's own origin + /oauth/callback/<slug> (what the browser reached).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deskhand.api.auth import tenant_account_names
from deskhand.console.web import ConsoleError, Form, csrf_checked, login, need, page, redirect, rt_of, signer
from deskhand.errors import DeskhandError
from deskhand.providers.oauth import is_oauth
from deskhand.providers.oauth_connect import oauth_fields, oauth_providers, start

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)
# the forms' answer redirects the browser to the helpdesk's authorise page: form-action must allow it
FORM_CSP = ("default-src 'self'; img-src 'self' data:; form-action 'self' https:; frame-ancestors 'none'; "
            "base-uri 'none'")


def allow_oauth_redirect(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = FORM_CSP
    return response


def _public_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _form(request: Request, provider: str = "", name: str = "", values: dict[str, str] | None = None,
          error: str = "", status: int = 200) -> Response:
    user, session = login(request)
    need(user, "admin")
    providers = oauth_providers()
    chosen = provider if provider in providers else ""
    fields = oauth_fields(chosen) if chosen else {}
    return allow_oauth_redirect(page(
        request, "connect.html", status, user=user, csrf=signer(request).csrf(session), providers=providers,
        provider=chosen, name=name, fields=fields, values=values or {}, error=error))


@router.get("/accounts/connect")
def connect_form(request: Request, provider: str = "") -> Response:
    return _form(request, provider)


@router.post("/accounts/connect")
def connect(request: Request, posted: Form) -> Response:
    """Start connecting a new account (or one of the tenant's own, same provider) by OAuth."""
    user, session = login(request)
    fields = csrf_checked(request, posted, session)
    need(user, "admin")
    rt = rt_of(request)
    provider, name = fields.get("provider", ""), fields.get("name", "").strip()
    values = {k.removeprefix("value_"): v.strip() for k, v in fields.items() if k.startswith("value_")}
    if provider not in oauth_providers():
        return _form(request, error=f"{provider!r} is not a provider deskhand connects by OAuth", status=400)
    try:
        from deskhand.cli.checks import account_name

        account_name(name)
        wanted = oauth_fields(provider)
        unknown = sorted(set(values) - set(wanted))
        if unknown:
            raise DeskhandError(f"{provider} takes no {', '.join(unknown)}")
        old = rt.store.find_account(name)
        if old is not None and (old.tenant_id != user.tenant_id or old.provider != provider):
            raise DeskhandError(f"the account name {name!r} is taken: pick another")
        config = {k: v for k, v in (old.config if old else {}).items() if k in wanted}  # reconnect keeps them
        config.update({k: v for k, v in values.items() if v})
        missing = [k for k, f in wanted.items() if f.required and not config.get(k)]
        if missing:
            raise DeskhandError(f"missing {', '.join(missing)}")
        url = start(rt, provider, name, config, public_url=_public_url(request), tenant=user.tenant_id,
                    overrides=old.overrides if old else None)
    except DeskhandError as exc:
        return _form(request, provider, name, {k: v for k, v in values.items() if not _secret(provider, k)},
                     error=str(exc), status=400)
    log.info("console oauth connect started user=%s tenant=%s provider=%s account=%s", user.username,
             user.tenant_id, provider, name)
    return redirect(url)


def _secret(provider: str, key: str) -> bool:
    field: Any = oauth_fields(provider).get(key)
    return field is None or bool(field.secret)  # a secret typed in is never echoed back into the page


@router.post("/accounts/{name}/reconnect")
def reconnect(request: Request, name: str, posted: Form) -> Response:
    """Authorise an OAuth account of the tenant again (its connection values kept): its waiting jobs
    resume once the callback stores the new grant."""
    user, session = login(request)
    csrf_checked(request, posted, session)
    need(user, "admin")
    rt = rt_of(request)
    if name not in tenant_account_names(rt, user.tenant_id):
        raise ConsoleError(404, f"no account {name!r} in your tenant")
    account = rt.store.get_account(name)
    if not is_oauth(account.config):
        raise ConsoleError(400, f"{name} connects with an API token, not OAuth: `deskhand connect "
                                f"{account.provider} --name {name} --update …` changes it")
    try:
        wanted = oauth_fields(account.provider)
        config = {k: v for k, v in account.config.items() if k in wanted}
        url = start(rt, account.provider, name, config, public_url=_public_url(request), tenant=user.tenant_id,
                    overrides=account.overrides or None)
    except DeskhandError as exc:
        raise ConsoleError(400, f"reconnecting {name} failed: {exc}") from exc
    log.info("console oauth reconnect started user=%s tenant=%s account=%s", user.username, user.tenant_id, name)
    return redirect(url)
