"""`deskhand doctor` against fake LLM servers over loopback: a llama-cpp-like server that refuses
json_schema, one that is down, one whose model answers outside the format, a malformed spec; and
`deskhand serve` refusing a malformed spec at start."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.testing.fake_llm import FakeLLMServer, Reply

runner = CliRunner()


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", f"sqlite:///{tmp_path / 'doctor.db'}")
    monkeypatch.setenv("DESKHAND_SECRET_KEY", Fernet.generate_key().decode())
    for name in ("DESKHAND_LLM", "DESKHAND_LLM_CLASSIFY", "DESKHAND_LLM_GENERATE", "DESKHAND_LLM_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DESKHAND_LLM_MAX_RETRIES", "0")
    return tmp_path


def _doctor() -> tuple[int, dict]:  # type: ignore[type-arg]
    result = runner.invoke(app, ["doctor", "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_offline_is_healthy() -> None:
    code, report = _doctor()
    assert code == 0 and report["ok"] and "offline" in report["checks"][-1]["detail"]


def test_a_llama_cpp_server_answers_and_the_doctor_names_the_format(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeLLMServer(response_formats={"text", "json_object"}) as fake:
        fake.add(Reply(json={"category": "billing", "urgency": "medium"}))
        monkeypatch.setenv("DESKHAND_LLM", f"openai:smollm2@{fake.openai_base_url}")
        code, report = _doctor()
    llm = report["checks"][-1]
    assert code == 0 and llm["ok"] and llm["category"] == "billing"
    assert (llm["asked_format"], llm["format"]) == ("json_schema", "json_object")
    assert "?format=json_object" in llm["advice"]
    assert fake.requests[1].body["response_format"]["schema"]["properties"]["category"]["enum"] == [
        "billing", "account_access", "other"]


def test_a_server_that_is_down_fails_with_its_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DESKHAND_LLM", f"openai:m@http://127.0.0.1:{port}/v1")
    code, report = _doctor()
    llm = report["checks"][-1]
    assert code == 1 and not report["ok"] and llm["error"].startswith("connection:")
    assert "host and port" in llm["advice"]


def test_a_model_answering_outside_the_format_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeLLMServer(default=Reply(text="Sure! The category is billing.")) as fake:
        monkeypatch.setenv("DESKHAND_LLM", f"openai:m@{fake.openai_base_url}?format=json_object")
        code, report = _doctor()
    llm = report["checks"][-1]
    assert code == 1 and llm["error"].startswith("invalid_output") and len(fake.requests) == 2  # one repair


def test_an_invented_category_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeLLMServer(default=Reply(json={"category": "API Key", "urgency": "low"})) as fake:
        monkeypatch.setenv("DESKHAND_LLM", f"openai:m@{fake.openai_base_url}")
        code, report = _doctor()
    assert code == 1 and "category" in report["checks"][-1]["error"]


@pytest.mark.parametrize("command", [["doctor"], ["serve", "--port", "0"], ["worker"]])
def test_a_malformed_spec_stops_at_start(monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    monkeypatch.setenv("DESKHAND_LLM", "openai:m@http://127.0.0.1:1/v1?format=yaml")
    monkeypatch.setattr("signal.signal", lambda *args: None)  # `worker` must not take this process's signals
    result = runner.invoke(app, command)
    assert result.exit_code == 2 and "format 'yaml' is not one of" in result.output
