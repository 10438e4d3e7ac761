"""`deskhand bench webhooks`: webhook ingestion latency and throughput against `deskhand serve`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from deskhand.cli.apps import JsonOpt, bench_app, err, out


@bench_app.command("webhooks")
def bench_webhooks(
    rate: Annotated[float, typer.Option(help="Webhooks per second in the fixed-rate phase.")] = 500.0,
    seconds: Annotated[float, typer.Option(help="Length of each phase.")] = 10.0,
    backend: Annotated[str, typer.Option(help="sqlite | postgres (a fresh database, dropped after).")] = "sqlite",
    concurrency: Annotated[int, typer.Option(help="Connections in the saturation phase.")] = 32,
    redis_url: Annotated[str | None, typer.Option(help="Give the gateway Redis duplicate suppression.")] = None,
    provider: Annotated[
        str | None, typer.Option(help="Whose signed webhooks to send (a simulator's slug; default: the first).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A helpdesk's signed ticket-created webhooks at a fixed rate, then at saturation, against a real `deskhand serve
    --no-workers` and, in the same run, a bare Starlette app that only inserts the body."""
    from deskhand.bench.webhooks import run_webhooks_bench

    if backend not in ("sqlite", "postgres"):
        raise typer.BadParameter("--backend takes sqlite or postgres")
    say = None if as_json else (lambda m: err.print(f"[dim]bench:[/dim] {m}"))
    r = run_webhooks_bench(
        rate=rate, seconds=seconds, backend=backend, concurrency=concurrency, redis_url=redis_url, say=say,
        provider=provider,
    )
    if as_json:
        sys.stdout.write(json.dumps(r, indent=2) + "\n")
    else:
        for name, f in (("deskhand serve --no-workers", r), ("bare Starlette insert", r["baseline"])):
            out.print(
                f"{name}: p50 {f['p50_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms at {rate:g}/s "
                f"({f['fixed_rate_acked']} acked); saturation {f['saturation_per_s']:.0f}/s; "
                f"accepted {f['accepted']}, persisted {f['persisted']}, lost {f['lost']}, "
                f"duplicated {f['duplicated']}, errors {f['errors']}"
            )
        out.print(
            f"backend {backend}; saturation ratio deskhand/baseline = {r['ratio']}; "
            f"machine {r['machine']['cpus']} cpus, load {r['machine']['load_avg_1m']}"
        )
    ok = r["lost"] == 0 and r["duplicated"] == 0 and r["persisted"] == r["accepted"]
    raise typer.Exit(0 if ok else 1)
