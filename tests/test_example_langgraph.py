"""examples/langgraph_agent.py runs as a user would run it, offline: a LangGraph ReAct agent with
deskhand's LangChain tools, its model deskhand's fake LLM server (OpenAI API on loopback), works a
ticket in the Zendesk simulator; the simulator ends up holding what the agent did. Any connection
beyond loopback would go to a proxy that does not exist (HTTP(S)_PROXY), so the run is offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("langgraph")
pytest.importorskip("langchain_openai")

REPO = Path(__file__).resolve().parents[1]


def test_the_langgraph_example_works_a_ticket_in_the_simulator_offline() -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DESKHAND_", "OPENAI_", "LANGSMITH_", "LANGCHAIN_"))}
    env.update(PYTHONPATH=str(REPO), HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    done = subprocess.run([sys.executable, str(REPO / "examples" / "langgraph_agent.py")], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout)
    assert got["tools_called"] == ["get_ticket", "create_comment", "update_ticket"]
    assert "Nightly export stopped" in got["tool_results"][0]  # the tool's answer went back to the model
    assert got["model_requests"] == 3 and got["ticket_id"] in got["answer"]
    assert got["helpdesk"]["status"] == "pending"
    assert {"body": "Summary: the nightly export stopped; asked the customer for the job id.",
            "visibility": "internal"} in got["helpdesk"]["comments"]
