"""deskhand.providers.client: error mapping, Retry-After, retries on 5xx/connection, limiter hook."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx
import pytest

from deskhand.errors import AuthError, BadResponse, ProviderError, RateLimited, ResourceNotFound
from deskhand.providers.client import ConnectionFailed, ProviderHTTP
from deskhand.providers.definition import ErrorRuleSpec
from deskhand.providers.error_rules import body_reader

Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def client(handler: Handler, sleeps: list[float], **kw: object) -> ProviderHTTP:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return ProviderHTTP("http://helpdesk.test/api", httpx.BasicAuth("u", "p"), http=http, sleep=sleeps.append, **kw)


def test_relative_paths_join_the_base_and_absolute_links_are_followed_verbatim() -> None:
    handler, seen = scripted(httpx.Response(200, json={}), httpx.Response(200, json={}))
    c = client(handler, [])
    c.request("GET", "/tickets.json", params={"page[size]": 2})
    c.request("GET", "http://other.test/api/tickets.json?page[after]=x")
    assert str(seen[0].url) == "http://helpdesk.test/api/tickets.json?page%5Bsize%5D=2"
    assert str(seen[1].url) == "http://other.test/api/tickets.json?page[after]=x"
    assert seen[0].headers["authorization"].startswith("Basic ")


def test_retry_after_is_obeyed_then_the_request_succeeds() -> None:
    handler, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "APIRateLimitExceeded"}),
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(201, json={"ok": True}),
    )
    sleeps: list[float] = []
    response = client(handler, sleeps).request("POST", "/tickets.json", json={"ticket": {}})
    assert response.json() == {"ok": True}
    assert sleeps == [7.0, 2.0]
    assert len(seen) == 3


def test_retry_after_beyond_the_cap_is_raised_for_the_queue_to_reschedule() -> None:
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "2400"}))
    sleeps: list[float] = []
    with pytest.raises(RateLimited) as caught:
        client(handler, sleeps).request("GET", "/x")
    assert caught.value.retry_after == 2400 and sleeps == [] and len(seen) == 1


@pytest.mark.parametrize(
    ("method", "attempts"), [("GET", 3), ("PUT", 1), ("POST", 1)], ids=["get-retried", "put-not", "post-not"]
)
def test_5xx_retried_only_when_safe_to_repeat(method: str, attempts: int) -> None:
    handler, seen = scripted(httpx.Response(503), httpx.Response(502), httpx.Response(200, json={}))
    sleeps: list[float] = []
    c = client(handler, sleeps)
    if attempts == 1:
        with pytest.raises(ProviderError) as caught:
            c.request(method, "/x")
        assert caught.value.status == 503
    else:
        assert c.request(method, "/x").status_code == 200
        assert sleeps == [0.5, 1.0]
    assert len(seen) == attempts


def test_connect_errors_are_retried_for_any_method_and_reported_when_persistent() -> None:
    handler, seen = scripted(*(httpx.ConnectError("refused") for _ in range(4)))
    with pytest.raises(ConnectionFailed, match="cannot connect") as caught:
        client(handler, []).request("PUT", "/x")
    assert not caught.value.sent and caught.value.retryable and len(seen) == 4


def test_read_timeout_on_a_write_is_not_repeated() -> None:
    handler, seen = scripted(httpx.ReadTimeout("slow"), httpx.Response(200, json={}))
    with pytest.raises(ConnectionFailed):
        client(handler, []).request("PUT", "/x")
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, AuthError), (403, AuthError), (404, ResourceNotFound), (422, ProviderError)],
    ids=["401", "403", "404", "422"],
)
def test_client_errors_map_through_from_response_without_retry(status: int, kind: type[ProviderError]) -> None:
    handler, seen = scripted(httpx.Response(status, json={"error": "RecordNotFound"}))
    with pytest.raises(kind) as caught:
        client(handler, []).request("GET", "/tickets/9.json")
    assert caught.value.status == status and "RecordNotFound" in str(caught.value) and len(seen) == 1


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def before_request(self) -> None:
        self.calls.append("before")

    def observe(self, headers: Mapping[str, str]) -> None:
        self.calls.append(f"observe:{headers.get('x-rate-limit-remaining')}")


def test_limiter_sees_every_attempt() -> None:
    handler, _ = scripted(
        httpx.Response(429, headers={"Retry-After": "1", "X-Rate-Limit-Remaining": "0"}),
        httpx.Response(200, headers={"X-Rate-Limit-Remaining": "399"}, json={}),
    )
    limiter = Recorder()
    client(handler, [], limiter=limiter).request("GET", "/x")
    assert limiter.calls == ["before", "observe:0", "before", "observe:399"]


LINEAR_RULES = body_reader([ErrorRuleSpec(path="errors", code="extensions.code", message="message",
                                          map={"RATELIMITED": "rate_limited", "AUTHENTICATION_ERROR": "auth"})])


def graphql_errors(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return httpx.Response(status, json=body, headers=headers)


def test_a_400_whose_body_says_rate_limited_is_retried_like_a_429() -> None:
    handler, seen = scripted(graphql_errors(400, "RATELIMITED", "Rate limit exceeded", **{"Retry-After": "3"}),
                             httpx.Response(200, json={"data": {"ok": True}}))
    sleeps: list[float] = []
    response = client(handler, sleeps, errors=LINEAR_RULES).request("POST", "/graphql", json={"query": "{ok}"})
    assert response.json() == {"data": {"ok": True}} and sleeps == [3.0] and len(seen) == 2


def test_a_rate_limit_in_the_body_past_the_attempts_is_raised_as_rate_limited_for_the_queue() -> None:
    handler, _ = scripted(*[graphql_errors(400, "RATELIMITED", "slow down") for _ in range(4)])
    with pytest.raises(RateLimited) as caught:
        client(handler, [], errors=LINEAR_RULES).request("POST", "/graphql", json={})
    assert caught.value.retryable and caught.value.code == "RATELIMITED" and "slow down" in str(caught.value)


@pytest.mark.parametrize(
    ("response", "kind", "retryable"),
    [
        (graphql_errors(200, "AUTHENTICATION_ERROR", "bad key"), AuthError, False),
        (graphql_errors(200, "INTERNAL", "try again"), BadResponse, True),
        (graphql_errors(400, "GRAPHQL_VALIDATION_FAILED", "Cannot query field"), ProviderError, False),
        (httpx.Response(404, json={"errors": []}), ResourceNotFound, False),
    ],
    ids=["200-auth-code", "200-unmapped-code", "400-unmapped-code", "404-no-body-error"],
)
def test_body_errors_become_the_error_their_rules_say(response: httpx.Response, kind: type, retryable: bool) -> None:
    handler, seen = scripted(response)
    with pytest.raises(ProviderError) as caught:
        client(handler, [], errors=LINEAR_RULES).request("POST", "/graphql", json={})
    assert type(caught.value) is kind and caught.value.retryable is retryable and len(seen) == 1


def test_a_2xx_body_is_not_checked_without_rules() -> None:
    handler, _ = scripted(graphql_errors(200, "INTERNAL", "try again"))
    assert client(handler, []).request("POST", "/graphql", json={}).status_code == 200
