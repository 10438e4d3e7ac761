"""`deskhand bench sync --provider SLUG --tickets N --limit R [--window-s W] [--json]`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from deskhand.cli.apps import JsonOpt, bench_app, out
from deskhand.cli.core import setup_logging


@bench_app.command("sync")
def bench_sync(
    provider: Annotated[str, typer.Option(help="A simulator's slug (deskhand sim --help lists them).")],
    tickets: Annotated[int, typer.Option(help="Tickets seeded in the simulator and synced.")] = 1000,
    limit: Annotated[int, typer.Option(help="The simulator's main request budget (its --rate-limit).")] = 700,
    window_s: Annotated[float, typer.Option(help="Rate-limit window, where the provider has one (shorter = "
                                                  "quicker runs at the same rate).")] = 60.0,
    seed: Annotated[int, typer.Option(help="Random seed of the seeded tickets.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Sync N tickets with their comments from a simulator held to a rate limit; print the figures."""
    from deskhand.bench.sync import run_sync_bench

    setup_logging("WARNING")
    result = run_sync_bench(provider, tickets, limit, window_s=window_s, seed=seed)
    if as_json:
        print(json.dumps(result))
        return
    out.print(f"[bold]bench sync[/bold] {provider}: {tickets} tickets ({result['comments']} comments), limit {limit} "
              f"per {result['window_s']:g}s")
    out.print(f"  wall {result['wall_s']}s · theoretical {result['theoretical_s']}s · utilisation "
              f"{result['utilisation']:.3f}")
    out.print(f"  requests {result['requests']} · 429s {result['http_429']} · failed {result['failed']} · "
              f"replica equal: {result['replica_equal']}")
    if result["error"]:
        out.print(f"  [red]error:[/red] {result['error']}")
