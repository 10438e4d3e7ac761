"""OAuth 2.0 accounts: an `httpx.Auth` that keeps the account's token set fresh, on Authlib.

Every request reads the account's token set from the store (deskhand.providers.oauth_tokens). When
the access token expires within `skew_s` (proactive), or the helpdesk answered 401 to it, one process
refreshes it (a compare-and-set lease on the row) with Authlib's `refresh_token` and stores the new
access token and the rotated refresh token together; the others wait for the new version and use it.
`invalid_grant` on refresh, or a 401 to a token refreshed just now, puts the account in
`needs_reauth` (NeedsReauth: the worker defers its jobs until `deskhand connect … --oauth` again).

Client ids and secrets: DESKHAND_OAUTH_<SLUG>_CLIENT_ID / DESKHAND_OAUTH_<SLUG>_CLIENT_SECRET.
Provider differences are data in the definition's `oauth:` (deskhand.providers.definition.OAuth2AuthSpec):
the scope separator, extra authorise parameters, how the client authenticates, which error codes
besides HTTP 401 mean "token refused". A token endpoint that answers a refresh with 401 (ServiceNow's
`server_error`/`access_denied`) refuses the grant for good, whatever its error code says.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client

from deskhand.errors import AuthError, ConfigError, ProviderError
from deskhand.providers.definition import OAuth1AuthSpec, OAuth2AuthSpec, ProviderDefinition
from deskhand.providers.error_rules import ErrorRuleSpec, read_error
from deskhand.providers.fields import fill, map_key
from deskhand.providers.oauth_tokens import NEEDS_REAUTH, TokenRow, TokenStore

log = logging.getLogger(__name__)
DEAD_GRANT = ("invalid_grant", "invalid_client", "unauthorized_client")  # refresh can never work again
TOKEN_KEYS = ("access_token", "refresh_token", "token_type", "expires_in", "refresh_token_expires_in", "scope")
reauth_alerts = 0  # process-wide count of accounts this process put in needs_reauth (see /metrics)
_alerts_lock = threading.Lock()


class NeedsReauth(AuthError):
    """The account's OAuth grant is gone (revoked, expired, a dead refresh token): reconnect it."""

    def __init__(self, account: str, provider: str, reason: str) -> None:
        super().__init__(f"account {account!r} needs re-authorisation ({reason}): "
                         f"deskhand connect {provider} --name {account} --oauth PUBLIC_URL", status=401)
        self.account, self.reason = account, reason


class ScopeMissing(NeedsReauth):
    """The grant lacks a scope a call needs: the provider refused it (Atlassian: 401 "scope does not
    match"; Zendesk: 403). Reconnecting grants the definition's scopes again."""

    def __init__(self, account: str, provider: str, call: str, feature: str, scopes: list[str]) -> None:
        self.scopes, self.feature, self.call = scopes, feature, call
        reason = (f"the OAuth grant lacks the scope {' or '.join(scopes)}, needed to {feature} ({call}): make sure "
                  f"the OAuth app may ask for it, then reconnect")
        super().__init__(account, provider, reason)


class ScopeNeeds:
    """Which scopes a call needs, from the definition's `features` (the most specific call pattern wins)."""

    def __init__(self, spec: OAuth2AuthSpec, api_path: str) -> None:
        self.api_path = api_path.rstrip("/")
        self.rules: list[tuple[int, str, re.Pattern[str], str, list[str]]] = []
        for feature, need in spec.features.items():
            for call in need.calls:
                method, _, path = call.partition(" ")
                if path == "*":
                    pattern, weight = re.compile(r".*"), -1
                else:
                    parts = re.split(r"\{[^}]+\}", path)
                    pattern = re.compile("[^/]+".join(re.escape(p) for p in parts) + "/?")
                    weight = sum(len(p) for p in parts)
                self.rules.append((weight, method, pattern, feature, list(need.scopes)))
        self.rules.sort(key=lambda r: -r[0])

    def of(self, method: str, url_path: str) -> tuple[str, list[str]] | None:
        path = url_path[len(self.api_path):] if url_path.startswith(self.api_path + "/") else url_path
        for _, m, pattern, feature, scopes in self.rules:
            if m == method.upper() and pattern.fullmatch(path):
                return feature, scopes
        return None


def grant_spec(definition: ProviderDefinition) -> OAuth2AuthSpec | OAuth1AuthSpec:
    """The definition's OAuth grant (2.0, or Trello's 1.0a)."""
    spec = definition.auth if isinstance(definition.auth, OAuth2AuthSpec) else definition.oauth
    if spec is None:
        raise ConfigError(f"{definition.name} has no OAuth flow in its definition: connect it with its API token")
    return spec


def oauth_spec(definition: ProviderDefinition) -> OAuth2AuthSpec:
    spec = grant_spec(definition)
    if not isinstance(spec, OAuth2AuthSpec):
        raise ConfigError(f"{definition.name} connects by OAuth 1.0a, not OAuth 2.0")
    return spec


def is_oauth(config: Mapping[str, Any]) -> bool:
    """Whether an account's connection values say it connected by OAuth (2.0, or 1.0a: `auth: oauth1`)."""
    return config.get("auth") in ("oauth2", "oauth1")


def client_credentials(slug: str, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    env = os.environ if env is None else env
    prefix = f"DESKHAND_OAUTH_{slug.upper()}_CLIENT_"
    cid, secret = env.get(prefix + "ID"), env.get(prefix + "SECRET")
    if not cid or not secret:
        raise ConfigError(f"no OAuth client for {slug}: set {prefix}ID and {prefix}SECRET to the OAuth client "
                          f"registered with {slug} (its redirect URL: PUBLIC_URL/oauth/callback/{slug})")
    return cid, secret


def oauth_client(slug: str, spec: OAuth2AuthSpec, *, redirect_uri: str | None = None,
                 env: Mapping[str, str] | None = None, timeout: float = 30.0) -> OAuth2Client:
    """Authlib's httpx OAuth 2.0 client for the provider's registered app (close it after use)."""
    cid, secret = client_credentials(slug, env)
    client = OAuth2Client(cid, secret, token_endpoint_auth_method=spec.token_auth,
                          scope=spec.scope_separator.join(spec.scopes) or None, redirect_uri=redirect_uri,
                          code_challenge_method="S256" if spec.pkce else None, timeout=timeout)
    client.register_compliance_hook("refresh_token_response", _refused_refresh)
    return client


def _refused_refresh(response: httpx.Response) -> httpx.Response:
    """A refresh answered 401 is a dead grant whatever its error code (ServiceNow answers
    `server_error` with the description `access_denied`): read it as `invalid_grant`."""
    if response.status_code != 401:
        return response
    try:
        body = response.json()
    except ValueError:
        body = {}
    said = body.get("error") if isinstance(body, dict) else None
    if said in DEAD_GRANT:
        return response
    why = f"the token endpoint answered 401 ({said or 'no error code'})"
    return httpx.Response(401, json={"error": "invalid_grant", "error_description": why}, request=response.request)


def endpoint(template: str, values: Mapping[str, Any]) -> str:
    """An OAuth URL of the definition for an account (on its simulator's host when it has a base_url)."""
    from deskhand.providers.connector import rehost

    try:
        return rehost(str(fill(template, values)), values.get("base_url"))
    except KeyError as exc:
        raise ConfigError(f"the OAuth URL {template!r} needs the connection value {exc.args[0]}") from exc


def authorize_params(spec: OAuth2AuthSpec, values: Mapping[str, Any]) -> dict[str, str]:
    try:
        return {k: str(fill(v, values)) for k, v in spec.authorize_params.items()}
    except KeyError as exc:
        raise ConfigError(f"the OAuth authorise parameters need the connection value {exc.args[0]}") from exc


def token_set(token: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a token answer worth keeping. Authlib computes `expires_at` from `expires_in` on its
    own clock: only a server's own `expires_at` (Front answers with it instead of `expires_in`) is kept."""
    kept = {k: token[k] for k in TOKEN_KEYS if token.get(k) not in (None, "")}
    if "expires_in" not in kept and token.get("expires_at") not in (None, ""):
        kept["expires_at"] = token["expires_at"]
    return kept


def alert_needs_reauth(tokens: TokenStore, account: str, provider: str, reason: str) -> None:
    global reauth_alerts
    if tokens.needs_reauth(account, reason):
        with _alerts_lock:
            reauth_alerts += 1
        log.warning("oauth account=%s provider=%s needs re-authorisation: %s; its jobs wait until "
                    "`deskhand connect %s --name %s --oauth PUBLIC_URL`", account, provider, reason, provider, account)


class OAuth2Auth(httpx.Auth):
    requires_response_body = True  # a refusal's body says whether a scope is missing (read only for 401/403)

    def __init__(self, tokens: TokenStore, account: str, provider: str, token_url: str,
                 client: Callable[[], OAuth2Client], *, skew_s: float = 60.0, lease_s: float = 30.0,
                 wait_s: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 needs: ScopeNeeds | None = None, scope_error: str | None = None,
                 refused_codes: Sequence[str] = (), error_rules: Sequence[ErrorRuleSpec] = (),
                 header: Callable[[Mapping[str, Any]], str] | None = None) -> None:
        self.tokens, self.account, self.provider, self.token_url = tokens, account, provider, token_url
        self.client, self.skew_s, self.lease_s, self.wait_s, self.sleep = client, skew_s, lease_s, wait_s, sleep
        self.needs, self.scope_error = needs, scope_error
        self.refused_codes, self.error_rules = {map_key(c) for c in refused_codes}, tuple(error_rules)
        self.header = header or (lambda token: f"Bearer {token['access_token']}")  # Authorization's value

    def refused(self, response: httpx.Response) -> bool:
        """Whether the helpdesk refused the access token: HTTP 401, or an error code of `refused_codes`."""
        if response.status_code == 401:
            return True
        if not self.refused_codes or response.status_code < 400:
            return False
        try:
            error = read_error(self.error_rules, response.json())
        except ValueError:
            return False
        return error is not None and error.code in self.refused_codes

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        row = self.fresh()
        request.headers["Authorization"] = self.header(row.token)
        response = yield request
        if response.status_code in (401, 403):
            self.check_scope(request, response, row)
        if not self.refused(response):
            return
        row = self.fresh(stale=row.version)  # refused: refresh (unless another process just did) and retry once
        request.headers["Authorization"] = self.header(row.token)
        response = yield request
        if self.refused(response):
            reason = "the helpdesk refused a freshly refreshed access token (twice)"
            alert_needs_reauth(self.tokens, self.account, self.provider, reason)
            raise NeedsReauth(self.account, self.provider, reason)

    def check_scope(self, request: httpx.Request, response: httpx.Response, row: TokenRow) -> None:
        """A refusal because the grant lacks the call's scope -> ScopeMissing naming it (needs_reauth, no
        refresh: a new access token would have the same scopes). Either the provider's answer says so
        (`scope_error`), or the scopes granted (the token answer's `scope`) do not hold the call's."""
        need = self.needs.of(request.method, request.url.path) if self.needs is not None else None
        if need is None:
            return
        feature, scopes = need
        granted = str(row.token.get("scope") or "").replace(",", " ").split()
        said = bool(self.scope_error) and str(self.scope_error).lower() in response.text.lower()
        if said or (granted and not set(scopes) & set(granted)):
            exc = ScopeMissing(self.account, self.provider, f"{request.method} {request.url.path}", feature, scopes)
            alert_needs_reauth(self.tokens, self.account, self.provider, str(exc.reason))
            raise exc

    def fresh(self, stale: int | None = None) -> TokenRow:
        """The account's token set, refreshed first when it expires within skew_s or is version `stale`."""
        deadline = time.monotonic() + self.wait_s
        owner = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        while True:
            row = self.tokens.get(self.account)
            if row is None:
                raise ConfigError(f"account {self.account!r} has no OAuth tokens: deskhand connect {self.provider} "
                                  f"--name {self.account} --oauth PUBLIC_URL")
            if row.status == NEEDS_REAUTH:
                raise NeedsReauth(self.account, self.provider, row.reason or "re-authorisation needed")
            expiring = row.expires_at is not None and row.expires_at - self.tokens.clock() <= self.skew_s
            if row.version != stale and not expiring:
                return row
            if self.tokens.acquire(self.account, row.version, owner, self.lease_s):
                return self._refresh(row, owner)
            if time.monotonic() > deadline:
                raise ProviderError(f"account {self.account!r}: another process's token refresh did not finish "
                                    f"within {self.wait_s:.0f} s; retrying later")
            stale = row.version  # another process refreshes it: wait for its new version
            self.sleep(0.02)

    def _refresh(self, row: TokenRow, owner: str) -> TokenRow:
        refresh_token = row.token.get("refresh_token")
        if not refresh_token:
            alert_needs_reauth(self.tokens, self.account, self.provider, "the access token expired and there is "
                               "no refresh token")
            self.tokens.release(self.account, owner)
            raise NeedsReauth(self.account, self.provider, "the access token expired and there is no refresh token")
        try:
            with self.client() as client:
                answer = client.refresh_token(self.token_url, refresh_token=refresh_token)
        except OAuthError as exc:
            if exc.error in DEAD_GRANT:
                reason = f"refresh refused: {exc.error}"
                alert_needs_reauth(self.tokens, self.account, self.provider, reason)
                self.tokens.release(self.account, owner)  # the Redis lock (the row's lease is gone already)
                raise NeedsReauth(self.account, self.provider, reason) from exc
            self.tokens.release(self.account, owner)
            raise ProviderError(f"account {self.account!r}: token refresh failed ({exc.error}); "
                                "retrying later") from exc
        except Exception as exc:  # the token endpoint unreachable or answering garbage (Authlib's httpx or httpx2)
            self.tokens.release(self.account, owner)
            raise ProviderError(f"account {self.account!r}: token refresh failed ({exc.__class__.__name__}); "
                                "retrying later") from exc
        new = token_set(answer)
        new.setdefault("refresh_token", refresh_token)  # a server that does not rotate keeps the old one
        if not self.tokens.refreshed(self.account, owner, new):
            raise ProviderError(f"account {self.account!r}: the token refresh lease lapsed before it finished")
        log.info("oauth account=%s token refreshed (version %d)", self.account, row.version + 1)
        fresh = self.tokens.get(self.account)
        assert fresh is not None
        return fresh


def build_oauth_auth(tokens: TokenStore, definition: ProviderDefinition, account: str,
                     values: Mapping[str, Any], *, sleep: Callable[[float], None] = time.sleep) -> OAuth2Auth:
    """The auth of an account connected by OAuth (values: its connection values with `root`)."""
    spec = grant_spec(definition)
    if isinstance(spec, OAuth1AuthSpec):  # a token that never refreshes: expired or refused -> reconnect
        def no_client() -> OAuth2Client:
            raise ConfigError(f"{definition.name} access tokens do not refresh")

        header = spec.header
        return OAuth2Auth(tokens, account, definition.name, "", no_client, sleep=sleep, skew_s=0.0,
                          header=lambda token: str(fill(header, {**values, **token})))
    token_url = endpoint(spec.token_url, values)
    needs = ScopeNeeds(spec, urlsplit(str(values.get("root", "")) + definition.api).path) if spec.features else None
    return OAuth2Auth(tokens, account, definition.name, token_url,
                      lambda: oauth_client(definition.name, spec), sleep=sleep, needs=needs,
                      scope_error=spec.scope_error, refused_codes=spec.refused_codes,
                      error_rules=definition.error_rules())
