"""Connecting an account by OAuth: `start` makes the authorise URL (state + PKCE) and remembers the
pending connection, sealed; `finish` (the gateway's /oauth/callback/<slug>) checks the state, exchanges
the code with Authlib, stores the account and its sealed token set, and checks the connection."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete, insert, select

from deskhand.errors import ConfigError, DeskhandError, PayloadError
from deskhand.providers import load_definition, oauth1
from deskhand.providers.connector import resolve_values
from deskhand.providers.definition import OAuth1AuthSpec, OAuth2AuthSpec, OAuthResourcesSpec
from deskhand.providers.oauth import authorize_params, endpoint, grant_spec, oauth_client, oauth_spec, token_set
from deskhand.store.tables_oauth import oauth_pending

log = logging.getLogger(__name__)
PENDING_TTL_S = 900.0  # an authorisation not finished within 15 minutes must be started again


def callback_url(public_url: str, provider: str) -> str:
    return f"{public_url.rstrip('/')}/oauth/callback/{provider}"


def oauth_providers() -> list[str]:
    """Slugs of the providers whose definition has an OAuth flow (2.0, or Trello's 1.0a)."""
    from deskhand.providers import available_providers

    found = []
    for slug in sorted(available_providers()):
        try:
            grant_spec(load_definition(slug))
        except ConfigError:
            continue
        found.append(slug)
    return found


def oauth_fields(provider: str) -> dict[str, Any]:
    """The connection values an OAuth connect asks for (the CLI's options, the console's form): the
    definition's, without those the grant replaces (the API token); the resource it chooses among
    (Atlassian's site) stays, optional."""
    from deskhand.providers import connection_fields

    spec = grant_spec(load_definition(provider))
    resources = getattr(spec, "resources", None)
    choose = resources.choose if resources is not None else None
    return {k: (f.model_copy(update={"required": False}) if k == choose else f)
            for k, f in connection_fields(provider).items() if k not in spec.replaces or k == choose}


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def start(rt: Any, provider: str, account: str, config: Mapping[str, str], *, public_url: str, tenant: str,
          settings: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None,
          env: Mapping[str, str] | None = None) -> str:
    """The URL to open in a browser to authorise deskhand on the account's helpdesk."""
    definition = load_definition(provider)
    grant = grant_spec(definition)
    redirect = callback_url(public_url, provider)
    verifier, kept = None, dict[str, Any]()
    if isinstance(grant, OAuth1AuthSpec):  # Trello: the request token is the state
        config = oauth1.client_config(provider, grant, config, env)
        url, state, kept = oauth1.authorize(provider, grant, resolve_values(definition, account, config), redirect,
                                            env)
    else:
        spec = oauth_spec(definition)
        config = {**config, "auth": "oauth2"}
        values = resolve_values(definition, account, config)
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48) if spec.pkce else None
        with oauth_client(provider, spec, redirect_uri=redirect, env=env) as client:
            url, _ = client.create_authorization_url(endpoint(spec.authorize_url, values), state=state,
                                                     code_verifier=verifier, **authorize_params(spec, values))
    pending = {"config": config, "tenant": tenant, "verifier": verifier, "redirect": redirect,
               "settings": dict(settings or {}), "overrides": dict(overrides or {}), **kept}
    with rt.store.transaction() as c:
        c.execute(insert(oauth_pending).values(state_hash=_hash(state), provider=provider, account=account,
                                               sealed=rt.store.box.seal(pending),
                                               expires_at=rt.queue.clock() + PENDING_TTL_S))
    return str(url)


def pick_resource(provider: str, account: str, spec: OAuthResourcesSpec, values: Mapping[str, Any],
                  access_token: str) -> dict[str, str]:
    """The connection values of the one resource (site) the account uses, from the grant's list of them:
    the one its `choose` value names (name, URL or id), or the only one. Otherwise an error that lists them."""
    try:
        answer = httpx.get(endpoint(spec.url, values), headers={"Authorization": f"Bearer {access_token}",
                                                                "Accept": "application/json"}, timeout=30)
        answer.raise_for_status()
        found = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ConfigError(f"reading the {provider} sites this grant reaches failed ({exc.__class__.__name__}); "
                          f"nothing was stored: start again with deskhand connect {provider} --name {account} "
                          "--oauth PUBLIC_URL") from exc
    listing = [r for r in found if isinstance(r, dict) and r.get("id")] if isinstance(found, list) else []
    wanted = str(values.get(spec.choose) or "").strip().lower()
    if wanted:
        chosen = [r for r in listing if wanted in {str(r.get("name", "")).lower(), str(r.get("id", "")).lower(),
                                                   str(r.get("url", "")).lower().rstrip("/"),
                                                   urlsplit(str(r.get("url", ""))).netloc.lower()}]
    else:
        chosen = listing if len(listing) == 1 else []
    if len(chosen) != 1:
        flag = "--" + spec.choose.replace("_", "-")
        shown = "; ".join(f"{r.get('name')} ({r.get('url')}, id {r.get('id')})" for r in listing) or "none"
        why = f"no {spec.choose} {wanted!r} among them" if wanted else f"pick one with {flag}"
        raise ConfigError(f"this {provider} grant reaches {len(listing)} site(s): {shown}; {why}: deskhand connect "
                          f"{provider} --name {account} --oauth PUBLIC_URL {flag} NAME (nothing was stored)")
    return {name: str(chosen[0].get(field, "")) for name, field in spec.values.items()}


def finish(rt: Any, provider: str, state: str, code: str, *, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Complete a connection from the provider's redirect. The state works once; a wrong, used or
    expired one changes nothing. Returns what was connected (no secret in it)."""
    with rt.store.transaction() as c:
        row = c.execute(select(oauth_pending).where(oauth_pending.c.state_hash == _hash(state))).first()
        if row is not None:
            c.execute(delete(oauth_pending).where(oauth_pending.c.state_hash == row.state_hash))
    if row is None or row.provider != provider:
        raise PayloadError("unknown or already used OAuth state: start again with deskhand connect "
                           f"{provider} --name ACCOUNT --oauth PUBLIC_URL")
    if row.expires_at < rt.queue.clock():
        raise PayloadError(f"the authorisation of {row.account!r} took longer than {PENDING_TTL_S / 60:.0f} "
                           "minutes: start it again with deskhand connect … --oauth")
    pending = rt.store.box.unseal(row.sealed)
    definition = load_definition(provider)
    config, account = dict(pending["config"]), str(row.account)
    values = resolve_values(definition, account, config)
    grant = grant_spec(definition)
    if isinstance(grant, OAuth1AuthSpec):  # `state` is the request token, `code` the verifier
        tokens = oauth1.exchange(provider, account, grant, values, state, pending, code, env)
    else:
        tokens = _exchange(provider, account, oauth_spec(definition), values, config, pending, code, env)
    rt.store.save_account(account, provider, config, tenant_id=pending["tenant"], settings=pending["settings"],
                          overrides=pending["overrides"] or None)
    released = rt.oauth_tokens.connect(account, provider, tokens)
    me = rt.connector(rt.store.get_account(account)).current_user()
    log.info("oauth account=%s provider=%s connected as %s; %d waiting jobs resumed", account, provider,
             me.email or me.id, released)
    return {"account": account, "provider": provider, "tenant": pending["tenant"], "user": me.email or me.id,
            "resumed_jobs": released, "refresh_token": "refresh_token" in tokens}


def _exchange(provider: str, account: str, spec: OAuth2AuthSpec, values: Mapping[str, Any], config: dict[str, Any],
              pending: Mapping[str, Any], code: str, env: Mapping[str, str] | None) -> dict[str, Any]:
    """The token set an authorisation code buys (and on Atlassian the site it reaches, into `config`)."""
    extra = {"code_verifier": pending["verifier"]} if pending.get("verifier") else {}
    try:
        with oauth_client(provider, spec, redirect_uri=pending["redirect"], env=env) as client:
            answer = client.fetch_token(endpoint(spec.token_url, values), grant_type="authorization_code",
                                        code=code, **extra)
    except DeskhandError:
        raise
    except Exception as exc:  # authlib's OAuthError, httpx errors: the exchange failed, nothing stored
        error = getattr(exc, "error", None) or exc.__class__.__name__
        raise ConfigError(f"the {provider} token exchange for {account!r} failed ({error}): start again with "
                          f"deskhand connect {provider} --name {account} --oauth PUBLIC_URL") from exc
    tokens = token_set(answer)
    if "access_token" not in tokens:
        raise ConfigError(f"the {provider} token answer had no access_token; nothing was stored")
    if spec.resources is not None:  # Atlassian: which site the grant reaches, and its cloud id
        config.update(pick_resource(provider, account, spec.resources, values, tokens["access_token"]))
    return tokens
