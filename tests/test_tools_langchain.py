"""deskhand.tools.langchain: the same tools as LangChain StructuredTools, against the Zendesk simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from deskhand.api.keys import create_key
from deskhand.model import Visibility
from deskhand.providers import open_connector
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.testing.receiver import WebhookReceiver
from deskhand.tools.runner import Options
from tests.test_contract import SECRET, ZENDESK

pytest.importorskip("langchain_core")


@pytest.fixture
def zendesk(store: Store, settings: Settings) -> Iterator[tuple[Runtime, Any, str, str]]:
    receiver = WebhookReceiver()
    sim = ZENDESK.start(receiver.url, SECRET)
    store.save_account("acme", "zendesk", ZENDESK.config(sim.url), tenant_id="t")
    with open_connector("zendesk", "check", ZENDESK.config(sim.url)) as c:
        remote = c.create_ticket(subject="Printer", body="It jams", requester_email="ann@example.test").id
    _, key = create_key(store.engine, "t", ["tickets:read", "tickets:write"])
    rt = Runtime(store, settings)
    yield rt, sim, key, remote
    rt.close()
    sim.stop()
    receiver.close()


def test_structured_tools_list_and_comment_through_the_api(zendesk: tuple[Runtime, Any, str, str]) -> None:
    from deskhand.tools.langchain import toolset

    rt, sim, key, remote = zendesk
    read_only = {t.name for t in toolset(rt, key)}
    assert "list_tickets" in read_only and "create_comment" not in read_only
    tools = {t.name: t for t in toolset(rt, key, Options(allow_writes=True))}
    listed = json.loads(tools["list_tickets"].invoke({"account": "acme", "fresh": True}))
    assert f"acme:{remote}" in [t["id"] for t in listed["data"]]
    made = json.loads(tools["create_comment"].invoke({"ticket_id": f"acme:{remote}", "body": "From LangChain",
                                                      "visibility": "internal"}))
    assert made["visibility"] == "internal"
    with open_connector("zendesk", "check", ZENDESK.config(sim.url)) as c:
        assert ("From LangChain", Visibility.INTERNAL) in {(x.body.strip(), x.visibility)
                                                           for x in c.list_comments(remote)}
    assert tools["get_ticket"].invoke({"ticket_id": "acme:424242"}).startswith("error: not found")
