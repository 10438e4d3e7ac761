"""The simulator registry: every registered simulator starts, connects a deskhand account, scripts
its people (each step raising the helpdesk's webhook) and reports a ground truth deskhand's sync
reproduces — one body for every provider."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from deskhand.cli.apps import app
from deskhand.errors import SignatureError
from deskhand.model import EventKind, Status
from deskhand.providers import open_connector
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import registry
from deskhand.sim.base import SimServer
from deskhand.sync import replica
from deskhand.sync.engine import sync_account
from deskhand.testing.receiver import WebhookReceiver

SECRET = "registry-secret"
SLUGS = registry.slugs()


def wait_until(condition, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g}s"
        time.sleep(0.02)


@pytest.fixture(params=SLUGS)
def running(request: pytest.FixtureRequest) -> Iterator[tuple[registry.RunningSim, WebhookReceiver]]:
    receiver = WebhookReceiver()
    spec = registry.get(request.param)
    sim = spec.start(registry.SimConfig(webhook_url=receiver.url, webhook_secret=SECRET, limits=False,
                                        quick_retries=True))
    yield sim, receiver
    sim.stop()
    receiver.close()


def test_the_builtin_simulators_are_registered_under_their_slugs() -> None:
    assert {"zendesk", "jira"} <= set(SLUGS)
    assert all(registry.get(slug).slug == slug for slug in SLUGS)


def test_an_unknown_slug_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"known: .*zendesk"):
        registry.get("nope")


def test_a_spec_registered_under_another_slug_is_refused() -> None:
    with pytest.raises(ValueError, match="registered as"):
        registry.register("other", registry.get(SLUGS[0]))


def test_every_simulator_is_a_deskhand_sim_command_with_its_own_options() -> None:
    result = CliRunner().invoke(app, ["sim", "--help"])
    assert result.exit_code == 0
    for spec in registry.every():
        assert spec.slug in result.output
        own = CliRunner().invoke(app, ["sim", spec.slug, "--help"], terminal_width=200)
        flags = ["--port", "--token", "--webhook-url", "--tickets", "--rate-limit",
                 *("--" + o.name.replace("_", "-") for o in spec.options)]
        assert own.exit_code == 0 and all(flag in own.output for flag in flags), own.output


def test_a_scripted_conversation_raises_the_helpdesks_webhooks(
        running: tuple[registry.RunningSim, WebhookReceiver]) -> None:
    sim, receiver = running
    spec = sim.spec
    config = spec.connect_to(sim)
    with open_connector(spec.slug, "acme", config, overrides=spec.overrides_to(sim)) as agent, \
            open_connector(spec.slug, "customer", spec.customer(config), overrides=spec.overrides_to(sim)) as customer:
        extra = {"requester_name": "Ann", "requester_email": "ann@example.test"} if spec.names_requester else {}
        ticket = customer.create_ticket(subject="Printer on fire", body="It is on fire.", **extra)

        def events() -> list[tuple[EventKind, str]]:
            out = []
            for headers, body in list(receiver.deliveries):
                try:
                    out += [(e.kind, e.ticket_id) for e in agent.parse_webhook(headers, body)]
                except SignatureError:  # pragma: no cover - would fail the assertion below
                    pass
            return out

        wait_until(lambda: (EventKind.TICKET_CREATED, ticket.id) in events(), "ticket_created webhook")
        spec.customer_says(sim, ticket.id, "Still on fire, please hurry.")
        wait_until(lambda: events().count((EventKind.COMMENT_ADDED, ticket.id)) >= 1, "comment webhook")
        spec.agent_says(sim, ticket.id, "Looking into it.", True, None)
        wait_until(lambda: events().count((EventKind.COMMENT_ADDED, ticket.id)) >= 2, "agent comment webhook")
        spec.set_status(sim, ticket.id, "solved")
        read = agent.get_ticket(ticket.id, with_comments=True)
    bodies = [c.body for c in read.comments]
    assert read.status is Status.SOLVED
    assert any("Still on fire" in b for b in bodies) and any("Looking into it." in b for b in bodies)


@pytest.mark.parametrize("slug", SLUGS)
def test_a_sync_of_a_seeded_simulator_equals_its_ground_truth(slug: str, tmp_path: Path) -> None:
    spec = registry.get(slug)
    with spec.start(registry.SimConfig(tickets=25, seed=3, feed_lag_s=0.0, limits=False)) as sim:
        rt = Runtime.open(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}",
                                   secret_key=Fernet.generate_key().decode()))
        rt.store.save_account("acme", slug, spec.connect_to(sim), overrides=spec.overrides_to(sim))
        assert sync_account(rt, "acme").done
        pairs, _, comments = spec.truth(sim.state)
        got = replica.summary(rt.store.engine, "acme")
        rt.close()
    assert len(pairs) == 25 and comments > 25
    assert (got["tickets"], got["comments"], got["checksum"]) == (25, comments, replica.checksum(pairs))


def test_a_server_whose_start_up_fails_is_reported_at_once_with_its_error() -> None:
    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            await receive()
            raise RuntimeError("no database")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="stopped before it was ready"):
        SimServer(app, lifespan="on").start(timeout=600)
    assert time.monotonic() - started < 300  # not the whole (generous) readiness deadline


def test_readiness_is_waited_for_generously_by_default() -> None:
    import inspect

    assert inspect.signature(SimServer.start).parameters["timeout"].default >= 60  # a loaded machine, not 10 s
