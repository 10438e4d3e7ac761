"""Auth for provider calls: each scheme is an `httpx.Auth`, built from the definition + values."""

from __future__ import annotations

import re
from collections.abc import Generator, Mapping
from typing import Any

import httpx

from deskhand.errors import ConfigError
from deskhand.providers.definition import (
    AuthSpec,
    BasicAuthSpec,
    BearerAuthSpec,
    HeaderAuthSpec,
    QueryAuthSpec,
)
from deskhand.providers.fields import fill


class BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


class HeaderAuth(httpx.Auth):
    """A fixed header (Linear's ``Authorization: <api key>``, API-key headers)."""

    def __init__(self, header: str, value: str) -> None:
        self._header = header
        self._value = value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._value
        yield request


class QueryAuth(httpx.Auth):
    """Credentials as query parameters (Trello's ``key`` and ``token``)."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self._params = dict(params)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_merge_params(self._params)
        yield request


def _credential(template: str, values: Mapping[str, Any]) -> str:
    """A credential template filled from the connection values; a missing or empty value is a
    ConfigError naming it (never a request sent with ``Bearer None``)."""
    try:
        filled = fill(template, values)
    except KeyError as exc:
        filled, template = None, "{" + str(exc.args[0]) + "}"
    if filled is None or str(filled) == "":
        missing = ", ".join(sorted(set(re.findall(r"\{([^{}]+)\}", template)))) or template
        option = "--" + missing.split(", ")[0].replace("_", "-")
        raise ConfigError(f"the account has no {missing} for its {template!r} credential: "
                          f"deskhand connect PROVIDER --name ACCOUNT --update {option} …")
    return str(filled)


def build_auth(spec: AuthSpec, values: Mapping[str, Any]) -> httpx.Auth:
    """The auth a definition names, with its {placeholders} filled from the connection values."""
    if isinstance(spec, BasicAuthSpec):
        return httpx.BasicAuth(_credential(spec.username, values), _credential(spec.password, values))
    if isinstance(spec, BearerAuthSpec):
        return BearerAuth(_credential(spec.token, values))
    if isinstance(spec, HeaderAuthSpec):
        return HeaderAuth(spec.header, _credential(spec.value, values))
    if isinstance(spec, QueryAuthSpec):
        return QueryAuth({k: _credential(v, values) for k, v in spec.params.items()})
    raise TypeError(f"unknown auth spec {spec!r}")
