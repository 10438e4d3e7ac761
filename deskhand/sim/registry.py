"""The simulator registry: one place maps a provider's slug to its simulator.

``deskhand sim <slug>``, ``deskhand bench sync --provider <slug>``, the demo and the loop harness in
``deskhand.testing`` ask this module, never a simulator by name. A provider registers its simulator
with one line in :data:`BUILTIN` naming its spec module (``deskhand/sim/<slug>_spec.py``), which
calls :func:`register` with a :class:`SimSpec`. Spec modules stay light (they import the simulator
itself inside their functions), so listing the simulators costs no start-up time.

A spec says, as plain functions over one :class:`SimConfig`:

- ``build``: the simulator as an ASGI app with its state (seeded), and what closes it;
- ``connect``: the connect values of a deskhand account pointed at a simulator's URL (preparing
  its state, e.g. a team to escalate to, when one is given), ``overrides``: the account's
  ``--set`` values its state needs (ids of things the simulator made), and ``customer``: those of
  the customer side (the channel through which tickets are raised);
- ``truth``: the ground truth of ``bench sync`` (ticket ids with content hashes, from the
  simulator's own state, never through deskhand's readers);
- ``customer_says`` / ``agent_says`` / ``set_status``: script the helpdesk's people for tests and
  the demo (each raises the webhook the real service would);
- ``signed_delivery``: one ticket-created webhook delivery as the helpdesk signs it (``bench webhooks``).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TOKEN = "deskhand-sim-token"

# slug -> the module whose import registers that provider's simulator (one line per provider)
BUILTIN: dict[str, str] = {
    "zendesk": "deskhand.sim.zendesk_spec",
    "jira": "deskhand.sim.jira_spec",
    "freshdesk": "deskhand.sim.freshdesk_spec",
    "servicenow": "deskhand.sim.servicenow_spec",
    "trello": "deskhand.sim.trello_spec",
    "front": "deskhand.sim.front_spec",
    "linear": "deskhand.sim.linear_spec",
}

SIMULATORS: dict[str, SimSpec] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class SimConfig:
    """How to run one simulator. ``None`` means "as the real service does"."""

    token: str = DEFAULT_TOKEN
    webhook_url: str | None = None  # where signed webhooks go (None: none are sent)
    webhook_secret: str | None = None
    tickets: int = 0  # seed this many realistic tickets with comments
    seed: int = 0  # random seed of the seeded tickets
    rate_limit: int | None = None  # the provider's main request budget (see SimSpec.rate_limit_help)
    window_s: float | None = None  # the length of that budget's window, where the provider has one
    limits: bool = True  # False: no 429s at all (loop tests that are not about limits)
    feed_lag_s: float | None = None  # changes younger than this are hidden from change feeds (0: none)
    quick_retries: bool = False  # failed webhook deliveries are retried within a fraction of a second
    state: Any = None  # a prepared simulator state (tests); None: the simulator's default state
    extras: Mapping[str, Any] = field(default_factory=dict)  # the spec's own options (SimSpec.options)


@dataclass
class BuiltSim:
    """A simulator before it runs: its ASGI app and state, and how to end its deliveries."""

    app: Any
    state: Any
    close: Callable[[], None] = lambda: None
    bucket: Callable[[str, str], str] = lambda method, path: "account"  # rate budget of a request
    window_s: float = 60.0  # the window of SimConfig.rate_limit (for the theoretical minimum of a bench)
    banner: Callable[[str], list[str]] = lambda url: []  # what `deskhand sim` prints once it listens


@dataclass(frozen=True)
class SimOption:
    """A provider-specific option of ``deskhand sim <slug>`` (``--name-with-dashes``). If its name is
    a :class:`SimConfig` field it sets that field; otherwise it lands in ``SimConfig.extras``."""

    name: str
    type: type
    default: Any
    help: str


class RunningSim:
    """A simulator serving on a background thread: ``.url``, ``.port``, ``.state``, ``.spec``, ``.config``
    (uvicorn is imported only when one starts, so listing simulators costs no start-up time)."""

    def __init__(self, spec: SimSpec, config: SimConfig, built: BuiltSim, host: str = "127.0.0.1", port: int = 0):
        from deskhand.sim.base import SimServer

        self.spec, self.config, self.built, self.state = spec, config, built, built.state
        self.server = SimServer(built.app, host, port)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def start(self, timeout: float = 120.0) -> RunningSim:
        self.server.start(timeout=timeout)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.server.stop(timeout)
        self.built.close()

    def __enter__(self) -> RunningSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


Truth = tuple[list[tuple[str, str]], set[str], int]  # (ticket id, content hash) pairs, deleted ids, comments


@dataclass(frozen=True)
class SimSpec:
    """Everything the tools need to know about one provider's simulator."""

    slug: str
    title: str  # "Zendesk Support API v2": the help of `deskhand sim <slug>`
    port: int  # the default port of `deskhand sim <slug>`
    build: Callable[[SimConfig], BuiltSim]
    connect: Callable[[str, SimConfig, Any], dict[str, str]]  # (url, config, state or None) -> connect values
    customer: Callable[[dict[str, str]], dict[str, str]]  # those values, changed to act as the customer side
    truth: Callable[[Any], Truth]
    customer_says: Callable[[RunningSim, str, str], None]  # (sim, ticket id, body): the requester comments
    agent_says: Callable[[RunningSim, str, str, bool, str | None], None]  # (sim, id, body, public, status)
    set_status: Callable[[RunningSim, str, str], None]  # (sim, ticket id, unified status): a human agent
    signed_delivery: Callable[[str, str], tuple[bytes, dict[str, str]]] | None = None  # (delivery id, secret)
    names_requester: bool = True  # True: tickets are raised naming their requester; False: as the customer
    rate_limit_help: str = "Requests per window."
    options: tuple[SimOption, ...] = ()
    # the account's overrides (deskhand connect --set) the simulator's state needs, e.g. Trello's list ids
    overrides: Callable[[Any], dict[str, Any]] | None = None

    def connect_to(self, sim: RunningSim) -> dict[str, str]:
        """The connect values of an account pointed at the running simulator `sim`."""
        return self.connect(sim.url, sim.config, sim.state)

    def overrides_to(self, sim: RunningSim) -> dict[str, Any]:
        """The overrides of an account pointed at the running simulator `sim` (``{}``: none needed)."""
        return self.overrides(sim.state) if self.overrides else {}

    def start(self, config: SimConfig | None = None, *, host: str = "127.0.0.1", port: int = 0,
              timeout: float = 120.0) -> RunningSim:
        """Build and serve the simulator on a background thread; returns once it accepts connections."""
        config = config or SimConfig()
        return RunningSim(self, config, self.build(config), host, port).start(timeout)


def register(slug: str, spec: SimSpec) -> None:
    """Make a simulator known under its slug (the same string as its definition's file name)."""
    if spec.slug != slug:
        raise ValueError(f"simulator spec for {spec.slug!r} registered as {slug!r}")
    with _lock:
        SIMULATORS[slug] = spec


def default_slug() -> str:
    """The simulator tools use when none is named (the first built in)."""
    return next(iter(BUILTIN))


def slugs() -> list[str]:
    """Every simulator's slug, registered or built in, sorted."""
    return sorted(set(BUILTIN) | set(SIMULATORS))


def get(slug: str) -> SimSpec:
    """The simulator of `slug` (importing its spec module on first use)."""
    if slug not in SIMULATORS and slug in BUILTIN:
        importlib.import_module(BUILTIN[slug])
    try:
        return SIMULATORS[slug]
    except KeyError:
        raise KeyError(f"no simulator for provider {slug!r}; known: {', '.join(slugs())}") from None


def every() -> list[SimSpec]:
    return [get(slug) for slug in slugs()]


def ticket_truth(tid: str, subject: str, status: str, tags: list[str], updated: Any,
                 comments: list[dict[str, Any]]) -> tuple[str, str]:
    """One ticket of the ground truth: its id and the replica's content hash of what it should hold
    (``comments``: ``{"id", "body" (plain text), "public"}``)."""
    from deskhand.providers.records import to_datetime
    from deskhand.sync import replica

    fields = {"id": tid, "subject": subject, "raw_status": status, "tags": sorted(tags),
              "updated_at": replica.iso(to_datetime(updated))}
    return tid, replica.ticket_hash(fields, comments)
