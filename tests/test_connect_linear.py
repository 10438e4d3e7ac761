"""Bad input for Linear (CHECKLIST point 7) against the Linear simulator over loopback: `deskhand connect
linear` asks the API about the team and the pinned workflow states before storing anything (a team of
another workspace, a private team the key's user is not in, a state of another team are refused with
the ones the key can see named); a wrong key and a simulator that is down are one line naming the
option to fix; nothing is stored and nothing is created in Linear. Through the gateway, a signed but
malformed delivery is refused and stores nothing; an issue in a state deskhand cannot map is a clear
error, not a guess."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.errors import PayloadError
from deskhand.gateway.app import create_app as gateway_app
from deskhand.providers import open_connector
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim.base import SimServer
from deskhand.sim.linear import create_app
from deskhand.sim.linear_state import LinearState
from deskhand.store import Store

KEY = "lin_api_connect_test"
SECRET = "linear-connect-secret"
runner = CliRunner()


class Sim:
    """Team Support (the account's), a public team Ops, and a private team Security whose only member
    is someone else: the key's user sees Support and Ops."""

    def __init__(self) -> None:
        self.state = LinearState()
        outsider = self.state.add_user("Sam Secret", "sam@acme.test")
        self.ops = self.state.add_team("Ops", "OPS")
        self.security = self.state.add_team("Security", "SEC", private=True, members=[outsider["id"]])
        self.app = create_app(self.state, api_key=KEY)
        self.server = SimServer(self.app)

    @property
    def url(self) -> str:
        return self.server.url

    def state_id(self, team: dict[str, Any], name: str) -> str:
        return str(self.state.state_named(team["id"], name)["id"])

    def written(self) -> tuple[int, int, int, int]:
        """What a connect could have created in Linear: webhooks, labels, issues, comments."""
        s = self.state
        return len(s.webhooks), len(s.labels), len(s.issues), len(s.comments)


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    running = Sim()
    running.server.start()
    yield running
    running.server.stop()
    running.app.state.delivery.close()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DESKHAND_SECRET_KEY", Fernet.generate_key().decode())
    return tmp_path


def connect_args(sim: Sim, **changes: str) -> list[str]:
    values = {"--api-key": KEY, "--team-id": sim.state.team["id"], "--base-url": sim.url, "--webhook-secret": SECRET,
              **changes}
    return ["connect", "linear", "--name", "lin", *[x for kv in values.items() for x in kv]]


def accounts() -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(runner.invoke(app, ["accounts", "list", "--json"]).stdout)["accounts"]
    return listed


def refused(result: Any, *expected: str) -> str:
    out: str = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1, out
    for text in expected:
        assert text in out, out
    assert "nothing was stored" in out or "not one of" in out, out
    assert accounts() == []
    return out


def test_connect_stores_an_account_whose_team_and_pinned_states_are_the_keys(sim: Sim, env: Path) -> None:
    team = sim.state.team
    pending, on_hold = sim.state_id(team, "Waiting for customer"), sim.state_id(team, "On hold")
    result = runner.invoke(app, [*connect_args(sim), "--set", f"status.pending={pending}",
                                 "--set", f"status.on_hold={on_hold}"])
    assert result.exit_code == 0, result.output
    (account,) = accounts()
    assert account["config"]["team_id"] == team["id"] and KEY not in json.dumps(account)


def test_accounts_set_asks_linear_about_a_pinned_state_too(sim: Sim, env: Path) -> None:
    assert runner.invoke(app, connect_args(sim)).exit_code == 0
    other = sim.state_id(sim.ops, "On hold")
    result = runner.invoke(app, ["accounts", "set", "lin", f"status.on_hold={other}"])
    assert result.exit_code == 2 and f"--set status.on_hold={other}: not one of" in result.output, result.output
    assert accounts()[0]["overrides"] == {}
    mine = sim.state_id(sim.state.team, "On hold")
    assert runner.invoke(app, ["accounts", "set", "lin", f"status.on_hold={mine}"]).exit_code == 0
    assert accounts()[0]["overrides"] == {"status": {"on_hold": mine}}


@pytest.mark.parametrize("which", ["unknown", "private"])
def test_a_team_the_key_cannot_see_is_refused_naming_the_teams_it_can(sim: Sim, env: Path, which: str) -> None:
    before = sim.written()
    team_id = "0b6a1b2c-0000-4000-8000-000000000000" if which == "unknown" else sim.security["id"]
    out = refused(runner.invoke(app, [*connect_args(sim, **{"--team-id": team_id}),
                                      "--register-webhook", "https://deskhand.example.com"]),
                  f"--team-id '{team_id}' does not exist", "not visible to these credentials",
                  f"{sim.state.team['id']} (Support)", f"{sim.ops['id']} (Ops)")
    assert "Security" not in out  # the private team is not shown to a key that cannot see it
    assert sim.written() == before  # no webhook registered for a team that was refused


@pytest.mark.parametrize(("pin", "expected"), [
    pytest.param(lambda s: "status.pending=8d7f0000-0000-4000-8000-000000000000", "--set status.pending=8d7f",
                 id="unknown-state"),
    pytest.param(lambda s: f"status.pending={s.state_id(s.ops, 'Waiting for customer')}", "--set status.pending=",
                 id="another-teams-state"),
    pytest.param(lambda s: "status.later=x", "'later' is not one of new, open, pending", id="unknown-status"),
])
def test_a_pinned_state_that_is_not_the_teams_is_refused(sim: Sim, env: Path, pin: Any, expected: str) -> None:
    before = sim.written()
    out = refused(runner.invoke(app, [*connect_args(sim), "--set", pin(sim)]), expected)
    if "later" not in expected:  # the team's states are named, with their names
        assert f"{sim.state_id(sim.state.team, 'Waiting for customer')} (Waiting for customer)" in out
        assert sim.state_id(sim.ops, "Waiting for customer") not in out.split("known:")[1]
    assert sim.written() == before


@pytest.mark.parametrize(("changes", "expected"), [
    pytest.param({"--api-key": "lin_api_wrong"}, ("refused these credentials", "AUTHENTICATION_ERROR",
                                                  "check --api-key"), id="wrong-key"),
    pytest.param({"--base-url": "http://127.0.0.1:9"}, ("did not answer", "cannot connect", "check --base-url"),
                 id="simulator-down"),
])
def test_wrong_credentials_or_a_helpdesk_that_is_down_name_what_to_fix(
        sim: Sim, env: Path, changes: dict[str, str], expected: tuple[str, ...]) -> None:
    before = sim.written()
    out = refused(runner.invoke(app, connect_args(sim, **changes)), *expected)
    assert "lin_api_wrong" not in out and KEY not in out  # a key is never echoed
    assert sim.written() == before


# ------------------------------------------------------------------------- through the gateway


@pytest.fixture
def gateway(sim: Sim, settings: Settings, store: Store) -> Iterator[tuple[Runtime, str]]:
    store.save_account("lin", "linear", {"api_key": KEY, "team_id": sim.state.team["id"], "base_url": sim.url,
                                         "webhook_secret": SECRET})
    rt = Runtime(store, settings)
    with SimServer(gateway_app(rt, workers=0)) as server:
        yield rt, f"{server.url}/webhooks/linear/lin"


def _signed(body: bytes) -> dict[str, str]:
    return {"content-type": "application/json; charset=utf-8", "linear-event": "Issue",
            "linear-delivery": hashlib.sha256(body).hexdigest()[:32],
            "linear-signature": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}


def _delivery(**changes: Any) -> dict[str, Any]:
    return {"action": "create", "type": "Issue", "createdAt": "2026-12-01T10:00:00.000Z",
            "data": {"id": "5c1d0000-0000-4000-8000-000000000001", "title": "Help"},
            "webhookTimestamp": int(time.time() * 1000), **changes}


@pytest.mark.parametrize(("body", "expected"), [
    pytest.param(lambda: json.dumps(_delivery()).encode()[:-7], "the body is not JSON", id="truncated"),
    pytest.param(lambda: json.dumps(_delivery(data={"title": "no id"})).encode(), "data.id", id="no-issue-id"),
    pytest.param(lambda: json.dumps(_delivery(data="SUP-1")).encode(), "data.id", id="data-not-an-object"),
    pytest.param(lambda: json.dumps([_delivery()]).encode(), "webhookTimestamp", id="not-an-object"),
])
def test_a_signed_but_malformed_delivery_is_refused_and_stores_nothing(
        gateway: tuple[Runtime, str], body: Any, expected: str) -> None:
    rt, url = gateway
    raw = body()
    answer = httpx.post(url, content=raw, headers=_signed(raw))
    assert 400 <= answer.status_code < 500 and expected in answer.json()["message"], answer.text
    assert rt.store.list_events() == []
    good = json.dumps(_delivery()).encode()  # the same account takes a well-formed one
    assert httpx.post(url, content=good, headers=_signed(good)).status_code == 200
    assert [e.event.kind.value for e in rt.store.list_events()] == ["ticket_created"]


def test_an_issue_in_a_state_deskhand_cannot_map_is_a_clear_error(sim: Sim) -> None:
    """A workflow state of a type Linear may add later (not one of triage … canceled), not pinned: the
    read names the state instead of guessing a status."""
    odd = {"id": "0dd50000-0000-4000-8000-000000000000", "name": "Parked", "type": "paused", "position": 99.0,
           "color": "#000000", "teamId": sim.state.team["id"], "createdAt": sim.state.now(),
           "updatedAt": sim.state.now()}
    sim.state.states[odd["id"]] = odd
    try:
        issue = sim.state.create_issue({"teamId": sim.state.team["id"], "title": "odd", "stateId": odd["id"]},
                                       sim.state.viewer["id"], quiet=True)
        config = {"api_key": KEY, "team_id": sim.state.team["id"], "base_url": sim.url}
        with open_connector("linear", "lin", config) as conn, \
                pytest.raises(PayloadError, match="status 'Parked' has no mapping") as refused:
            conn.get_ticket(issue["id"])
        assert f"deskhand accounts set <account> status.<status>={odd['id']}" in str(refused.value)
    finally:
        sim.state.issues.pop(issue["id"], None)
        sim.state.states.pop(odd["id"], None)
