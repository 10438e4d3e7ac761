"""Auth for provider calls: each scheme is an `httpx.Auth`, built from the definition + values."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import httpx

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


def build_auth(spec: AuthSpec, values: Mapping[str, Any]) -> httpx.Auth:
    """The auth a definition names, with its {placeholders} filled from the connection values."""
    if isinstance(spec, BasicAuthSpec):
        return httpx.BasicAuth(fill(spec.username, values), fill(spec.password, values))
    if isinstance(spec, BearerAuthSpec):
        return BearerAuth(fill(spec.token, values))
    if isinstance(spec, HeaderAuthSpec):
        return HeaderAuth(spec.header, fill(spec.value, values))
    if isinstance(spec, QueryAuthSpec):
        return QueryAuth({k: fill(v, values) for k, v in spec.params.items()})
    raise TypeError(f"unknown auth spec {spec!r}")
