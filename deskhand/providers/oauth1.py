"""OAuth 1.0a connections (Trello), on Authlib's httpx OAuth1Client: a request token signed with the
client's key and secret (DESKHAND_OAUTH_<SLUG>_CLIENT_ID / _SECRET: Trello's API key and its secret),
the user authorises it in a browser, and the verifier the callback brings buys the access token. The
request token is the pending connection's state; its secret is sealed with it. The access token's
lifetime is what the authorise URL asked for (`lifetimes`); it never refreshes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authlib.integrations.httpx_client import OAuth1Client

from deskhand.errors import ConfigError
from deskhand.providers.definition import OAuth1AuthSpec
from deskhand.providers.fields import fill
from deskhand.providers.oauth import client_credentials, endpoint


def client_config(provider: str, spec: OAuth1AuthSpec, config: Mapping[str, Any],
                  env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The connection values with the OAuth client's id where the definition says (Trello's api_key:
    tokens belong to the key that asked for them)."""
    cid, _ = client_credentials(provider, env)
    return {**config, "auth": "oauth1", **({spec.client_value: cid} if spec.client_value else {})}


def _params(spec: OAuth1AuthSpec, values: Mapping[str, Any]) -> dict[str, str]:
    try:
        return {k: str(fill(v, values)) for k, v in spec.authorize_params.items()}
    except KeyError as exc:
        raise ConfigError(f"the OAuth authorise parameters need the connection value {exc.args[0]}") from exc


def authorize(provider: str, spec: OAuth1AuthSpec, values: Mapping[str, Any], redirect: str,
              env: Mapping[str, str] | None = None) -> tuple[str, str, dict[str, Any]]:
    """(the URL to open, the state: the request token, what the pending connection keeps sealed)."""
    cid, secret = client_credentials(provider, env)
    params = _params(spec, values)
    try:
        with OAuth1Client(cid, secret, redirect_uri=redirect, timeout=30) as client:
            request_token = client.fetch_request_token(endpoint(spec.request_token_url, values))
            url = client.create_authorization_url(endpoint(spec.authorize_url, values),
                                                  request_token=request_token["oauth_token"], **params)
    except Exception as exc:  # authlib's OAuthError, httpx errors
        error = getattr(exc, "error", None) or exc.__class__.__name__
        raise ConfigError(f"{provider} refused the OAuth request token ({error}): check DESKHAND_OAUTH_"
                          f"{provider.upper()}_CLIENT_ID/_SECRET") from exc
    lifetime = spec.lifetimes.get(params.get(spec.lifetime_param or "", ""))
    return str(url), str(request_token["oauth_token"]), {
        "token_secret": request_token.get("oauth_token_secret"), "lifetime": lifetime}


def exchange(provider: str, account: str, spec: OAuth1AuthSpec, values: Mapping[str, Any], request_token: str,
             pending: Mapping[str, Any], verifier: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The token set of a finished authorisation: {access_token[, expires_in]}."""
    cid, secret = client_credentials(provider, env)
    try:
        with OAuth1Client(cid, secret, token=request_token, token_secret=pending.get("token_secret"),
                          timeout=30) as client:
            answer = client.fetch_access_token(endpoint(spec.access_token_url, values), verifier=verifier)
    except Exception as exc:
        error = getattr(exc, "error", None) or exc.__class__.__name__
        raise ConfigError(f"the {provider} token exchange for {account!r} failed ({error}): start again with "
                          f"deskhand connect {provider} --name {account} --oauth PUBLIC_URL") from exc
    if not answer.get("oauth_token"):
        raise ConfigError(f"the {provider} token answer had no oauth_token; nothing was stored")
    lifetime = pending.get("lifetime")
    return {"access_token": str(answer["oauth_token"]), **({"expires_in": lifetime} if lifetime else {})}
