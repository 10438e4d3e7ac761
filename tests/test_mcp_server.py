"""`deskhand mcp` over stdio (spawned) and streamable HTTP (/mcp on the gateway), driven by the
official `mcp` client, against the simulator of every provider in the contract CASES, each an account
of one tenant: the tools are listed with valid JSON Schemas and examples, tickets are listed on every
provider, an internal comment (a public one where the helpdesk has no internal notes: Trello, Linear,
which refuse the internal one, sending nothing) and a status change are seen in each simulator; a key
without the write scope, a read-only server and a dry run (stdio and HTTP) change nothing; accounts
pinned over HTTP (`/mcp?account=…`, `--mcp-account`) keep the others out, and never widen a key's
tenant."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from deskhand.api.keys import create_key
from deskhand.demo.scenario import KB_DIR
from deskhand.knowledge import add_folder
from deskhand.model import Status, Visibility
from deskhand.providers import open_connector
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.testing.receiver import WebhookReceiver
from tests.test_contract import CASES, SECRET, Case

REPO = Path(__file__).resolve().parents[1]
WRITE_TOOLS = {"create_comment", "update_ticket", "create_ticket", "approve_draft", "reject_draft"}


@dataclass
class Desk:
    settings: Settings
    sims: dict[str, tuple[Case, Any]]  # account -> (case, running simulator)
    tickets: dict[str, str]  # account -> remote id of a ticket made in its simulator
    writer: str
    reader: str

    def direct(self, account: str) -> Any:
        case, sim = self.sims[account]
        return open_connector(case.name, "check", case.config(sim.url), overrides=case.overrides(sim))

    def visibility(self, account: str) -> str:
        """The comment the tests post: internal where the helpdesk has internal notes, else public."""
        return "internal" if self.sims[account][0].notes else "public"


@pytest.fixture
def desk(store: Store, settings: Settings) -> Iterator[Desk]:
    with ExitStack() as stack:
        receiver = WebhookReceiver()
        stack.callback(receiver.close)
        sims, tickets = {}, {}
        for case in CASES:
            sim = case.start(receiver.url, SECRET)
            stack.callback(sim.stop)
            account = f"acme-{case.name}"
            store.save_account(account, case.name, case.config(sim.url), tenant_id="tenant-a",
                               overrides=case.overrides(sim))
            sims[account] = (case, sim)
            with open_connector(case.name, "check", case.config(sim.url), overrides=case.overrides(sim)) as c:
                extra = {"requester_name": "Ann Customer", "requester_email": "ann@example.test"}
                tickets[account] = c.create_ticket(subject=f"Export broken on {case.name}",
                                                   body="The nightly export stopped.", **extra).id
        add_folder(store, "tenant-a", KB_DIR)
        _, writer = create_key(store.engine, "tenant-a", ["tickets:read", "tickets:write"])
        _, reader = create_key(store.engine, "tenant-a", ["tickets:read"])
        yield Desk(settings, sims, tickets, writer, reader)


def session(desk: Desk, key: str, *flags: str) -> StdioServerParameters:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DESKHAND_DATABASE_URL": desk.settings.database_url,
           "DESKHAND_SECRET_KEY": desk.settings.secret_key, "DESKHAND_API_KEY": key}
    return StdioServerParameters(command=sys.executable, args=["-m", "deskhand.cli", "mcp", *flags], env=env,
                                 cwd=str(REPO))


def run(desk: Desk, key: str, flags: tuple[str, ...], script: Any) -> Any:
    async def main() -> Any:
        async with stdio_client(session(desk, key, *flags)) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            return await script(s)

    return anyio.run(main)


def payload(result: Any) -> Any:
    assert not result.isError, result.content[0].text
    return json.loads(result.content[0].text)


def error(result: Any) -> str:
    assert result.isError, result.content[0].text
    text: str = result.content[0].text
    assert "Traceback" not in text
    return text


def test_tools_list_tickets_comment_and_change_status_on_every_provider(desk: Desk) -> None:
    async def script(s: ClientSession) -> Any:
        tools = (await s.list_tools()).tools
        got: dict[str, Any] = {"tools": tools}
        for account, remote in desk.tickets.items():
            tid = f"{account}:{remote}"
            if desk.visibility(account) == "public":  # no internal notes: refused, nothing sent
                got[f"{account}-internal"] = error(await s.call_tool("create_comment", {
                    "ticket_id": tid, "body": f"Private on {account}", "visibility": "internal"}))
            got[account] = {
                "listed": payload(await s.call_tool("list_tickets", {"account": account, "fresh": True})),
                "note": payload(await s.call_tool("create_comment", {"ticket_id": tid, "body": f"Note on {account}",
                                                                     "visibility": desk.visibility(account)})),
                "solved": payload(await s.call_tool("update_ticket", {"ticket_id": tid, "status": "solved"})),
                "read": payload(await s.call_tool("get_ticket", {"ticket_id": tid})),
            }
        got["missing"] = error(await s.call_tool("get_ticket", {"ticket_id": "acme-zendesk:987654"}))
        got["bad"] = error(await s.call_tool("update_ticket", {"ticket_id": "acme-zendesk:1", "status": "exploded"}))
        return got

    got = run(desk, desk.writer, ("--allow-writes",), script)
    names = {t.name for t in got["tools"]}
    assert names >= {"list_tickets", "get_ticket", "create_comment", "update_ticket", "list_users", "list_teams"}
    assert "approve_draft" not in names, "the key has no review:write scope"
    for tool in got["tools"]:
        jsonschema.Draft202012Validator.check_schema(tool.inputSchema)
        examples = tool.inputSchema["examples"]
        assert examples and tool.description and "Example arguments" in tool.description
        jsonschema.validate(examples[0], tool.inputSchema)
    for account, remote in desk.tickets.items():
        tid = f"{account}:{remote}"
        assert tid in [t["id"] for t in got[account]["listed"]["data"]]
        visibility = Visibility(desk.visibility(account))
        assert got[account]["note"]["visibility"] == visibility.value
        assert got[account]["solved"]["status"] == "solved"
        assert f"Note on {account}" in [c["body"].strip() for c in got[account]["read"]["comments"]]
        with desk.direct(account) as direct:  # what the simulator itself holds
            held = direct.get_ticket(remote)
            assert held.status is Status.SOLVED
            assert (f"Note on {account}", visibility) in {(c.body.strip(), c.visibility) for c in held.comments}
            assert not [c for c in held.comments if "Private on" in c.body]
        if visibility is Visibility.PUBLIC:
            assert "internal" in got[f"{account}-internal"].lower(), got[f"{account}-internal"]
    assert {desk.sims[a][0].name for a in desk.tickets} >= {"trello", "linear"}
    assert got["missing"].startswith("not found")
    assert "invalid arguments" in got["bad"] or "validation" in got["bad"].lower()


def _held(desk: Desk) -> dict[str, tuple[Status, int]]:
    out = {}
    for account, remote in desk.tickets.items():
        with desk.direct(account) as direct:
            t = direct.get_ticket(remote)
            out[account] = (t.status, len(t.comments))
    return out


@pytest.mark.parametrize("key_name, flags, expected", [
    ("reader", ("--allow-writes",), "refused (403)"),
    ("writer", (), "read-only"),
], ids=["key-without-write-scope", "server-without-allow-writes"])
def test_writes_are_refused_without_write_scope_or_allow_writes(desk: Desk, key_name: str, flags: tuple[str, ...],
                                                                expected: str) -> None:
    account, remote = next(iter(desk.tickets.items()))
    before = _held(desk)

    async def script(s: ClientSession) -> Any:
        names = {t.name for t in (await s.list_tools()).tools}
        comment = await s.call_tool("create_comment", {"ticket_id": f"{account}:{remote}", "body": "Sneaky",
                                                       "visibility": "public"})
        update = await s.call_tool("update_ticket", {"ticket_id": f"{account}:{remote}", "status": "closed"})
        return names, error(comment), error(update)

    names, comment, update = run(desk, getattr(desk, key_name), flags, script)
    assert not names & WRITE_TOOLS and "list_tickets" in names
    assert expected in comment and expected in update
    assert _held(desk) == before


def test_dry_run_answers_each_write_with_its_provider_call_and_changes_nothing(desk: Desk) -> None:
    before = _held(desk)

    async def script(s: ClientSession) -> Any:
        out = {}
        for account, remote in desk.tickets.items():
            tid = f"{account}:{remote}"
            out[account] = (
                payload(await s.call_tool("create_comment", {"ticket_id": tid, "body": "Planned note",
                                                             "visibility": desk.visibility(account)})),
                payload(await s.call_tool("update_ticket", {"ticket_id": tid, "status": "solved",
                                                            "add_tags": ["planned"]})),
            )
        return out

    every = tuple(flag for account in desk.tickets for flag in ("--account", account))
    check_planned(desk, run(desk, desk.writer, ("--dry-run", *every), script))
    assert _held(desk) == before


def check_planned(desk: Desk, got: dict[str, Any]) -> None:
    """Each account's planned comment and update name the exact calls to its simulator."""
    assert set(got) == set(desk.tickets)
    for account, (comment, update) in got.items():
        _, sim = desk.sims[account]
        assert comment["dry_run"] is True
        [call] = comment["provider_calls"]
        assert call["method"] in ("POST", "PUT", "PATCH") and call["url"].startswith(sim.url)
        assert "Planned note" in json.dumps(call["json"])
        assert update["dry_run"] is True and len(update["provider_calls"]) == 2, update
        assert all(c["url"].startswith(sim.url) for c in update["provider_calls"])
        assert "planned" in json.dumps(update["provider_calls"])
        assert "api_token" not in json.dumps(update) and "Authorization" not in json.dumps(update)


def test_account_restriction_keeps_other_accounts_out_and_a_draft_writes_nothing(desk: Desk, store: Store) -> None:
    before = _held(desk)

    async def script(s: ClientSession) -> Any:
        listed = payload(await s.call_tool("list_tickets", {"fresh": True}))
        other = error(await s.call_tool("get_ticket", {"ticket_id": f"acme-jira:{desk.tickets['acme-jira']}"}))
        draft = payload(await s.call_tool("draft_reply", {"ticket_id": f"acme-zendesk:{desk.tickets['acme-zendesk']}"}))
        found = payload(await s.call_tool("search_knowledge", {"q": "I forgot my password and cannot log in"}))
        return listed, other, draft, found

    listed, other, draft, found = run(desk, desk.reader, ("--account", "acme-zendesk"), script)
    assert {t["account"] for t in listed["data"]} == {"acme-zendesk"}
    assert "not in an account served here" in other
    assert draft["route"] in ("auto_reply", "draft", "human", "ignore") and 0 <= draft["confidence"] <= 1
    assert "Export broken on zendesk" in draft["message"] and draft["category"]
    assert _held(desk) == before and store.list_decisions(limit=10) == []
    assert found["data"] and "password" in found["data"][0]["title"].lower(), found


# -- streamable HTTP at /mcp on the gateway ---------------------------------------------------------


def run_http(url: str, key: str | None, script: Any) -> Any:
    import httpx
    from mcp.client.streamable_http import streamable_http_client

    async def main() -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with httpx.AsyncClient(headers=headers, timeout=120) as http, \
                streamable_http_client(url, http_client=http) as (read, write, _), ClientSession(read, write) as s:
            await s.initialize()
            return await script(s)

    return anyio.run(main)


def test_the_same_tools_over_streamable_http_on_the_gateway_with_the_callers_key(desk: Desk, store: Store) -> None:
    import httpx

    from deskhand.gateway.app import create_app
    from deskhand.runtime import Runtime
    from deskhand.sim.base import SimServer
    from deskhand.tools.runner import Options

    rt = Runtime(store, desk.settings)
    gateway = SimServer(create_app(rt, workers=0, mcp=Options(allow_writes=True)), lifespan="on").start(
        timeout=120.0)
    try:
        url = f"{gateway.url}/mcp"
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        assert httpx.post(url, json=call).status_code == 401
        assert httpx.post(url, json=call, headers={"Authorization": "Bearer not-a-key"}).status_code == 401

        async def writes(s: ClientSession) -> Any:
            names = {t.name for t in (await s.list_tools()).tools}
            done = {}
            for account, remote in desk.tickets.items():
                tid = f"{account}:{remote}"
                done[account] = (
                    payload(await s.call_tool("list_tickets", {"account": account, "fresh": True})),
                    payload(await s.call_tool("create_comment", {"ticket_id": tid, "body": "Via HTTP",
                                                                 "visibility": desk.visibility(account)})),
                    payload(await s.call_tool("update_ticket", {"ticket_id": tid, "status": "pending"})),
                )
            return names, done

        names, done = run_http(url, desk.writer, writes)
        assert {"create_comment", "update_ticket"} <= names
        for account, remote in desk.tickets.items():
            assert f"{account}:{remote}" in [t["id"] for t in done[account][0]["data"]]
            with desk.direct(account) as direct:
                held = direct.get_ticket(remote)
                assert held.status is Status.PENDING
                assert ("Via HTTP", Visibility(desk.visibility(account))) in {(c.body.strip(), c.visibility)
                                                                              for c in held.comments}

        before = _held(desk)

        async def refused(s: ClientSession) -> Any:
            names = {t.name for t in (await s.list_tools()).tools}
            account, remote = next(iter(desk.tickets.items()))
            return names, error(await s.call_tool("update_ticket", {"ticket_id": f"{account}:{remote}",
                                                                    "status": "closed"}))

        names, said = run_http(url, desk.reader, refused)
        assert not names & WRITE_TOOLS and "refused (403)" in said
        assert _held(desk) == before
    finally:
        gateway.stop()
        rt.close()


class Gateway:
    """The gateway with /mcp served by `options`, on loopback."""

    def __init__(self, desk: Desk, store: Store, options: Any) -> None:
        from deskhand.gateway.app import create_app
        from deskhand.runtime import Runtime
        from deskhand.sim.base import SimServer

        self.rt = Runtime(store, desk.settings)
        self.server = SimServer(create_app(self.rt, workers=0, mcp=options), lifespan="on").start(timeout=120.0)
        self.url = f"{self.server.url}/mcp"

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.rt.close()


def test_dry_run_over_http_answers_each_write_with_its_provider_call_and_changes_nothing(desk: Desk,
                                                                                        store: Store) -> None:
    from deskhand.tools.runner import Options

    before = _held(desk)

    async def script(s: ClientSession) -> Any:
        names = {t.name for t in (await s.list_tools()).tools}
        out = {}
        for account, remote in desk.tickets.items():
            tid = f"{account}:{remote}"
            out[account] = (
                payload(await s.call_tool("create_comment", {"ticket_id": tid, "body": "Planned note",
                                                             "visibility": desk.visibility(account)})),
                payload(await s.call_tool("update_ticket", {"ticket_id": tid, "status": "solved",
                                                            "add_tags": ["planned"]})),
            )
        return names, out

    with Gateway(desk, store, Options(dry_run=True)) as gw:
        names, got = run_http(gw.url, desk.writer, script)
    assert {"create_comment", "update_ticket"} <= names
    check_planned(desk, got)
    assert _held(desk) == before


def test_accounts_pinned_over_http_keep_the_others_out_and_never_widen_a_tenant(desk: Desk, store: Store) -> None:
    from deskhand.tools.runner import Options

    zendesk, jira = f"acme-zendesk:{desk.tickets['acme-zendesk']}", f"acme-jira:{desk.tickets['acme-jira']}"
    _, stranger = create_key(store.engine, "tenant-b", ["tickets:read", "tickets:write"])

    async def pinned(s: ClientSession) -> Any:
        return (payload(await s.call_tool("list_tickets", {"fresh": True})),
                payload(await s.call_tool("get_ticket", {"ticket_id": zendesk})),
                error(await s.call_tool("get_ticket", {"ticket_id": jira})),
                error(await s.call_tool("list_tickets", {"account": "acme-jira"})))

    async def outsider(s: ClientSession) -> Any:
        return (error(await s.call_tool("list_tickets", {"fresh": True})),
                error(await s.call_tool("get_ticket", {"ticket_id": zendesk})))

    async def two(s: ClientSession) -> Any:
        return (error(await s.call_tool("list_tickets", {})),
                payload(await s.call_tool("list_tickets", {"account": "acme-jira", "fresh": True})),
                error(await s.call_tool("get_ticket", {"ticket_id": f"acme-front:{desk.tickets['acme-front']}"})))

    with Gateway(desk, store, Options(allow_writes=True)) as gw:
        listed, read, other, other_list = run_http(f"{gw.url}?account=acme-zendesk", desk.reader, pinned)
        assert {t["account"] for t in listed["data"]} == {"acme-zendesk"}
        assert read["id"] == zendesk
        assert "not in an account served here" in other and "not served here" in other_list
        # tenant B pinning tenant A's account sees nothing of it
        listed_b, read_b = run_http(f"{gw.url}?account=acme-zendesk", stranger, outsider)
        assert listed_b.startswith("not found") and read_b.startswith("not found")
        ambiguous, jira_listed, front = run_http(f"{gw.url}?account=acme-zendesk&account=acme-jira", desk.reader, two)
        assert "give account" in ambiguous and {t["account"] for t in jira_listed["data"]} == {"acme-jira"}
        assert "not in an account served here" in front
    with Gateway(desk, store, Options(accounts=frozenset({"acme-jira"}))) as gw:  # deskhand serve --mcp-account
        narrowed = run_http(f"{gw.url}?account=acme-zendesk", desk.reader, outsider)  # pin outside the server's
        assert all("none of the accounts pinned" in said for said in narrowed)
