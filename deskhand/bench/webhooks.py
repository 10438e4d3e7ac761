"""`deskhand bench webhooks`: a simulator's signed webhooks against a real `deskhand serve --no-workers`.

Two phases per target, on loopback: an open-loop fixed rate (latency measured from each request's
scheduled send time, so a stalled server cannot hide its queueing), then saturation (a closed loop of
`concurrency` connections, as fast as acknowledgements come). The same two phases run, in the same
run and against the same database, on a bare Starlette app that only inserts the body: the ratio
says what deskhand's verification, parsing, event + job recording costs over the bare insert.

Afterwards the database is read back: persisted must equal accepted, lost and duplicated must be 0.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

ACCOUNT = "bench"
SECRET = "bench-webhook-secret"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/"
BASELINE_TABLE = "bench_baseline"
BASELINE_THREADS = 10  # = the pool_size deskhand.store.db.open_engine gives PostgreSQL
LEAD_S = 0.5  # seconds between scheduling the fixed-rate phase and its first due request


# -- the bare baseline: receive, insert the body, answer --------------------------------------------
def baseline_app() -> Any:
    """A Starlette app that only inserts each webhook body into the database (the bench's floor).

    Its inserts run on at most `BASELINE_THREADS` threads, the engine's pool size: with Starlette's
    default of 40 threads, a pool of 10 opens and closes an overflow connection per request under load
    and the baseline collapses on PostgreSQL (seconds of latency), which would flatter every ratio."""
    from anyio import CapacityLimiter, to_thread
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from deskhand.store.db import open_engine

    engine = open_engine(os.environ["DESKHAND_DATABASE_URL"], migrate=False)
    insert = text(f"INSERT INTO {BASELINE_TABLE} (body) VALUES (:body)")

    def store(body: str) -> None:
        with engine.begin() as conn:
            conn.execute(insert, {"body": body})

    limiter = CapacityLimiter(BASELINE_THREADS)

    async def receive(request: Request) -> JSONResponse:
        # the delivery's id first (read back by read_back), then the body as received
        row = request.headers.get("x-bench-delivery", "") + " " + (await request.body()).decode()
        await to_thread.run_sync(store, row, limiter=limiter)
        return JSONResponse({"accepted": True})

    return Starlette(routes=[Route("/webhooks/{provider}/{account}", receive, methods=["POST"])])


# -- load -------------------------------------------------------------------------------------------
class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs and reads the status. A general client (httpx)
    spends more CPU per request than the servers measured here, and on a 2-core machine the load
    generator's own cost would flatten every ratio; this one does the minimum."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\ncontent-length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        try:
            self.writer.write(head.encode() + body)
            status = int((await self.reader.readline()).split()[1])
            length = 0
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await self.reader.readexactly(length)
        except (OSError, IndexError, ValueError, asyncio.IncompleteReadError):
            self.close()
            raise
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Load:
    """Sends deliveries to one target and remembers which were acknowledged and how fast."""

    def __init__(self, port: int, path: str, prefix: str,
                 sign: Callable[[str, str], tuple[bytes, dict[str, str]]]) -> None:
        self.sign = sign
        self.port = port
        self.path = path
        self.prefix = prefix
        self.n = 0
        self.accepted: list[str] = []
        self.acked: dict[str, tuple[bytes, dict[str, str]]] = {}  # what was acknowledged, as sent
        self.errors = 0

    def next_delivery(self) -> tuple[str, bytes, dict[str, str]]:
        self.n += 1
        delivery_id = f"{self.prefix}-{self.n}"
        body, headers = self.sign(delivery_id, SECRET)
        return delivery_id, body, {**headers, "x-bench-delivery": delivery_id}

    async def send(self, conn: Connection, item: tuple[str, bytes, dict[str, str]]) -> bool:
        delivery_id, body, headers = item
        try:
            status = await conn.post(self.path, body, headers)
        except (OSError, IndexError, ValueError, asyncio.IncompleteReadError):
            self.errors += 1
            return False
        if status == 200:
            self.accepted.append(delivery_id)
            self.acked[delivery_id] = (body, headers)
            return True
        self.errors += 1
        return False

    async def fixed_rate(self, rate: float, seconds: float, connections: int) -> list[float]:
        """Open loop: request i is due at start + i/rate; its latency counts from then (waiting for a
        free connection included)."""
        total = int(rate * seconds)
        items = [self.next_delivery() for _ in range(total)]
        latencies: list[float] = []
        pool: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(connections):
            pool.put_nowait(Connection("127.0.0.1", self.port))
        # the first due time leaves the loop a moment to start all `total` tasks (~20 µs each): without
        # it the first requests wait for the load generator's own set-up and count as server latency
        start = time.perf_counter() + LEAD_S

        async def one(i: int) -> None:
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            conn = await pool.get()
            try:
                if await self.send(conn, items[i]):
                    latencies.append(time.perf_counter() - due)
            finally:
                pool.put_nowait(conn)

        await asyncio.gather(*(one(i) for i in range(total)))
        while not pool.empty():
            pool.get_nowait().close()
        return latencies

    async def saturate(self, seconds: float, concurrency: int) -> tuple[int, float]:
        """Closed loop: `concurrency` connections back to back; returns (acknowledged, elapsed)."""
        acked = 0
        start = time.perf_counter()
        deadline = start + seconds

        async def sender() -> None:
            nonlocal acked
            conn = Connection("127.0.0.1", self.port)
            while time.perf_counter() < deadline:
                ok = await self.send(conn, self.next_delivery())
                acked += ok  # (not `acked += await …`: that reads `acked` before the await)
            conn.close()

        await asyncio.gather(*(sender() for _ in range(concurrency)))
        return acked, time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- processes and databases ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(args: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(args)} did not start (exit {proc.poll()})") from None
                time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def bench_database(backend: str) -> Iterator[str]:
    """A fresh database for the run: a temporary SQLite file, or a PostgreSQL database made and dropped."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="deskhand-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    from sqlalchemy import create_engine

    from deskhand.store.db import normalise_url

    server_url = os.environ.get("DESKHAND_BENCH_POSTGRES_URL", DEFAULT_POSTGRES).rstrip("/")
    name = f"dh_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalise_url(f"{server_url}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server_url}/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare(database_url: str, secret_key: str, spec: Any) -> Engine:
    """Migrate, connect the bench account (to a helpdesk that does not exist), create the baseline's table."""
    from deskhand.settings import Settings
    from deskhand.sim.registry import SimConfig
    from deskhand.store import Store

    store = Store.open(Settings(database_url=database_url, secret_key=secret_key))
    store.save_account(ACCOUNT, spec.slug, spec.connect("http://127.0.0.1:9", SimConfig(webhook_secret=SECRET), None))
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if database_url.startswith("sqlite") else "BIGSERIAL PRIMARY KEY"
    with store.engine.begin() as c:
        c.execute(text(f"CREATE TABLE {BASELINE_TABLE} (id {serial}, body TEXT NOT NULL)"))
    return store.engine


def receiver_ids(spec: Any, load: Load) -> list[str]:
    """The delivery ids deskhand gives what `load` had acknowledged (a provider may derive them from a
    header or the signed body, not from the id the bench chose), in the order acknowledged."""
    from deskhand.providers import open_connector
    from deskhand.sim.registry import SimConfig

    config = spec.connect("http://127.0.0.1:9", SimConfig(webhook_secret=SECRET), None)
    with open_connector(spec.slug, ACCOUNT, config) as conn:
        return [conn.parse_webhook(load.acked[i][1], load.acked[i][0])[0].delivery_id for i in load.accepted]


def read_back(engine: Engine, kind: str, accepted: list[str]) -> dict[str, int]:
    """Persisted, lost and duplicated among what the target acknowledged."""
    with engine.connect() as c:
        if kind == "deskhand":
            rows = [r[0] for r in c.execute(text("SELECT delivery_id FROM events WHERE account = :a"), {"a": ACCOUNT})]
            jobs = c.execute(text("SELECT count(*) FROM jobs WHERE kind = 'handle_event'")).scalar_one()
        else:
            rows = [r[0].split(" ", 1)[0] for r in c.execute(text(f"SELECT body FROM {BASELINE_TABLE}"))]
            jobs = len(rows)
    stored = set(rows)
    acked = set(accepted)
    return {
        "accepted": len(accepted),
        "persisted": len(acked & stored),
        "lost": len(acked - stored),
        "duplicated": (len(rows) - len(stored)) + max(0, int(jobs) - len(rows)) + (len(accepted) - len(acked)),
    }


# -- the run ----------------------------------------------------------------------------------------
def _figures(load: Load, latencies: list[float], acked: int, elapsed: float) -> dict[str, Any]:
    return {
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies, default=float("nan")) * 1000, 2),
        "fixed_rate_acked": len(latencies),
        "saturation_per_s": round(acked / elapsed, 1) if elapsed else 0.0,
        "errors": load.errors,
    }


def run_webhooks_bench(
    *,
    rate: float,
    seconds: float,
    backend: str = "sqlite",
    concurrency: int = 32,
    redis_url: str | None = None,
    say: Any = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """Both phases against `deskhand serve --no-workers` and the bare baseline; figures as a dict.
    The deliveries are the ticket-created webhooks of `provider`'s simulator (default: the first)."""
    from cryptography.fernet import Fernet

    from deskhand.sim import registry

    spec = registry.get(provider or registry.default_slug())
    if spec.signed_delivery is None:
        raise ValueError(f"the {spec.slug} simulator declares no signed_delivery: no webhooks to send")
    sign = spec.signed_delivery

    def note(msg: str) -> None:
        if say:
            say(msg)

    key = Fernet.generate_key().decode()
    with bench_database(backend) as url:
        engine = prepare(url, key, spec)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DESKHAND_")}
        env |= {"DESKHAND_DATABASE_URL": url, "DESKHAND_SECRET_KEY": key}
        if redis_url:
            env["DESKHAND_REDIS_URL"] = redis_url
        p_serve, p_base = free_port(), free_port()
        # no periodic sync: the bench account's helpdesk does not exist (ingestion is what is measured)
        serve_cmd = [sys.executable, "-m", "deskhand.cli", "serve", "--no-workers", "--sync-interval", "0",
                     "--port", str(p_serve)]
        base_cmd = [sys.executable, "-m", "uvicorn", "deskhand.bench.webhooks:baseline_app", "--factory"]
        base_cmd += ["--port", str(p_base), "--log-level", "warning", "--no-access-log"]
        with server(serve_cmd, env, p_serve), server(base_cmd, env, p_base):
            path = f"/webhooks/{spec.slug}/{ACCOUNT}"
            # delivery ids unique to this run: a shared Redis remembers earlier runs' deliveries as
            # committed (for 7 days) and the gateway would rightly answer them as duplicates
            run = uuid.uuid4().hex[:8]
            loads = {"deskhand": Load(p_serve, path, f"dh-{run}", sign),
                     "baseline": Load(p_base, path, f"base-{run}", sign)}
            for load in loads.values():  # warm-up: connections, caches, prepared statements
                asyncio.run(load.saturate(1.0, 4))
            latencies: dict[str, list[float]] = {}
            for name, load in loads.items():
                note(f"{name}: {rate:g} webhooks/s for {seconds:g} s")
                latencies[name] = asyncio.run(load.fixed_rate(rate, seconds, concurrency))
            saturation: dict[str, tuple[int, float]] = {}
            for name, load in loads.items():
                note(f"{name}: saturation with {concurrency} connections for {seconds:g} s")
                saturation[name] = asyncio.run(load.saturate(seconds, concurrency))
        figures = {}
        for name, load in loads.items():
            figures[name] = {
                "rate": rate,
                **_figures(load, latencies[name], *saturation[name]),
                **read_back(engine, name, load.accepted if name == "baseline" else receiver_ids(spec, load)),
            }
        engine.dispose()
    base = figures["baseline"]
    result: dict[str, Any] = {"backend": backend, "seconds": seconds, "concurrency": concurrency}
    result |= figures["deskhand"]
    result["baseline"] = base
    sat, base_sat = result["saturation_per_s"], base["saturation_per_s"]
    result["ratio"] = round(sat / base_sat, 3) if base_sat else None
    result["redis"] = bool(redis_url)
    result["machine"] = {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
    return result
