"""A listing answered with an error body (200 without the items key, GraphQL `errors`, an HTML page)
during `deskhand sync --full`: the sync fails loudly, the replica is left as it was (no tombstones,
no emptied directory) and the next sync, once the helpdesk is itself again, completes."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.errors import BadResponse
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import jira, registry, zendesk
from deskhand.sim.base import SimServer
from deskhand.sim.jira_seed import seed_issues
from deskhand.sim.jira_state import DEFAULT_EMAIL as JIRA_EMAIL
from deskhand.sim.jira_state import DEFAULT_TOKEN as JIRA_TOKEN
from deskhand.sim.jira_state import JiraState
from deskhand.sim.zendesk_state import ZendeskState
from deskhand.sync import replica
from deskhand.sync.engine import sync_account
from deskhand.sync.loop import sync_round
from deskhand.testing.faults import Fault, FaultGate, every_get_but

runner = CliRunner()
TICKETS = 30


class GatedSim:
    def __init__(self) -> None:
        self.state = ZendeskState()
        self.state.seed_tickets(TICKETS, random.Random(7))
        self.app = zendesk.create_app(self.state, rate_limit=100_000, incremental_lag_s=0)
        self.gate = FaultGate(self.app)
        self.server = SimServer(self.gate).start()
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()
        self.app.state.delivery.close()


@pytest.fixture
def sim() -> Iterator[GatedSim]:
    gated = GatedSim()
    yield gated
    gated.stop()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    url, key = f"sqlite:///{tmp_path / 'bad.db'}", Fernet.generate_key().decode()
    monkeypatch.setenv("DESKHAND_DATABASE_URL", url)
    monkeypatch.setenv("DESKHAND_SECRET_KEY", key)
    return Settings(database_url=url, secret_key=key)


def summary(settings: Settings) -> dict[str, Any]:
    rt = Runtime.open(settings)
    try:
        return replica.summary(rt.store.engine, "acme")
    finally:
        rt.close()


def connect_and_sync(sim: GatedSim) -> None:
    args = ["connect", "zendesk", "--name", "acme", "--subdomain", "acme", "--email", "bot@acme.test",
            "--api-token", zendesk.DEFAULT_TOKEN, "--webhook-secret", "shh", "--base-url", sim.url]
    connected = runner.invoke(app, args)
    assert connected.exit_code == 0, connected.output
    first = runner.invoke(app, ["sync", "acme", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["replica"]["tickets"] == TICKETS


MAINTENANCE = Fault(body={"error": "maintenance"}, match=every_get_but("/users/me.json"))
GRAPHQL_ERRORS = Fault(
    body={"data": None, "errors": [{"message": "Service unavailable", "extensions": {"code": "INTERNAL"}}]},
    match=every_get_but("/users/me.json"),
)
HTML = Fault(body="<html><body>Down for maintenance</body></html>", content_type="text/html",
             match=every_get_but("/users/me.json"))
USERS_ONLY = Fault(body={"error": "maintenance"}, match=lambda method, path: path.startswith("/api/v2/users.json"))
CASES = [(MAINTENANCE, "maintenance"), (GRAPHQL_ERRORS, "Service unavailable"), (HTML, "not JSON"),
         (USERS_ONLY, "maintenance")]
IDS = ["200-without-items-key", "200-graphql-errors", "200-html-page", "directory-listing-only"]


@pytest.mark.parametrize(("fault", "message"), CASES, ids=IDS)
def test_a_full_sync_against_an_error_body_fails_and_leaves_the_replica_unchanged(
    sim: GatedSim, settings: Settings, fault: Fault, message: str
) -> None:
    connect_and_sync(sim)
    before = summary(settings)
    sim.gate.arm(fault)
    result = runner.invoke(app, ["sync", "acme", "--full", "--json"])
    assert sim.gate.hits > 0
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert said.startswith("error:") and message in said
    after = summary(settings)
    assert after == before
    assert (after["deleted"], after["tickets"]) == (0, TICKETS) and after["users"] > 0 and after["teams"] > 0


def test_the_next_sync_after_the_helpdesk_recovers_completes_without_deleting_anything(
    sim: GatedSim, settings: Settings
) -> None:
    connect_and_sync(sim)
    sim.gate.arm(MAINTENANCE)
    rt = Runtime.open(settings)
    try:
        assert sync_round(rt)["acme"].startswith("failed: ")  # the serve loop logs it and tries again
        sim.gate.disarm()
        assert not sync_round(rt)["acme"].startswith("failed")
    finally:
        rt.close()
    result = runner.invoke(app, ["sync", "acme", "--full", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert (stats["deleted"], stats["done"], stats["replica"]["tickets"]) == (0, True, TICKETS)
    pairs, _, comments = registry.get("zendesk").truth(sim.state)
    after = summary(settings)
    assert (after["checksum"], after["comments"]) == (replica.checksum(pairs), comments)


@pytest.fixture
def jira_sim() -> Iterator[tuple[SimServer, FaultGate, JiraState]]:
    state = JiraState.default()
    seed_issues(state, 40, random.Random(5), now=time.time())
    app_ = jira.create_app(state)
    gate = FaultGate(app_)
    server = SimServer(gate).start()
    yield server, gate, state
    server.stop()
    app_.state.sim.webhooks.close()


def test_a_failed_deletion_sweep_tombstones_nothing(jira_sim: tuple[SimServer, FaultGate, JiraState],
                                                     settings: Settings) -> None:
    server, gate, state = jira_sim
    rt = Runtime.open(settings)
    try:
        rt.store.save_account("acme", "jira", {"site": "acme", "email": JIRA_EMAIL, "api_token": JIRA_TOKEN,
                                               "base_url": server.url})
        assert sync_account(rt, "acme").written == 40
        before = replica.summary(rt.store.engine, "acme")
        # the sweep (the feed's POST /search/jql carries ?maxResults, the sweep's id listing does not)
        gate.arm(Fault(body={"error": "maintenance"}, match=lambda m, p: p.endswith("/search/jql"),
                       query=lambda q: q == ""))
        with pytest.raises(BadResponse, match="maintenance"):
            sync_account(rt, "acme", full=True)
        assert gate.hits == 1 and replica.summary(rt.store.engine, "acme") == before
        gate.disarm()
        assert sync_account(rt, "acme", full=True).deleted == 0
        assert replica.summary(rt.store.engine, "acme")["tickets"] == len(state.issues) == 40
    finally:
        rt.close()
