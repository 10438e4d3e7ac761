"""Issue 14: a property-based fuzzing run of the webhook routes (Hypothesis).

Random paths, methods, headers and bodies — unsigned, wrongly signed, and correctly signed garbage —
must never answer 5xx, must store nothing without a valid signature, and must not grow memory
without bound. Examples are derandomised (the same run every time) and bounded to keep it < 30 s.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deskhand.gateway.app import create_app
from deskhand.runtime import Runtime
from deskhand.store import Store
from tests.test_faults import SECRET, save_account, stored

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
HEADER_NAMES = st.sampled_from([
    "x-zendesk-webhook-signature", "x-zendesk-webhook-signature-timestamp", "content-type", "content-length",
    "x-hub-signature", "x-atlassian-webhook-identifier", "x-random", "transfer-encoding",
])
HEADER_VALUES = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80).map(str.strip)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30,
)
BODIES = st.one_of(
    st.binary(max_size=2048),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.integers(min_value=1, max_value=3000).map(lambda d: b"[" * d + b"]" * d),  # nested deep
    st.integers(min_value=900_000, max_value=1_200_000).map(lambda n: b" " * n),  # around the size limit
    st.builds(lambda t, i: json.dumps({"type": t, "id": i, "detail": {"id": i}, "subject": f"zen:ticket:{i}"}).encode(),
              st.sampled_from(["zen:event-type:ticket.created", "zen:event-type:ticket.comment_added", "x"]), TEXT),
)
PATHS = st.one_of(
    st.sampled_from(["/webhooks/zendesk/acme", "/webhooks/jira/acme", "/webhooks/zendesk/nobody",
                     "/webhooks/zendesk/acme/extra", "/webhooks//acme", "/webhooks/zendesk/", "/webhooks"]),
    TEXT.map(lambda t: "/webhooks/zendesk/" + "".join(c for c in t if c.isalnum())),
)


@pytest.fixture
def client(store: Store) -> Iterator[tuple[TestClient, Any]]:
    save_account(store)
    app = create_app(Runtime(store), body_timeout_s=5.0)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, app


def _sign(body: bytes, ts: str) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), ts.encode() + body, hashlib.sha256).digest()).decode()


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


@FUZZ
@given(path=PATHS, method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]), body=BODIES,
       headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4))
def test_unsigned_or_badly_signed_requests_never_fail_and_store_nothing(
    client: tuple[TestClient, Any], store: Store, path: str, method: str, body: bytes, headers: dict[str, str]
) -> None:
    c, app = client
    headers = {k: v for k, v in headers.items() if k not in ("content-length", "transfer-encoding")}
    r = c.request(method, path, content=body, headers=headers)
    assert r.status_code < 500, (path, r.status_code, r.text[:200])
    assert stored(store) == ([], 0)
    assert len(app.state.accounts._rows) <= app.state.accounts.max_names


@FUZZ
@given(body=BODIES)
def test_signed_garbage_is_answered_without_a_server_error(client: tuple[TestClient, Any], body: bytes) -> None:
    c, _ = client
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {"x-zendesk-webhook-signature": _sign(body, ts), "x-zendesk-webhook-signature-timestamp": ts,
               "content-type": "application/json"}
    r = c.post("/webhooks/zendesk/acme", content=body, headers=headers)
    assert r.status_code in (200, 400, 413), (r.status_code, r.text[:200])


def test_memory_stays_bounded_over_many_oversized_deliveries(client: tuple[TestClient, Any], store: Store) -> None:
    c, _ = client
    before = _rss_mb()
    for i in range(30):  # 30 × 5 MB: read no further than the 1 MB limit each time
        r = c.post("/webhooks/zendesk/acme" if i % 2 else f"/webhooks/zendesk/nobody{i}", content=b"x" * 5_000_000)
        assert r.status_code in (404, 413)
    assert _rss_mb() - before < 150  # the test client itself holds each 5 MB body while sending it
    assert stored(store) == ([], 0)
