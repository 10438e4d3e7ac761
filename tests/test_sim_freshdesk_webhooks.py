"""Freshdesk automation-rule webhooks from the simulator: bodies, headers, auth, retries."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deskhand.sim.base import SimServer
from deskhand.sim.freshdesk import DEFAULT_API_KEY, FreshdeskSim, start
from deskhand.sim.freshdesk_state import FreshdeskState
from deskhand.sim.freshdesk_webhooks import RETRY_DELAYS_S, Rule, render

AUTH = (DEFAULT_API_KEY, "X")
SCALE = 1e-4  # 5/30/60 minutes become 30/180/360 ms


class Receiver:
    """Loopback endpoint: the first ``fail_first`` deliveries get ``fail_status``."""

    def __init__(self, fail_first: int = 0, fail_status: int = 503):
        self.fail_left, self.fail_status = fail_first, fail_status
        self.calls: list[tuple[bytes, dict[str, str], int]] = []
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/hook", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            status = self.fail_status if self.fail_left > 0 else 200
            self.fail_left -= 1
            self.calls.append((body, dict(request.headers), status))
        return Response(status_code=status)

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(b)["freshdesk_webhook"] for b, _, s in self.calls if s == 200]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()
    with SimServer(rec.app) as server:
        yield rec, f"{server.url}/hook"


def drained(sim: FreshdeskSim) -> None:
    assert sim.delivery.drain(10)


def create(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"subject": 'Say "hi" \\ now', "description": "<b>help</b>", "email": "cus@example.com", **fields}
    return http.post("/tickets", json=body).json()


def test_deskhand_rules_send_created_commented_and_updated_with_the_secret_header(receiver) -> None:
    rec, url = receiver
    with start(webhook_url=url, webhook_secret="s3cret", retry_scale=SCALE) as sim, \
            httpx.Client(base_url=f"{sim.url}/api/v2", auth=AUTH) as http:
        ticket = create(http)
        http.post(f"/tickets/{ticket['id']}/reply", json={"body": "On it"})
        http.post(f"/tickets/{ticket['id']}/notes", json={"body": "internal only"})
        http.put(f"/tickets/{ticket['id']}", json={"status": 3})
        http.put(f"/tickets/{ticket['id']}", json={"tags": ["x"]})  # no rule event: nothing sent
        drained(sim)
    events = [(p["event"], p["triggered_event"]) for p in rec.payloads()]
    assert events == [("ticket_created", "{ticket_action:created}"), ("comment_added", "{reply_sent:sent}"),
                      ("comment_added", "{note_type:private}"),
                      ("ticket_updated", "{status:{from:2,to:3}}")]  # numbers, as real deliveries have them
    first, last = rec.payloads()[0], rec.payloads()[-1]
    assert first["ticket_id"] == ticket["id"] and first["ticket_subject"] == 'Say "hi" \\ now'
    assert first["requester_email"] == "cus@example.com" and first["ticket_status"] == "Open"
    assert rec.payloads()[2]["latest_private_comment"].endswith("internal only</p></div>")
    assert last["ticket_status"] == "Pending" and last["latest_public_comment"].startswith("Admin Agent : ")
    assert all(h["x-deskhand-secret"] == "s3cret" and h["content-type"] == "application/json"
               for _, h, _ in rec.calls)
    assert all("x-freshdesk-signature" not in h for _, h, _ in rec.calls)  # Freshdesk signs nothing


def test_basic_auth_rule_sends_an_authorization_header(receiver) -> None:
    rec, url = receiver
    with start(webhook_url=url, webhook_basic_auth=("deskhand", "pw"), retry_scale=SCALE) as sim:
        sim.state.create_ticket({"subject": "s", "description": "d", "email": "a@x.test"})
        drained(sim)
    [(_, headers, _)] = rec.calls
    assert headers["authorization"] == "Basic " + base64.b64encode(b"deskhand:pw").decode()
    assert "x-deskhand-secret" not in headers


def test_customer_reply_fires_requester_rules_and_reports_the_reopen(receiver) -> None:
    rec, url = receiver
    rules = [Rule("customer replied", url, runs_on="ticket_update", events=("reply_sent",), performer="requester",
                  simple_fields=("ticket.id", "ticket.status", "ticket.latest_public_comment"))]
    with start(rules=rules, retry_scale=SCALE) as sim, httpx.Client(base_url=f"{sim.url}/api/v2", auth=AUTH) as http:
        ticket = create(http, status=4)
        http.post(f"/tickets/{ticket['id']}/reply", json={"body": "agent says"})  # agent: rule does not fire
        http.post(f"/tickets/{ticket['id']}/reply", json={"body": "Still broken", "user_id": ticket["requester_id"]})
        drained(sim)
    [payload] = rec.payloads()
    assert payload["ticket_id"] == ticket["id"] and payload["ticket_status"] == "Open"
    assert payload["ticket_latest_public_comment"].startswith("cus : ") and "Still broken" in \
        payload["ticket_latest_public_comment"]


def test_failed_delivery_is_retried_on_freshdesks_schedule_with_the_same_bytes() -> None:
    rec = Receiver(fail_first=2)
    with SimServer(rec.app) as server, start(webhook_url=f"{server.url}/hook", webhook_secret="k",
                                             retry_scale=SCALE) as sim:
        sim.state.create_ticket({"subject": "s", "description": "d", "email": "a@x.test"})
        drained(sim)
        [invocation] = sim.delivery.invocations
    assert [s for _, _, s in rec.calls] == [503, 503, 200]
    assert len({(b, h["x-deskhand-secret"]) for b, h, _ in rec.calls}) == 1
    gaps = [b.at - a.at for a, b in zip(invocation.attempts, invocation.attempts[1:], strict=False)]
    assert gaps[0] >= RETRY_DELAYS_S[0] * SCALE and gaps[1] >= RETRY_DELAYS_S[1] * SCALE


def test_delivery_is_dropped_after_the_fourth_failure() -> None:
    rec = Receiver(fail_first=10, fail_status=500)
    with SimServer(rec.app) as server, start(webhook_url=f"{server.url}/hook", retry_scale=SCALE) as sim:
        sim.state.create_ticket({"subject": "s", "description": "d", "email": "a@x.test"})
        drained(sim)
        assert [i.state for i in sim.delivery.invocations] == ["failed"]
    assert len(rec.calls) == 4


def test_inactive_rules_and_seeding_send_nothing(receiver) -> None:
    rec, url = receiver
    with start(rules=[Rule("off", url, active=False)], webhook_url=url, retry_scale=SCALE) as sim:
        sim.state.seed_tickets(5)
        drained(sim)
    assert rec.calls == []


@pytest.mark.parametrize(("template", "expected"), [
    ('{"id": {{ticket.id}}}', {"id": 7}),
    ('{"s": "{{ticket.subject}}"}', {"s": 'a "quoted" \\ line\nnext'}),
    ('{"x": "{{ticket.no_such_thing}}"}', {"x": ""}),
    ('{"t": "{{ ticket.tags }}"}', {"t": "vip,billing"}),
], ids=["number_unquoted", "string_escaped", "unknown_empty", "tags_comma_joined"])
def test_advanced_content_substitutes_placeholders_as_text(template, expected) -> None:
    values = {"ticket.id": 7, "ticket.subject": 'a "quoted" \\ line\nnext', "ticket.tags": "vip,billing"}
    assert json.loads(render(template, values)) == expected


def test_state_without_rules_sends_nothing_and_api_calls_do_not_wait_for_receivers() -> None:
    state = FreshdeskState()
    with start(state, retry_scale=SCALE) as sim, httpx.Client(base_url=f"{sim.url}/api/v2", auth=AUTH) as http:
        assert create(http)["id"] == 1
        assert sim.delivery.invocations == []


def wait_until(condition, what: str, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g}s"
        time.sleep(0.01)


def test_deliveries_spend_api_credits_and_wait_an_hour_when_the_budget_is_spent(receiver) -> None:
    from deskhand.sim.base import ManualClock

    rec, url = receiver
    clock = ManualClock()
    with start(FreshdeskState(clock=clock), clock=clock, rate_limit=2, webhook_url=url, retry_scale=1e-4) as sim:
        for i in range(3):
            sim.state.create_ticket({"subject": f"s{i}", "description": "d", "email": "a@x.test"})
        drained(sim)
        assert len(rec.calls) == 2 and sim.state.listeners[0].deferred >= 1  # the third waits its hour
        clock.advance(60)  # the budget's window rolls over: the deferred delivery goes out
        wait_until(lambda: len(rec.calls) == 3, "the deferred delivery")
    assert sorted(p["ticket_id"] for p in rec.payloads()) == [1, 2, 3]


def test_a_delivery_deferred_for_a_day_is_dropped(receiver) -> None:
    from deskhand.sim.base import ManualClock
    from deskhand.sim.freshdesk_webhooks import DEFER_HOURS

    rec, url = receiver
    clock = ManualClock()
    with start(FreshdeskState(clock=clock), clock=clock, rate_limit=1, webhook_url=url, retry_scale=1e-5) as sim:
        for i in range(2):
            sim.state.create_ticket({"subject": f"s{i}", "description": "d", "email": "a@x.test"})
        dispatcher = sim.state.listeners[0]
        wait_until(lambda: len(dispatcher.dropped) == 1, "the drop")
        assert dispatcher.deferred == DEFER_HOURS and len(rec.calls) == 1


def test_the_readme_tells_admins_the_body_the_simulator_sends() -> None:
    import re
    from pathlib import Path

    from deskhand.sim.freshdesk_webhooks import DESKHAND_TEMPLATE

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (documented,) = re.findall(r"```json\n(\{\"freshdesk_webhook\".*?)\n```", readme, re.DOTALL)
    values = {"ticket.id": 5, "ticket.subject": 'a "b"', "triggered_event": "{ticket_action:created}"}
    ours = DESKHAND_TEMPLATE.replace("EVENT", "ticket_created")
    assert json.loads(render(documented, values)) == json.loads(render(ours, values))
