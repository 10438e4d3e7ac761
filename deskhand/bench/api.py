"""Benchmark of the unified API on this machine, over loopback HTTP:

- list tickets from the replica: `GET /v1/tickets?account=…&limit=50` after a sync of N seeded
  tickets (p50 / p99 / mean in ms);
- proxy overhead: one ticket read through `GET /v1/accounts/{account}/proxy/<the provider's own
  ticket path>` against the same read sent straight to the simulator with the account's
  credentials (the connector's ProviderHTTP, no rate budget), interleaved call by call; the
  overhead is the difference of the medians. Beside it, the CPU time the process spent per call
  (`time.process_time`, every thread: client, gateway and simulator all run here), median of each
  kind: the work the proxy adds, which the machine's load does not inflate as it does wall time.
The gateway and the simulator run in this process (uvicorn threads), as `deskhand bench sync` does.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from deskhand.api.keys import create_key
from deskhand.gateway.app import create_app
from deskhand.providers import open_connector
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.sim import registry
from deskhand.sim.base import SimServer
from deskhand.sync.engine import sync_account


def _figures(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return {"p50_ms": round(statistics.median(ms), 3), "p99_ms": round(p99, 3),
            "mean_ms": round(statistics.fmean(ms), 3)}


def _timed(call: Callable[[], httpx.Response], cpu: list[float] | None = None) -> float:
    started, started_cpu = time.perf_counter(), time.process_time()
    r = call()
    took = time.perf_counter() - started
    if cpu is not None:
        cpu.append(time.process_time() - started_cpu)
    if r.status_code != 200:
        raise RuntimeError(f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:300]}")
    return took


def run_api_bench(provider: str, tickets: int = 500, requests: int = 300, *, warmup: int = 20) -> dict[str, Any]:
    spec = registry.get(provider)
    sim = spec.start(registry.SimConfig(tickets=tickets, limits=False, feed_lag_s=0.0))
    tmp = tempfile.mkdtemp(prefix="deskhand-bench-api-")
    settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}", secret_key=Fernet.generate_key().decode())
    rt = Runtime.open(settings)
    gateway = None
    try:
        config = spec.connect_to(sim)
        rt.store.save_account("bench", provider, config, tenant_id="bench", overrides=spec.overrides_to(sim))
        sync_account(rt, "bench")
        _, key = create_key(rt.store.engine, "bench", ["tickets:read"])
        gateway = SimServer(create_app(rt)).start()
        direct = open_connector(provider, "bench-direct", config, overrides=spec.overrides_to(sim))
        remote_id = next(iter(direct.iter_tickets(page_size=1))).id
        own_path = direct.definition.resources["ticket"].get.path.replace("{ticket_id}", str(remote_id))  # type: ignore[union-attr]
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=gateway.url, headers=auth, timeout=30) as api:
            def listing() -> httpx.Response:
                return api.get("/v1/tickets", params={"account": "bench", "limit": 50})

            def proxied() -> httpx.Response:
                return api.get(f"/v1/accounts/bench/proxy{own_path}")

            def straight() -> httpx.Response:
                return direct.http.request("GET", own_path)

            for _ in range(warmup):
                listing(), proxied(), straight()
            listed = [_timed(listing) for _ in range(requests)]
            via_proxy: list[float] = []
            via_direct: list[float] = []
            cpu_proxy: list[float] = []
            cpu_direct: list[float] = []
            for _ in range(requests):
                via_proxy.append(_timed(proxied, cpu_proxy))
                via_direct.append(_timed(straight, cpu_direct))
        direct.close()
        proxy, plain = _figures(via_proxy), _figures(via_direct)
        return {
            "provider": provider, "tickets": tickets, "requests": requests,
            "list_tickets_replica": _figures(listed),
            "proxy": proxy, "direct": plain,
            "proxy_overhead_p50_ms": round(proxy["p50_ms"] - plain["p50_ms"], 3),
            "cpu_per_call_p50_ms": {"proxy": round(statistics.median(cpu_proxy) * 1000, 3),
                                    "direct": round(statistics.median(cpu_direct) * 1000, 3)},
        }
    finally:
        if gateway is not None:
            gateway.stop()
        rt.close()
        sim.stop()
