"""Faults on loopback, bounded: processes killed with SIGKILL, PostgreSQL stopped mid-run, Redis lost,
workers racing for one ticket's actions. Whatever happens, nothing acknowledged is lost and nothing
is done twice.

The PostgreSQL that gets stopped is a throwaway instance (initdb + pg_ctl into a temporary folder, on
its own port); the machine's main server is never touched. Redis likewise runs on its own port.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from deskhand.gateway.app import create_app
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim.base import SimServer
from deskhand.store import Store
from deskhand.store.schema import events, jobs

SECRET = "faults-secret"
PG_BIN = Path(os.environ.get("DESKHAND_PG_BIN", "/usr/lib/postgresql/15/bin"))


# -- helpers: signed deliveries, processes, throwaway servers -----------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def delivery(delivery_id: str, ticket: str = "42") -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "type": "zen:event-type:ticket.created",
            "account_id": 1,
            "id": delivery_id,
            "time": "2026-11-25T10:00:00Z",
            "zendesk_event_version": "2022-06-20",
            "subject": f"zen:ticket:{ticket}",
            "detail": {"id": ticket, "subject": "How do I reset my password?", "status": "NEW", "requester_id": "9"},
            "event": {},
        }
    ).encode()
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = base64.b64encode(hmac.new(SECRET.encode(), ts.encode() + body, hashlib.sha256).digest()).decode()
    headers = {
        "content-type": "application/json",
        "x-zendesk-webhook-signature": sig,
        "x-zendesk-webhook-signature-timestamp": ts,
    }
    return body, headers


def post(client: httpx.Client, base: str, delivery_id: str) -> int:
    body, headers = delivery(delivery_id, ticket=delivery_id.rsplit("-", 1)[-1])
    try:
        return client.post(f"{base}/webhooks/zendesk/acme", content=body, headers=headers).status_code
    except httpx.TransportError:
        return 0  # no answer: the provider will retry


def save_account(store: Store, base_url: str = "http://127.0.0.1:9") -> None:
    config = {"subdomain": "acme", "email": "a@acme.test", "api_token": "t", "webhook_secret": SECRET}
    store.save_account("acme", "zendesk", {**config, "base_url": base_url})


def stored(store: Store) -> tuple[list[str], int]:
    """Delivery ids of the stored events (with repeats, if any) and the number of handle_event jobs."""
    with store.engine.connect() as c:
        ids = [r[0] for r in c.execute(select(events.c.delivery_id))]
        n_jobs = c.execute(select(func.count()).select_from(jobs).where(jobs.c.kind == "handle_event")).scalar_one()
    return ids, int(n_jobs)


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKHAND_")}
    env.update(DESKHAND_DATABASE_URL=settings.database_url, DESKHAND_SECRET_KEY=settings.secret_key or "")
    env.update(extra)
    return env


class Gateway:
    """`deskhand serve --no-workers` as a child process."""

    def __init__(self, settings: Settings, **extra_env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "deskhand.cli", "serve", "--no-workers", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            cmd, env=child_env(settings, **extra_env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.stderr.read().decode()[-2000:] if self.proc.stderr else "")
            time.sleep(0.1)
        raise AssertionError("gateway did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class ThrowawayPostgres:
    """A PostgreSQL of our own in a temporary folder (initdb + pg_ctl), on its own port."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.fail(f"no PostgreSQL binaries in {PG_BIN} (set DESKHAND_PG_BIN)")
        self.root = Path(tempfile.mkdtemp(prefix="deskhand-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_root = os.geteuid() == 0
        if self._as_root:  # initdb refuses root: run the server as the postgres user
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(PG_BIN / tool), *args]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def close(self) -> None:
        try:
            self.stop("fast")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


class ThrowawayRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError("redis did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    pg = ThrowawayPostgres()
    try:
        yield pg
    finally:
        pg.close()


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    r = ThrowawayRedis()
    try:
        yield r
    finally:
        r.kill()


# -- the gateway killed mid-burst ---------------------------------------------------------------
@pytest.mark.every_backend
def test_gateway_killed_mid_burst_loses_nothing_acknowledged(store: Store, settings: Settings) -> None:
    save_account(store)
    ids = [f"burst-{i}" for i in range(240)]
    gateway = Gateway(settings)
    acked: set[str] = set()
    lock = threading.Lock()

    def send(d: str, client: httpx.Client) -> None:
        if post(client, gateway.url, d) == 200:
            with lock:
                acked.add(d)
                if len(acked) == 40:
                    gateway.proc.send_signal(signal.SIGKILL)  # kill -9 with requests in flight

    with httpx.Client(timeout=10) as client, ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda d: send(d, client), ids))
    gateway.proc.wait(10)
    assert 40 <= len(acked) < len(ids)
    persisted, _ = stored(store)
    assert acked <= set(persisted), "an acknowledged delivery was lost"

    gateway = Gateway(settings)  # the provider retries everything it has no 2xx for, and some it has
    try:
        with httpx.Client(timeout=10) as client:
            retried = [d for d in ids if d not in acked] + sorted(acked)[:20]
            assert [post(client, gateway.url, d) for d in retried] == [200] * len(retried)
    finally:
        gateway.stop()
    persisted, n_jobs = stored(store)
    assert sorted(persisted) == sorted(ids) and n_jobs == len(ids)  # each once, one job each


# -- PostgreSQL stopped during a run --------------------------------------------------------------
def test_postgres_down_answers_503_and_loses_nothing(throwaway_postgres: ThrowawayPostgres) -> None:
    settings = Settings(database_url=throwaway_postgres.url, secret_key=_key())
    store = Store.open(settings)
    save_account(store)
    server = SimServer(create_app(Runtime(store, settings))).start()
    try:
        with httpx.Client(timeout=15) as client:
            assert [post(client, server.url, f"pg-{i}") for i in range(20)] == [200] * 20
            throwaway_postgres.stop("immediate")  # a crash: no checkpoint, only what was committed
            started = time.monotonic()
            down = [post(client, server.url, f"pg-{i}") for i in range(20, 30)]
            assert down == [503] * 10 and time.monotonic() - started < 30
            assert client.get(f"{server.url}/healthz").status_code == 503
            throwaway_postgres.start()
            again = [post(client, server.url, f"pg-{i}") for i in range(30)]  # retries, and redeliveries
            assert again == [200] * 30
    finally:
        server.stop()
    persisted, n_jobs = stored(store)
    assert sorted(persisted) == sorted(f"pg-{i}" for i in range(30)) and n_jobs == 30
    store.engine.dispose()


def _key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


# -- Redis lost -----------------------------------------------------------------------------------
def _wait_done(r: Any, key: str) -> None:
    """Redis learns a batch's committed deliveries just after the answers are sent: wait for it."""
    deadline = time.monotonic() + 30
    while r.get(key) != b"done" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert r.get(key) == b"done"


@pytest.mark.every_backend
def test_redis_lost_falls_back_to_the_store_and_resumes(
    store: Store, settings: Settings, throwaway_redis: ThrowawayRedis, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    save_account(store)
    with_redis = Settings(
        database_url=settings.database_url, secret_key=settings.secret_key, redis_url=throwaway_redis.url
    )
    app = create_app(Runtime(store, with_redis))
    app.state.dedupe.retry_after_s = 0.5  # try Redis again soon after it is lost
    server = SimServer(app).start()
    r = redis.Redis.from_url(throwaway_redis.url)

    def answer(client: httpx.Client, d: str) -> dict[str, Any]:
        body, headers = delivery(d)
        resp = client.post(f"{server.url}/webhooks/zendesk/acme", content=body, headers=headers)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    try:
        with httpx.Client(timeout=10) as client:
            assert answer(client, "r-1")["duplicates"] == 0
            _wait_done(r, "deskhand:delivery:acme:r-1")
            r.set("deskhand:delivery:acme:r-2", b"pending")  # a gateway died between claim and commit
            assert len(answer(client, "r-2")["accepted"]) == 1  # pending never suppresses
            assert answer(client, "r-1")["duplicates"] == 1
            throwaway_redis.kill()
            with caplog.at_level(logging.WARNING, logger="deskhand.gateway.dedupe"):
                assert len(answer(client, "r-3")["accepted"]) == 1
                assert answer(client, "r-2")["duplicates"] == 1  # the store alone still decides
                assert answer(client, "r-3")["duplicates"] == 1
            warnings = [m for m in caplog.messages if "redis unavailable" in m]
            assert len(warnings) == 1
            throwaway_redis.start()
            deadline = time.monotonic() + 30  # the gateway's back-off before it tries Redis again
            while not app.state.dedupe.available and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(answer(client, "r-4")["accepted"]) == 1
            r = redis.Redis.from_url(throwaway_redis.url)
            _wait_done(r, "deskhand:delivery:acme:r-4")
    finally:
        server.stop()
    persisted, n_jobs = stored(store)
    assert sorted(persisted) == ["r-1", "r-2", "r-3", "r-4"] and n_jobs == 4


# -- the pipeline under races and crashes ---------------------------------------------------------
class Pipeline:
    """The Zendesk simulator → our gateway (in this process) → the store; workers run wherever."""

    def __init__(self, store: Store, settings: Settings, gateway_url: str | None = None) -> None:
        from deskhand.demo.scenario import KB_DIR
        from deskhand.knowledge import add_folder
        from deskhand.providers import open_connector
        from deskhand.sim import zendesk

        self.rt = Runtime(store, settings)
        self.reasons: dict[str, list[str]] = {}
        self.gateway = None if gateway_url else SimServer(create_app(self.rt)).start()
        url = gateway_url or self.gateway.url  # type: ignore[union-attr]
        self.sim = zendesk.start(webhook_url=f"{url}/webhooks/zendesk/acme", webhook_secret=SECRET)
        config = {"subdomain": "acme", "email": "deskhand@acme.test", "api_token": "deskhand-sim-token"}
        config |= {"base_url": self.sim.url, "webhook_secret": SECRET}
        store.save_account("acme", "zendesk", config)
        add_folder(store, "default", KB_DIR)
        self.customer = open_connector("zendesk", "customer", {**config, "email": "intake@acme.test"})

    def create(self, subject: str, body: str) -> str:
        ticket = self.customer.create_ticket(subject=subject, body=body, requester_name="Ann", requester_email="a@x.io")
        return ticket.id

    def wait(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def our_comments(self, ticket_id: str) -> int:
        me = self.rt.identity(self.rt.store.get_account("acme")).own_id
        return sum(1 for c in self.customer.list_comments(ticket_id)[1:] if c.author_id == me)

    def decisions(self) -> dict[str, tuple[str, str | None]]:
        """Route and category of each ticket's (non-ignored) decision, by ticket subject."""
        out = {}
        for d in self.rt.store.list_decisions(limit=500):
            if d["route"] != "ignore":
                subject = self.customer.get_ticket(d["ticket_id"], with_comments=False).subject
                out[subject] = (d["route"], d["category"])
                self.reasons[subject] = [*d["rules"], *d["reasons"]]
        return out

    def close(self) -> None:
        self.customer.close()
        self.sim.stop()
        if self.gateway:
            self.gateway.stop()


@pytest.fixture
def pipeline(store: Store, settings: Settings) -> Iterator[Pipeline]:
    p = Pipeline(store, settings)
    try:
        yield p
    finally:
        p.close()


@pytest.mark.every_backend
def test_two_workers_racing_for_one_tickets_actions_post_once(pipeline: Pipeline) -> None:
    from deskhand.queue import PRIORITY_WRITE
    from deskhand.responder.worker import Worker

    tid = pipeline.create("How do I reset my password?", "I forgot my password. How do I reset it?")
    pipeline.wait(lambda: pipeline.rt.queue.counts().get("queued"), 15, "the webhook")
    assert Worker(pipeline.rt, name="triage").run_once()  # handle_event: a decision and its apply job
    (decision,) = pipeline.rt.store.list_decisions(ticket_id=tid)
    # the same actions handed out twice at once (a redelivery racing the first delivery)
    pipeline.rt.queue.enqueue(
        None, "apply_decision", {"decision_id": decision["id"]}, dedupe_key="race", priority=PRIORITY_WRITE
    )
    connector = pipeline.rt.connector(pipeline.rt.store.get_account("acme"))
    perform = connector.perform

    def slow_perform(action: Any) -> Any:  # the first delivery is still posting when the second reads
        time.sleep(0.5)
        return perform(action)

    connector.perform = slow_perform  # type: ignore[method-assign]
    first = threading.Thread(target=Worker(pipeline.rt, name="w1").run_once)
    first.start()
    pipeline.wait(
        lambda: any(a.status == "started" for a in pipeline.rt.store.actions_for(decision["id"])), 10, "the first start"
    )
    Worker(pipeline.rt, name="w2").run_once()  # sees the reply started, not yet on the ticket
    first.join(60)
    connector.perform = perform  # type: ignore[method-assign]
    while Worker(pipeline.rt, name="drain").run_once():
        pass
    assert pipeline.our_comments(tid) == 1
    assert {a.status for a in pipeline.rt.store.actions_for(decision["id"])} == {"done"}


def _create_demo_tickets(p: Pipeline) -> list[str]:
    from deskhand.demo.scenario import TICKETS

    return [
        p.customer.create_ticket(subject=t.subject, body=t.body, requester_name=t.name, requester_email=t.email).id
        for t in TICKETS
    ]


def _settled(p: Pipeline, tickets: list[str]) -> bool:
    counts = p.rt.queue.counts()
    decided = {d["ticket_id"] for d in p.rt.store.list_decisions(limit=500)}
    return set(tickets) <= decided and not counts.get("queued") and not counts.get("running")


def _embedded_results(tmp_path: Path) -> tuple[dict[str, tuple[str, str | None]], dict[str, list[str]]]:
    """The demo's tickets through the embedded default: SQLite, gateway and worker in one process."""
    from cryptography.fernet import Fernet

    from deskhand.responder.worker import Worker

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'embedded.db'}", secret_key=Fernet.generate_key().decode())
    store = Store.open(settings)
    p = Pipeline(store, settings)
    try:
        tickets = _create_demo_tickets(p)
        worker = Worker(p.rt, name="embedded")

        def drained() -> bool:
            while worker.run_once():
                pass
            return _settled(p, tickets)

        p.wait(drained, 120, "the embedded run")
        return p.decisions(), p.reasons
    finally:
        p.close()
        store.engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_gateway_and_two_worker_processes_on_postgres_and_redis_match_the_embedded_default(
    store: Store, settings: Settings, throwaway_redis: ThrowawayRedis, tmp_path: Path
) -> None:
    """Three processes (serve --no-workers, worker, worker) on PostgreSQL + Redis; the first worker is
    killed (SIGKILL at a fail point) right after posting; nothing is lost, nothing posted twice, and
    the decisions equal those of the embedded SQLite default on the same tickets."""
    gateway = Gateway(settings, DESKHAND_REDIS_URL=throwaway_redis.url)
    p = Pipeline(store, settings, gateway_url=gateway.url)
    cmd = [sys.executable, "-m", "deskhand.cli", "worker", "--grace-s", "20"]
    env = child_env(settings, DESKHAND_REDIS_URL=throwaway_redis.url)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        tickets = _create_demo_tickets(p)
        p.wait(lambda: len(p.rt.store.list_events(limit=500)) >= len(tickets), 60, "the webhooks")
        doomed_cmd = [*cmd, "--concurrency", "1", "--lease-s", "2"]  # its job is taken over 2 s after its death
        doomed = subprocess.Popen(doomed_cmd, env={**env, "DESKHAND_CRASH_AT": "after_provider_call"})
        workers.append(doomed)
        assert doomed.wait(180) == 137  # died right after a reply reached the helpdesk, before recording it
        # one thread each: langdetect (the unsupported_language rule) seeds the process-global
        # `random`, so threads of one process can change each other's detections
        workers += [subprocess.Popen([*cmd, "--concurrency", "1"], env=env) for _ in range(2)]
        p.wait(lambda: _settled(p, tickets), 240, "the two workers")
        for w in workers[1:]:
            w.send_signal(signal.SIGTERM)
        assert [w.wait(60) for w in workers[1:]] == [0, 0]  # graceful: idle workers stop at once
        assert {t: p.our_comments(t) for t in tickets} == dict.fromkeys(tickets, 1)
        assert p.rt.queue.counts().get("dead", 0) == 0
        deployed = p.decisions()
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
        p.close()
        gateway.stop()
    embedded, why = _embedded_results(tmp_path)
    differing = {k: (v, embedded.get(k), p.reasons.get(k), why.get(k)) for k, v in deployed.items() if embedded[k] != v}
    assert deployed == embedded, differing


# -- graceful shutdown ----------------------------------------------------------------------------
@pytest.mark.every_backend
@pytest.mark.parametrize("job_s, released", [(0.1, 0), (30.0, 1)], ids=["finishes-in-grace", "released-after-grace"])
def test_sigterm_finishes_or_returns_the_running_job(
    store: Store, monkeypatch: pytest.MonkeyPatch, job_s: float, released: int
) -> None:
    from deskhand.responder import worker as worker_module

    rt = Runtime(store)
    started, done = threading.Event(), threading.Event()

    def slow(_rt: Runtime, _job: Any) -> None:
        started.set()
        done.wait(job_s)  # a job that takes job_s (or until the test ends)

    monkeypatch.setitem(worker_module.HANDLERS, "slow", slow)
    rt.queue.enqueue(None, "slow", {})
    stop = threading.Event()
    result: list[int] = []
    th = threading.Thread(target=lambda: result.append(worker_module.run_workers(rt, 1, stop, grace_s=1.0)))
    th.start()
    assert started.wait(10)
    stop.set()  # what SIGTERM does in `deskhand worker`
    th.join(15)
    done.set()
    assert result == [released]
    counts = rt.queue.counts()
    if released:  # back in the queue at once, its attempt not counted
        job = rt.queue.claim("next")
        assert job is not None and job.attempts == 1 and counts == {"queued": 1}
    else:
        assert counts == {"done": 1}
