"""Each auth scheme a definition can name, as the providers document it, on a real httpx request."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from deskhand.errors import ConfigError
from deskhand.providers.auth import BearerAuth, HeaderAuth, QueryAuth, build_auth
from deskhand.providers.definition import AuthSpec


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def sent(auth: httpx.Auth, url: str = "https://api.example.test/1/cards?fields=name") -> httpx.Request:
    request = httpx.Request("GET", url)
    return next(auth.auth_flow(request))


def spec(data: dict[str, Any]) -> Any:
    return TypeAdapter(AuthSpec).validate_python(data)


# (auth spec as in a definition, connection values, header expected on the request)
HEADERS = [
    pytest.param({"type": "basic", "username": "{email}/token", "password": "{api_token}"},
                 {"email": "ann@acme.test", "api_token": "tok"}, basic("ann@acme.test/token", "tok"),
                 id="zendesk-basic-email-token"),
    pytest.param({"type": "basic", "username": "{api_key}", "password": "X"},
                 {"api_key": "fd-key"}, basic("fd-key", "X"), id="freshdesk-basic-key-x"),
    pytest.param({"type": "basic", "username": "{username}", "password": "{password}"},
                 {"username": "admin", "password": "p:ss"}, basic("admin", "p:ss"), id="servicenow-basic-user"),
    pytest.param({"type": "bearer", "token": "{access_token}"}, {"access_token": "oauth-1"}, "Bearer oauth-1",
                 id="bearer-oauth"),
    pytest.param({"type": "header", "header": "Authorization", "value": "{api_key}"},
                 {"api_key": "lin_api_abc"}, "lin_api_abc", id="linear-key-without-bearer"),
    pytest.param({"type": "header", "header": "Authorization",
                  "value": 'OAuth oauth_consumer_key="{api_key}", oauth_token="{token}"'},
                 {"api_key": "k1", "token": "t1"}, 'OAuth oauth_consumer_key="k1", oauth_token="t1"',
                 id="trello-oauth-header"),
]


@pytest.mark.parametrize(("data", "values", "expected"), HEADERS)
def test_the_authorization_header_is_the_documented_one(data: dict[str, Any], values: dict[str, str],
                                                         expected: str) -> None:
    request = sent(build_auth(spec(data), values))
    assert request.headers["Authorization"] == expected


def test_a_header_auth_can_name_any_header_and_leaves_authorization_alone() -> None:
    request = sent(build_auth(spec({"type": "header", "header": "X-Api-Key", "value": "{key}"}), {"key": "k"}))
    assert request.headers["X-Api-Key"] == "k" and "Authorization" not in request.headers


def test_query_auth_adds_its_parameters_and_keeps_the_requests_own() -> None:
    auth = build_auth(spec({"type": "query", "params": {"key": "{api_key}", "token": "{token}"}}),
                      {"api_key": "k 1", "token": "t&2"})
    request = sent(auth)
    assert dict(request.url.params) == {"fields": "name", "key": "k 1", "token": "t&2"}  # encoded, not spliced
    assert "Authorization" not in request.headers


@pytest.mark.parametrize(("auth", "header", "value"), [
    pytest.param(BearerAuth("t"), "Authorization", "Bearer t", id="bearer"),
    pytest.param(HeaderAuth("Authorization", "raw"), "Authorization", "raw", id="header-replaces"),
], )
def test_an_auth_replaces_a_header_already_on_the_request(auth: httpx.Auth, header: str, value: str) -> None:
    request = httpx.Request("GET", "https://api.example.test/", headers={header: "stale"})
    assert next(auth.auth_flow(request)).headers[header] == value


def test_query_auth_is_sent_on_every_request_of_a_client_over_loopback_transport() -> None:
    seen: list[httpx.URL] = []
    transport = httpx.MockTransport(lambda r: (seen.append(r.url), httpx.Response(200))[1])
    with httpx.Client(transport=transport, auth=QueryAuth({"key": "k", "token": "t"})) as client:
        client.get("https://api.example.test/1/boards/b1/lists")
        client.get("https://api.example.test/1/cards/c1", params={"fields": "name"})
    assert [sorted(u.params.keys()) for u in seen] == [["key", "token"], ["fields", "key", "token"]]


@pytest.mark.parametrize(("data", "values", "named"), [
    pytest.param({"type": "bearer", "token": "{access_token}"}, {}, "access_token", id="bearer-missing"),
    pytest.param({"type": "header", "header": "Authorization", "value": "{api_key}"}, {"api_key": ""}, "api_key",
                 id="header-empty"),
    pytest.param({"type": "basic", "username": "{email}/token", "password": "{api_token}"}, {"api_token": "t"},
                 "email", id="basic-missing-inside-a-longer-template"),
    pytest.param({"type": "query", "params": {"key": "{api_key}", "token": "{token}"}}, {"api_key": "k"}, "token",
                 id="query-missing"),
])
def test_a_missing_credential_is_a_config_error_naming_it_not_a_bearer_none(
        data: dict[str, Any], values: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=f"no {named}.*--update --{named.replace('_', '-')}"):
        build_auth(spec(data), values)
