"""`deskhand bench pipeline`: end-to-end tickets per second with K `deskhand worker` processes.

For each K, on a fresh database: a provider's simulator (in this process, its own HTTP thread)
sends signed ticket-created webhooks to deskhand's gateway (also in this process), which records
the events and their jobs exactly as in production. The measured tickets' jobs are then held (their
`run_at` pushed far ahead), K `deskhand worker --concurrency 1` processes are started and warm up
on a few tickets of their own (models loaded, connections open: every worker must have finished at
least one job), and only then is the clock started by releasing the held jobs in one statement.
The clock stops when no job is queued or running: every ticket has its decision and every action
(reply, note, tags) is done against the simulator.

The bench process's own CPU time over the timed phase is reported (`bench_cpu_share`, in cores):
it is the simulator's cost (plus this process's polling). Near 1.0 the simulator is the bottleneck.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, or_, select, update

from deskhand.bench.webhooks import bench_database
from deskhand.store.schema import jobs

ACCOUNT = "bench"  # + the provider and a suffix per run: no budget or delivery key in a shared Redis outlives its run
WARMUP_FROM = 10**6  # warm-up tickets' numbers (the measured ones count from 0)
HOLD_AT = 1e12  # run_at of held jobs: far beyond any clock
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

Say = Callable[[str], None]


@dataclass
class Desk:
    """A simulated helpdesk wired to an in-process gateway, and the store they share."""

    rt: Any
    customer: Any
    url: str
    key: str
    redis_url: str | None = None
    names_requester: bool = True


@contextmanager
def desk(url: str, say: Say, redis_url: str | None = None, provider: str | None = None) -> Iterator[Desk]:
    """Migrate `url`, start the gateway and the simulator, connect the account in auto mode, add the
    demo's knowledge base."""
    from cryptography.fernet import Fernet

    from deskhand.demo.scenario import KB_DIR
    from deskhand.gateway.app import create_app
    from deskhand.knowledge import add_folder
    from deskhand.model import DEFAULT_TENANT
    from deskhand.providers import open_connector
    from deskhand.responder.modes import set_mode
    from deskhand.runtime import Runtime
    from deskhand.settings import Settings
    from deskhand.sim import registry
    from deskhand.sim.base import SimServer
    from deskhand.store import Store

    key = Fernet.generate_key().decode()
    settings = Settings(database_url=url, secret_key=key, redis_url=redis_url)
    with ExitStack() as stack:
        rt = Runtime(Store.open(settings), settings)
        stack.callback(rt.close)
        gateway = SimServer(create_app(rt)).start()
        stack.callback(gateway.stop)
        secret = "bench-pipeline-secret"
        spec = registry.get(provider or registry.default_slug())
        account = f"{ACCOUNT}-{spec.slug}-{uuid.uuid4().hex[:8]}"
        hook = f"{gateway.url}/webhooks/{spec.slug}/{account}"
        # no rate limits: the bench measures deskhand, not a rate budget
        sim = spec.start(registry.SimConfig(webhook_url=hook, webhook_secret=secret, limits=False))
        stack.callback(sim.stop)
        config = spec.connect_to(sim)
        rt.store.save_account(account, spec.slug, config, tenant_id=DEFAULT_TENANT,
                              overrides=spec.overrides_to(sim))
        set_mode(rt.store, account, "auto", actor="bench", reason="the bench measures every action")
        kb = add_folder(rt.store, DEFAULT_TENANT, KB_DIR)
        say(f"knowledge base: {len(kb.added)} articles, {kb.chunks} chunks")
        customer = open_connector(spec.slug, "customer", spec.customer(config), overrides=spec.overrides_to(sim))
        stack.callback(customer.close)
        yield Desk(rt, customer, url, key, redis_url, spec.names_requester)


def create_tickets(d: Desk, n: int, start: int = 0) -> None:
    """`n` tickets through the simulator's API, cycling through the demo's; each body is made unique
    (a signature line with the ticket's number), as real tickets are, so that no worker cache can
    answer a ticket from an earlier one's work."""
    from deskhand.demo.scenario import TICKETS

    for i in range(start, start + n):
        t = TICKETS[i % len(TICKETS)]
        body = f"{t.body}\n\n(Sent from workspace {1000 + i}.)"
        who = {"requester_name": t.name, "requester_email": t.email} if d.names_requester else {}
        d.customer.create_ticket(subject=t.subject, body=body, **who)


def count_jobs(engine: Engine, *where: Any) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(jobs).where(*where)).scalar_one())


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(poll_s)


def record(d: Desk, n: int, start: int, timeout_s: float) -> int:
    """Create `n` tickets and wait until the gateway has recorded their events and jobs; returns the
    highest job id."""
    engine = d.rt.store.engine
    before = count_jobs(engine, jobs.c.kind == "handle_event")
    create_tickets(d, n, start)
    wait_for(lambda: count_jobs(engine, jobs.c.kind == "handle_event") >= before + n, timeout_s, "the webhooks")
    with engine.connect() as c:
        return int(c.execute(select(func.max(jobs.c.id))).scalar_one())


def set_run_at(engine: Engine, run_at: float, *where: Any) -> int:
    with engine.begin() as c:
        return int(c.execute(update(jobs).where(jobs.c.status == "queued", *where).values(run_at=run_at)).rowcount)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu() -> tuple[float, float, float]:
    """(busy, steal, total) CPU seconds of the whole machine so far, all cores (Linux /proc/stat):
    user + nice + system + irq + softirq; the time a hypervisor gave to others; and everything."""
    try:
        fields = [float(x) for x in open("/proc/stat").readline().split()[1:9]]  # noqa: SIM115
    except (OSError, ValueError):
        return 0.0, 0.0, 0.0
    fields += [0.0] * (8 - len(fields))
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK, sum(fields) / CLK_TCK


def embed_threads_for(k: int, cpus: int | None = None) -> int:
    """Inference threads per worker process so that K processes fill the cores without
    oversubscribing them (one process alone may use them all)."""
    return max(1, (cpus or os.cpu_count() or 1) // k)


def start_workers(
    d: Desk, k: int, embed_threads: int, extra_env: dict[str, str] | None = None
) -> list[subprocess.Popen[bytes]]:
    env = {name: v for name, v in os.environ.items() if not name.startswith("DESKHAND_")}
    env |= {"DESKHAND_DATABASE_URL": d.url, "DESKHAND_SECRET_KEY": d.key, "DESKHAND_LOG_LEVEL": "WARNING"}
    env |= extra_env or {}
    env["DESKHAND_EMBED_THREADS"] = str(embed_threads)
    if d.redis_url:  # rate budgets (and the gateway's duplicate suppression) in Redis, as scaled out
        env["DESKHAND_REDIS_URL"] = d.redis_url
    cmd = [sys.executable, "-m", "deskhand.cli", "worker", "--concurrency", "1", "--grace-s", "10"]
    return [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(k)]


def stop_workers(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def warm_up(engine: Engine, procs: Sequence[subprocess.Popen[bytes]], timeout_s: float) -> int:
    """Wait until the unheld jobs are done and every worker process has finished one; returns how
    many workers did (less than all when one got none of the warm-up jobs)."""
    active = (jobs.c.status.in_(("queued", "running")), jobs.c.run_at < HOLD_AT)

    def warm() -> bool:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a worker process exited during warm-up")
        return count_jobs(engine, *active) == 0

    wait_for(warm, timeout_s, "the warm-up tickets")
    with engine.connect() as c:
        owners = c.execute(select(func.count(func.distinct(jobs.c.lease_owner))).where(jobs.c.status == "done"))
        return int(owners.scalar_one())


def measure_once(
    url: str, k: int, tickets: int, *, warmup: int, embed_threads: int, timeout_s: float, say: Say,
    redis_url: str | None = None, provider: str | None = None,
) -> dict[str, Any]:
    """One run with `k` worker processes on a fresh database at `url`."""
    with desk(url, say, redis_url, provider) as d:
        engine = d.rt.store.engine
        # the measured tickets are the same ones whatever k (the warm-up's are numbered apart)
        last_warm = record(d, warmup * k, WARMUP_FROM, timeout_s)
        last = record(d, tickets, 0, timeout_s)
        measured = jobs.c.id.between(last_warm + 1, last)
        held = set_run_at(engine, HOLD_AT, measured)
        say(f"{k} worker(s): {warmup * k} warm-up tickets, {held} measured tickets recorded and held")
        procs = start_workers(d, k, embed_threads)
        try:
            warmed = warm_up(engine, procs, timeout_s)
            say(f"{k} worker(s): {warmed} warm; releasing the measured tickets")
            cpu0 = [cpu_seconds(p.pid) for p in procs]
            busy0, steal0, all0 = machine_cpu()
            own0, t0 = time.process_time(), time.perf_counter()
            set_run_at(engine, d.rt.queue.clock(), jobs.c.run_at >= HOLD_AT)
            # the measured events and every decision's actions; the webhooks our own replies cause
            # (recorded, then ignored) are worked on meanwhile, as in production, but not waited for
            pending = (jobs.c.status.in_(("queued", "running")), or_(measured, jobs.c.kind != "handle_event"))
            wait_for(lambda: count_jobs(engine, *pending) == 0, timeout_s, "the measured tickets", poll_s=0.02)
            elapsed = time.perf_counter() - t0
            own = time.process_time() - own0
            cpu = [round(cpu_seconds(p.pid) - c0, 2) for p, c0 in zip(procs, cpu0, strict=True)]
            busy1, steal1, all1 = machine_cpu()
        finally:
            stop_workers(procs)
        return {"workers": k, "embed_threads": embed_threads, "warm_workers": warmed, "tickets": tickets} | {
            **outcome(d, measured),
            "seconds": round(elapsed, 3),
            "tickets_per_s": round(tickets / elapsed, 2),
            "worker_cpu_s": cpu,
            "bench_cpu_share": round(own / elapsed, 2),
            # every process on the machine (workers, this one, PostgreSQL, Redis …): near 1.0 the
            # run was bound by the cores, not by anything the worker processes wait for
            "machine_busy": round((busy1 - busy0) / (all1 - all0), 3) if all1 > all0 else None,
            "machine_steal": round((steal1 - steal0) / (all1 - all0), 3) if all1 > all0 else None,
        }


def outcome(d: Desk, measured: Any) -> dict[str, Any]:
    """What the measured tickets came to: decisions by route, jobs by status, actions not done."""
    from deskhand.store.schema import actions, decisions

    with d.rt.store.engine.connect() as c:
        payloads = c.execute(select(jobs.c.payload).where(measured))
        event_ids = [int(row.payload["event_id"]) for row in payloads]
        decided = select(decisions.c.id, decisions.c.route).where(decisions.c.event_id.in_(event_ids))
        made = c.execute(decided).all()
        statuses = c.execute(select(jobs.c.status, func.count()).where(measured).group_by(jobs.c.status)).all()
        not_done = (
            select(func.count())
            .select_from(actions)
            .where(actions.c.decision_id.in_([m.id for m in made]), actions.c.status != "done")
        )
        return {
            "decided": len(made),
            "routes": {r: sum(1 for m in made if m.route == r) for r in sorted({m.route for m in made})},
            "measured_jobs": {str(s): int(n) for s, n in statuses},
            "actions_not_done": int(c.execute(not_done).scalar_one()),
        }


def run_pipeline_bench(
    *,
    tickets: int,
    workers: Sequence[int] = (1, 2),
    backend: str = "sqlite",
    warmup: int = 3,
    embed_threads: int | None = None,
    repeat: int = 1,
    timeout_s: float = 600.0,
    redis_url: str | None = None,
    say: Say | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """Tickets per second with each count of worker processes, the counts taken in turn `repeat`
    times (1, 2, 1, 2, …: a shared machine whose speed drifts then affects each count alike);
    `ratio` = the median of the last count over the median of the first.

    `embed_threads`: inference threads per worker process. None: the cores shared out among the
    largest count, the same for every run, so that the runs differ only in how many processes there
    are (a scale-out comparison; `embed_threads_for(k)` per run instead gives one process all the
    cores, which measures how well one process uses the machine, not how it scales)."""
    note: Say = say or (lambda _m: None)
    threads = embed_threads or embed_threads_for(max(workers))
    runs = []
    for _ in range(max(1, repeat)):
        for k in workers:
            load0 = os.getloadavg()[0]
            with bench_database(backend) as url:
                run = measure_once(url, k, tickets, warmup=warmup, embed_threads=threads, timeout_s=timeout_s,
                                   say=note, redis_url=redis_url, provider=provider)
            run["load_avg_1m"] = {"before": round(load0, 2), "after": round(os.getloadavg()[0], 2)}
            note(f"{k} worker(s): {run['tickets_per_s']} tickets/s over {run['seconds']} s")
            runs.append(run)
    medians = {k: statistics.median(r["tickets_per_s"] for r in runs if r["workers"] == k) for k in workers}
    first, last = medians[workers[0]], medians[workers[-1]]
    return {
        "backend": backend,
        "tickets": tickets,
        "embed_threads": threads,
        "runs": runs,
        "median_tickets_per_s": {str(k): round(v, 2) for k, v in medians.items()},
        "ratio": round(last / first, 3) if first else None,
        "redis": bool(redis_url),
        "machine": {"cpus": os.cpu_count()},
    }
