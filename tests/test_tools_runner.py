"""What a tool's error says to the model that called it: the API's problem documents, one sentence each."""

from __future__ import annotations

from typing import Any

import anyio
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


# -- the review queue tools, in-process (the runner `deskhand mcp` uses), against a drafting loop ------


def test_review_tools_plan_in_dry_run_then_approve_and_reject_through_the_api(store: Any, settings: Any) -> None:
    from deskhand.api.keys import create_key
    from deskhand.testing.loop import sim_loop
    from deskhand.tools.mcp_server import api_app
    from deskhand.tools.runner import Options, Runner

    scopes = ["tickets:read", "tickets:write", "decisions:read", "review:write"]
    with sim_loop("zendesk", store, settings, mode="draft") as loop:
        _, key = create_key(store.engine, "default", scopes)
        drafts = []
        for subject in ("How do I reset my password?", "Password reset link?"):
            tid = loop.create(subject, f"{subject} I forgot my password. How do I reset it?")
            loop.drain()
            (d,) = [d for d in loop.decisions(tid) if d["route"] == "draft"]
            drafts.append((tid, int(d["id"])))
        app = api_app(loop.rt)

        def call(options: Options, name: str, args: dict[str, Any]) -> Any:
            async def go() -> Any:
                runner = Runner(app, options)
                try:
                    return await runner.call(key, name, args)
                finally:
                    await runner.aclose()

            return anyio.run(go)

        def public(tid: str) -> list[str]:
            return [c.body.strip() for c in loop.customer.list_comments(tid) if c.public]

        (tid, approved), (tid2, rejected) = drafts
        before = public(tid), public(tid2)
        dry = Options(dry_run=True)
        waiting = {d["decision_id"] for d in call(dry, "list_review_queue", {})["data"]}
        assert {approved, rejected} <= waiting
        plan = call(dry, "approve_draft", {"decision_id": approved})
        [sent] = plan["provider_calls"]
        assert sent["method"] in ("POST", "PUT") and tid in sent["url"] and plan["dry_run"] is True
        assert call(dry, "reject_draft", {"decision_id": rejected, "reason": "no"})["provider_calls"] == []
        assert (public(tid), public(tid2)) == before
        assert {approved, rejected} <= {d["decision_id"] for d in call(dry, "list_review_queue", {})["data"]}

        live = Options(allow_writes=True)
        draft = call(live, "get_draft", {"decision_id": approved})
        assert call(live, "approve_draft", {"decision_id": approved})["verdict"] == "approved"
        said = call(live, "reject_draft", {"decision_id": rejected, "reason": "Policy changed"})
        assert said["verdict"] == "rejected"
        assert draft["reply"].strip() in public(tid) and public(tid2) == before[1]
        assert call(live, "approve_draft", {"decision_id": approved})["verdict"] == "approved"  # once
        assert public(tid).count(draft["reply"].strip()) == 1


def test_a_throttled_helpdesk_is_a_tool_error_saying_when_to_retry(store: Any, settings: Any) -> None:
    from deskhand.api.keys import create_key
    from deskhand.runtime import Runtime
    from deskhand.sim.base import ManualClock
    from deskhand.tools.mcp_server import api_app
    from deskhand.tools.runner import Options, Runner, ToolError
    from tests.test_contract import ZENDESK

    sim = ZENDESK.start_limited(ManualClock())  # a budget of two reads
    rt = Runtime(store, settings)
    try:
        store.save_account("acme", "zendesk", ZENDESK.config(sim.url), tenant_id="t")
        _, key = create_key(store.engine, "t", ["tickets:read"])

        async def go() -> list[str]:
            runner = Runner(api_app(rt), Options())
            said = []
            try:
                for _ in range(4):
                    try:
                        await runner.call(key, "list_tickets", {"account": "acme", "fresh": True})
                    except ToolError as exc:
                        said.append(str(exc))
            finally:
                await runner.aclose()
            return said

        said = anyio.run(go)
        assert said and said[0].startswith("throttled:"), said
        seconds = int(said[0].split("retry after ")[1].split()[0])
        assert seconds >= 1
    finally:
        rt.close()
        sim.stop()
