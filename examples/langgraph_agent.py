"""A LangGraph agent working a helpdesk through deskhand's tools (`pip install 'deskhand[langchain]'`).

    python examples/langgraph_agent.py                          # offline: nothing leaves the machine
    OPENAI_API_KEY=sk-… python examples/langgraph_agent.py --model gpt-4o-mini   # a real model

It starts the Zendesk simulator with one ticket, connects it to a throwaway deskhand store as the account
`acme`, makes an API key with read and write scopes, and gives a LangGraph ReAct agent deskhand's tools
(deskhand.tools.langchain: the same tools `deskhand mcp` serves, run through the unified API). The agent
is asked to look at the ticket, add an internal note and set it pending; the simulator's own record of
the ticket is printed afterwards (JSON), so what the agent did is visible where the helpdesk keeps it.

Offline, the model is deskhand's fake LLM server (deskhand.testing.fake_llm) speaking the OpenAI API:
it answers from a script as a model would (first a list_tickets call, then a comment and a status
change, then a summary), while everything else is real: LangGraph runs the loop, the tools go through
deskhand's API to the simulator, and each tool's answer goes back to the model. To point it at your own
helpdesk instead, connect an account (`deskhand connect …`), make a key (`deskhand keys create`) and
call `toolset(Runtime.open(), key, Options(allow_writes=True))` as `run()` does.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from deskhand.api.keys import create_key
from deskhand.providers import open_connector
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import registry
from deskhand.tools.langchain import toolset
from deskhand.tools.runner import Options

ACCOUNT = "acme"
SUMMARY = "Summary: the nightly export stopped; asked the customer for the job id."


def offline_model(ticket_id: str) -> tuple[Any, Any]:
    """deskhand's fake LLM server, scripted as a model working this ticket, and a ChatOpenAI on it."""
    from langchain_openai import ChatOpenAI

    from deskhand.testing.fake_llm import FakeLLMServer, Reply, ToolCalls

    fake = FakeLLMServer([
        ToolCalls(("get_ticket", {"ticket_id": ticket_id})),
        ToolCalls(("create_comment", {"ticket_id": ticket_id, "visibility": "internal", "body": SUMMARY}),
                  ("update_ticket", {"ticket_id": ticket_id, "status": "pending"})),
        Reply(text=f"Added an internal summary to {ticket_id} and set it pending."),
    ]).start()
    return fake, ChatOpenAI(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="offline", max_retries=0)


def run(model_name: str | None = None) -> dict[str, Any]:
    from langgraph.prebuilt import create_react_agent

    spec = registry.get("zendesk")
    sim = spec.start(registry.SimConfig(limits=False))
    fake = None
    rt = Runtime.open(Settings(database_url=f"sqlite:///{Path(tempfile.mkdtemp()) / 'deskhand.db'}",
                               secret_key=Fernet.generate_key().decode()))
    try:
        config = spec.connect_to(sim)
        rt.store.save_account(ACCOUNT, "zendesk", config, tenant_id="example", overrides=spec.overrides_to(sim))
        with open_connector("zendesk", "example", config) as helpdesk:
            remote = helpdesk.create_ticket(subject="Nightly export stopped", body="Our nightly CSV export has "
                                            "not run since Monday.", requester_email="ann@example.test").id
        ticket_id = f"{ACCOUNT}:{remote}"
        _, key = create_key(rt.store.engine, "example", ["tickets:read", "tickets:write"])
        tools = toolset(rt, key, Options(allow_writes=True))
        if model_name is None:
            fake, model = offline_model(ticket_id)
        else:
            from langchain_openai import ChatOpenAI

            model = ChatOpenAI(model=model_name)
        with warnings.catch_warnings():  # langgraph 1.x suggests langchain's create_agent; this one is langgraph's own
            warnings.simplefilter("ignore", DeprecationWarning)
            agent = create_react_agent(model, tools)
        state = agent.invoke({"messages": [("user", f"Look at ticket {ticket_id}, add an internal note that "
                                                    "summarises it, then set it pending.")]})
        called = [c["name"] for m in state["messages"] for c in (getattr(m, "tool_calls", None) or [])]
        with open_connector("zendesk", "example", config) as helpdesk:
            held = helpdesk.get_ticket(remote)
        return {
            "ticket_id": ticket_id, "tools_called": called, "answer": state["messages"][-1].content,
            "tool_results": [m.content for m in state["messages"] if getattr(m, "type", "") == "tool"],
            "helpdesk": {"status": held.status.value,
                         "comments": [{"body": c.body.strip(), "visibility": c.visibility.value}
                                      for c in held.comments]},
            "model_requests": len(fake.requests) if fake is not None else None,
        }
    finally:
        rt.close()
        sim.stop()
        if fake is not None:
            fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="an OpenAI model (needs OPENAI_API_KEY); default: offline fake model")
    print(json.dumps(run(parser.parse_args().model), indent=1))


if __name__ == "__main__":
    main()
