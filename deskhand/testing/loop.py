"""A whole responder loop on loopback for tests: any registered simulator (deskhand.sim.registry) →
signed webhooks → gateway → queue → worker, with helpers to script customers and agents through the
simulator. Real SQLite, HTTP and models."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.store import Store

SECRET = "loop-secret"


def count_events(rt: Runtime, ticket_id: str, kind: str) -> int:
    return sum(
        1
        for e in rt.store.list_events(limit=10_000)
        if e.event.ticket_id == str(ticket_id) and e.event.kind.value == kind
    )


def wait_for_event(
    rt: Runtime, ticket_id: str, kind: str = "ticket_created", *, more_than: int = 0, timeout: float = 15.0
) -> None:
    """Block until the gateway has recorded more than `more_than` events of `kind` for the ticket."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count_events(rt, ticket_id, kind) > more_than:
            return
        time.sleep(0.05)
    raise AssertionError(f"no new {kind} event for ticket {ticket_id}")


def drain(rt: Runtime, *, lease_s: float = 5.0, timeout: float = 60.0) -> None:
    """Run jobs in this thread until none is queued or running (a job retried with backoff is not
    due yet, so an empty claim alone does not mean the work is done)."""
    from deskhand.responder.worker import Worker

    worker = Worker(rt, name="test-worker", lease_s=lease_s)
    deadline = time.monotonic() + timeout
    while True:
        if worker.run_once():
            continue
        counts = rt.queue.counts()
        if (not counts.get("queued") and not counts.get("running")) or time.monotonic() > deadline:
            return
        time.sleep(0.05)


@dataclass
class Loop:
    rt: Runtime
    sim: Any  # a registry.RunningSim: .state is the simulator's state, .spec its SimSpec
    customer: Any  # a Connector acting as the intake channel
    account: str = "acme"
    faults: Any = None  # deskhand.testing.outage.FaultSwitch in front of the simulator's API
    gateway_url: str = ""

    def create_inbound(self, subject: str, body: str, *, email: str = "ann@example.com") -> str:
        """A ticket arriving by mail: made in the (Zendesk) simulator's state, not through its API
        (which may be down), announced by webhook like any other."""
        state = self.sim.state
        requester = state.user_by_email(email) or state.create_user({"name": "Ann Example", "email": email})
        ticket, _ = state.create_ticket({"subject": subject, "comment": {"body": body}}, requester)
        self.wait_event(str(ticket["id"]), "ticket_created")
        return str(ticket["id"])

    def create(self, subject: str, body: str, *, email: str = "ann@example.com") -> str:
        extra = {"requester_name": "Ann Example", "requester_email": email} if self.sim.spec.names_requester else {}
        t = self.customer.create_ticket(subject=subject, body=body, **extra)
        self.wait_event(t.id, "ticket_created")
        return str(t.id)

    def customer_says(self, ticket_id: str, body: str) -> None:
        n = self.events(ticket_id, "comment_added")
        self.sim.spec.customer_says(self.sim, str(ticket_id), body)
        self.wait_event(ticket_id, "comment_added", more_than=n)

    def agent_says(self, ticket_id: str, body: str, *, public: bool = True, status: str | None = None) -> None:
        n = self.events(ticket_id, "comment_added")
        self.sim.spec.agent_says(self.sim, str(ticket_id), body, public, status)
        self.wait_event(ticket_id, "comment_added", more_than=n)

    def set_status(self, ticket_id: str, status: str) -> None:
        """Move the ticket to a unified status (``solved``, ``pending`` …) as a human agent would."""
        n = self.events(ticket_id, "ticket_updated")
        self.sim.spec.set_status(self.sim, str(ticket_id), status)
        self.wait_event(ticket_id, "ticket_updated", more_than=n)

    def events(self, ticket_id: str, kind: str) -> int:
        return count_events(self.rt, ticket_id, kind)

    def wait_event(self, ticket_id: str, kind: str, *, more_than: int = 0, timeout: float = 60.0) -> None:
        wait_for_event(self.rt, ticket_id, kind, more_than=more_than, timeout=timeout)

    def drain(self) -> None:
        drain(self.rt)

    def decisions(self, ticket_id: str) -> list[dict[str, Any]]:
        return sorted(self.rt.store.list_decisions(ticket_id=str(ticket_id), limit=1000), key=lambda d: d["id"])

    def own_comments(self, ticket_id: str) -> list[Any]:
        """deskhand's comments on the ticket (on Jira and Freshdesk the description is no comment,
        so deskhand's reply can be the first one)."""
        me = self.rt.identity(self.rt.store.get_account(self.account)).own_id
        return [c for c in self.customer.list_comments(ticket_id) if c.author_id == me]


@contextlib.contextmanager
def sim_loop(
    provider: str,
    store: Store,
    settings: Settings,
    *,
    mode: str | None = "auto",
    state: Any = None,
    account_settings: dict[str, Any] | None = None,
    knowledge: bool = True,
    limits: bool = True,
    sim_extras: dict[str, Any] | None = None,
) -> Iterator[Loop]:
    """The whole loop around the simulator of `provider` (a registry slug), account ``acme``."""
    from deskhand.demo.scenario import KB_DIR
    from deskhand.gateway.app import create_app
    from deskhand.knowledge import add_folder
    from deskhand.providers import open_connector
    from deskhand.responder.modes import set_mode
    from deskhand.sim import registry
    from deskhand.sim.base import SimServer
    from deskhand.testing.outage import FaultSwitch

    spec = registry.get(provider)
    rt = Runtime(store, settings)
    gateway = SimServer(create_app(rt, workers=0)).start(timeout=120.0)
    sim_config = registry.SimConfig(webhook_url=f"{gateway.url}/webhooks/{provider}/acme", webhook_secret=SECRET,
                                    state=state, limits=limits, quick_retries=True, extras=sim_extras or {})
    built = spec.build(sim_config)
    faults = FaultSwitch(built.app)  # the simulator's API can be taken down (outage tests)
    built.app = faults
    sim = registry.RunningSim(spec, sim_config, built).start(120.0)
    config = spec.connect_to(sim)
    store.save_account("acme", provider, config, settings=account_settings or {}, overrides=spec.overrides_to(sim))
    if mode:
        set_mode(store, "acme", mode, actor="test")
    if knowledge:
        add_folder(store, "default", KB_DIR)
    customer = open_connector(provider, "customer", spec.customer(config), overrides=spec.overrides_to(sim))
    try:
        yield Loop(rt, sim, customer, faults=faults, gateway_url=gateway.url)
    finally:
        customer.close()
        sim.stop()
        gateway.stop()
        rt.close()
