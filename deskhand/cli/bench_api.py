"""`deskhand bench api --provider SLUG [--tickets N] [--requests R] [--json]`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from deskhand.cli.apps import JsonOpt, bench_app, out
from deskhand.cli.core import setup_logging


@bench_app.command("api")
def bench_api(
    provider: Annotated[str, typer.Option(help="A simulator's slug (deskhand sim --help lists them).")],
    tickets: Annotated[int, typer.Option(help="Tickets seeded in the simulator and synced to the replica.")] = 500,
    requests: Annotated[int, typer.Option(help="Timed requests of each kind.")] = 300,
    as_json: JsonOpt = False,
) -> None:
    """List-tickets latency from the replica, and the proxy's overhead over a direct call, side by side."""
    from deskhand.bench.api import run_api_bench

    setup_logging("WARNING")
    r = run_api_bench(provider, tickets, requests)
    if as_json:
        print(json.dumps(r))
        return
    lt, px, dr = r["list_tickets_replica"], r["proxy"], r["direct"]
    out.print(f"[bold]bench api[/bold] {provider}: {tickets} tickets in the replica, {requests} requests each")
    out.print(f"  list tickets (replica, 50 per page): p50 {lt['p50_ms']} ms · p99 {lt['p99_ms']} ms")
    out.print(f"  one ticket via proxy: p50 {px['p50_ms']} ms · p99 {px['p99_ms']} ms")
    out.print(f"  one ticket direct:    p50 {dr['p50_ms']} ms · p99 {dr['p99_ms']} ms")
    out.print(f"  proxy overhead (p50): {r['proxy_overhead_p50_ms']} ms")
    cpu = r["cpu_per_call_p50_ms"]
    out.print(f"  CPU per call (p50, all threads): proxy {cpu['proxy']} ms · direct {cpu['direct']} ms")
