"""Tests for deskhand.sim.base: limiter, webhook delivery (real loopback HTTP), server, helpers."""

from __future__ import annotations

import base64
import threading

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deskhand.sim.base import (
    FixedWindowLimiter,
    ManualClock,
    SimServer,
    WebhookDelivery,
    absolute_url,
    iso_utc,
    parse_basic_auth,
    parse_bearer,
    retry_delay,
)

# ------------------------------------------------------------------------------------ limiter


def test_limiter_counts_down_then_blocks_until_window_resets() -> None:
    clock = ManualClock()
    limiter = FixedWindowLimiter(3, window_s=60, clock=clock)
    results = [limiter.hit("acct") for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0]
    assert results[-1].reset_s == 60
    clock.advance(59.5)
    blocked = limiter.hit("acct")
    assert not blocked.allowed and blocked.reset_s == 1
    clock.advance(0.5)
    fresh = limiter.hit("acct")
    assert fresh.allowed and fresh.remaining == 2 and fresh.reset_s == 60


def test_limiter_keys_are_independent() -> None:
    limiter = FixedWindowLimiter(1, window_s=10, clock=ManualClock())
    assert limiter.hit("a").allowed
    assert not limiter.hit("a").allowed
    assert limiter.hit("b").allowed


def test_limiter_reset_s_rounds_up_to_whole_seconds() -> None:
    clock = ManualClock()
    limiter = FixedWindowLimiter(1, window_s=2.5, clock=clock)
    assert limiter.hit().reset_s == 3
    clock.advance(2.4)
    assert limiter.hit().reset_s == 1


def test_limiter_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError):
        FixedWindowLimiter(0)


# ------------------------------------------------------------------------------ retry policy

RETRY_CASES = [
    ("connection_error", None, {}, 1, 0.5),
    ("server_error_backoff_doubles", 500, {}, 3, 2.0),
    ("backoff_is_capped", 502, {}, 10, 8.0),
    ("conflict_409", 409, {}, 1, 0.5),
    ("429_retry_after_honoured", 429, {"retry-after": "7"}, 1, 7.0),
    ("503_retry_after_honoured", 503, {"retry-after": "60"}, 2, 60.0),
    ("429_retry_after_too_long", 429, {"retry-after": "61"}, 1, None),
    ("503_retry_after_too_long", 503, {"retry-after": "120"}, 1, None),
    ("429_without_retry_after", 429, {}, 1, None),
    ("503_without_retry_after_is_5xx", 503, {}, 1, 0.5),
    ("client_error_final", 400, {}, 1, None),
    ("not_found_final", 404, {}, 1, None),
    ("success", 200, {}, 1, None),
]


@pytest.mark.parametrize(("status", "headers", "attempt", "expected"), [c[1:] for c in RETRY_CASES],
                         ids=[c[0] for c in RETRY_CASES])
def test_retry_delay_follows_provider_rules(status, headers, attempt, expected) -> None:
    assert retry_delay(status, headers, attempt, backoff_s=0.5, max_backoff_s=8.0) == expected


# -------------------------------------------------------------------------- delivery (loopback)


class Receiver:
    """A loopback webhook receiver answering with a scripted list of statuses."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]):
        self.script = list(script)
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/hook", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.received.append((body, dict(request.headers)))
            status, headers = self.script.pop(0) if self.script else (200, {})
        return Response(status_code=status, headers=headers)


@pytest.fixture
def delivery():
    d = WebhookDelivery(backoff_s=0.02, max_backoff_s=0.1, max_attempts=4, timeout_s=2)
    yield d
    d.close()


DELIVERY_CASES = [
    ("ok_first_time", [(200, {})], [200], "delivered"),
    ("retried_after_500", [(500, {}), (200, {})], [500, 200], "delivered"),
    ("retried_after_409_twice", [(409, {}), (409, {}), (204, {})], [409, 409, 204], "delivered"),
    ("429_with_short_retry_after", [(429, {"Retry-After": "0"}), (200, {})], [429, 200], "delivered"),
    ("429_with_long_retry_after_gives_up", [(429, {"Retry-After": "3600"})], [429], "failed"),
    ("400_is_final", [(400, {})], [400], "failed"),
    ("gives_up_after_max_attempts", [(500, {})] * 6, [500] * 4, "failed"),
]


@pytest.mark.parametrize(("script", "statuses", "state"), [c[1:] for c in DELIVERY_CASES],
                         ids=[c[0] for c in DELIVERY_CASES])
def test_delivery_retries_per_policy_with_identical_bytes(delivery, script, statuses, state) -> None:
    receiver = Receiver(script)
    with SimServer(receiver.app) as server:
        headers = {"X-Sig": "abc", "Content-Type": "application/json"}
        inv = delivery.send(f"{server.url}/hook", b'{"a": 1}', headers)
        assert delivery.drain(10)
    assert inv.statuses == statuses
    assert inv.state == state
    assert len(receiver.received) == len(statuses)
    bodies = {body for body, _ in receiver.received}
    sigs = {headers["x-sig"] for _, headers in receiver.received}
    assert bodies == {b'{"a": 1}'} and sigs == {"abc"}


def test_delivery_retries_connection_errors_and_records_them(delivery) -> None:
    with SimServer(Starlette()) as server:
        dead_url = f"{server.url}/hook"
    inv = delivery.send(dead_url, b"{}", {})
    assert delivery.drain(10)
    assert inv.statuses == [None] * 4
    assert inv.state == "failed"
    assert all(a.error for a in inv.attempts)


def test_send_does_not_block_on_a_slow_receiver(delivery) -> None:
    gate = threading.Event()

    async def slow(request: Request) -> Response:
        import asyncio

        while not gate.is_set():
            await asyncio.sleep(0.01)
        return Response(status_code=200)

    app = Starlette(routes=[Route("/hook", slow, methods=["POST"])])
    with SimServer(app) as server:
        inv = delivery.send(f"{server.url}/hook", b"{}", {})
        assert not delivery.drain(0.2)
        assert inv.state == "pending"
        gate.set()
        assert delivery.drain(5)
    assert inv.state == "delivered"


# ---------------------------------------------------------------------------- server + helpers


def test_sim_server_picks_free_port_and_builds_absolute_urls() -> None:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"next": absolute_url(request, "/api/v2/x.json", {"page[size]": 2, "q": None})})

    app = Starlette(routes=[Route("/", echo)])
    with SimServer(app) as a, SimServer(app) as b:
        assert a.port != b.port and a.port > 0
        assert a.url == f"http://127.0.0.1:{a.port}"
        assert httpx.get(a.url + "/").json() == {"next": f"{a.url}/api/v2/x.json?page[size]=2"}
    with pytest.raises(httpx.ConnectError):
        httpx.get(a.url + "/", timeout=1)


def _basic(raw: str) -> str:
    return "Basic " + base64.b64encode(raw.encode()).decode()


AUTH_CASES = [
    ("zendesk_token_user", _basic("a@b.c/token:T:x"), ("a@b.c/token", "T:x")),
    ("lowercase_scheme", "basic " + _basic("u:p")[6:], ("u", "p")),
    ("no_colon", _basic("nocolon"), None),
    ("not_base64", "Basic %%%", None),
    ("bearer_is_not_basic", "Bearer abc", None),
    ("missing", None, None),
]


@pytest.mark.parametrize(("header", "expected"), [c[1:] for c in AUTH_CASES], ids=[c[0] for c in AUTH_CASES])
def test_parse_basic_auth(header, expected) -> None:
    assert parse_basic_auth(header) == expected


def test_parse_bearer_and_iso_utc() -> None:
    assert parse_bearer("Bearer tok") == "tok"
    assert parse_bearer("Basic tok") is None
    assert parse_bearer("Bearer ") is None
    assert iso_utc(1713374290.9) == "2024-04-17T17:18:10Z"
