"""What a tool's error says to the model that called it: the API's problem documents, one sentence each."""

from __future__ import annotations

import httpx
import pytest

from deskhand.tools.runner import _explain


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"title": "t", "status": status, "detail": detail}, headers=headers)


@pytest.mark.parametrize("response, says", [
    (problem(429, "zendesk is throttling", {"Retry-After": "37"}), "throttled: the helpdesk asks us to slow down; "
                                                                   "retry after 37 seconds"),
    (problem(429, "slow down"), "retry later"),
    (problem(404, "ticket 'acme:9'"), "not found: ticket 'acme:9'"),
    (problem(403, "this API key lacks the scope 'tickets:write'"), "refused (403): this API key lacks the scope"),
    (problem(422, "status is not one of …"), "invalid arguments: status is not one of"),
    (problem(502, "the helpdesk rejected the credentials"), "retry later"),
    (httpx.Response(500, text="<html>Internal Server Error</html>"), "the helpdesk or deskhand failed (500"),
], ids=["throttled-with-retry-after", "throttled-without", "not-found", "forbidden", "invalid", "bad-gateway",
        "not-json"])
def test_a_problem_becomes_a_sentence_the_model_can_act_on(response: httpx.Response, says: str) -> None:
    text = _explain(response)
    assert says in text and "Traceback" not in text and "<html>" not in text
