"""deskhand.providers: connectors as data (defs/<slug>.yaml) + a small interpreter.

available_providers() -> list[str]
load_definition(slug) -> ProviderDefinition            validated, cached
connection_fields(slug) -> dict[str, FieldSpec]         .secret .required .pattern .help .default
open_connector(slug, account, config, *, http=None, limiter=None, sleep=time.sleep, overrides=None) -> Connector
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from deskhand.errors import ConfigError
from deskhand.providers import definition as _definition
from deskhand.providers.auth import build_auth
from deskhand.providers.client import Limiter, ProviderHTTP
from deskhand.providers.connector import Connector, load_hooks, resolve_values
from deskhand.providers.definition import FieldSpec, ProviderDefinition
from deskhand.providers.error_rules import body_reader
from deskhand.providers.oauth import build_oauth_auth, is_oauth
from deskhand.providers.overrides import resolve as resolve_overrides

__all__ = [
    "Connector",
    "FieldSpec",
    "Limiter",
    "ProviderDefinition",
    "available_providers",
    "connection_fields",
    "load_definition",
    "open_connector",
]


def available_providers() -> list[str]:
    """Slugs of every provider with a definition file."""
    return list(_definition.definition_paths())


def load_definition(slug: str) -> ProviderDefinition:
    """The validated definition of one provider (cached); ConfigError naming file and field."""
    return _definition.load(slug)


def connection_fields(slug: str) -> dict[str, FieldSpec]:
    """What `deskhand connect <slug>` asks for: name -> spec (.secret, .required, .pattern)."""
    return dict(load_definition(slug).connection)


def open_connector(
    slug: str,
    account: str,
    config: Mapping[str, str],
    *,
    http: httpx.Client | None = None,
    limiter: Limiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    overrides: Mapping[str, Any] | None = None,
    max_retry_after: float = 60.0,
    oauth_tokens: Any = None,
) -> Connector:
    """A connector for one account. Missing/invalid values -> ConfigError naming the fix. A throttled
    call is retried after the provider's Retry-After only up to `max_retry_after` seconds (an API
    caller waiting on the line wants the 429 instead: deskhand.api). `overrides`: the account's values of
    the definition's declared overrides (deskhand.providers.overrides). An account connected by OAuth
    (`auth: oauth2` in its values) authenticates with its token set in `oauth_tokens` (a TokenStore)."""
    definition = load_definition(slug)
    values = {**resolve_values(definition, account, config), **resolve_overrides(definition.overrides, overrides)}
    if is_oauth(config):
        if oauth_tokens is None:
            raise ConfigError(f"account {account!r} is connected by OAuth: its connector needs the store's tokens")
        auth: httpx.Auth = build_oauth_auth(oauth_tokens, definition, account, values, sleep=sleep)
    else:
        auth = build_auth(definition.auth, values)
    client = ProviderHTTP(values["root"] + definition.api, auth, http=http, limiter=limiter, sleep=sleep,
                          max_retry_after=max_retry_after, errors=body_reader(definition.error_rules()))
    return Connector(definition, account, values, client, load_hooks(definition))
