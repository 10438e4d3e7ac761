"""`deskhand bench pipeline`: end-to-end tickets per second with 1, 2, … worker processes."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from deskhand.cli.apps import JsonOpt, bench_app, err, out


@bench_app.command("pipeline")
def bench_pipeline(
    tickets: Annotated[int, typer.Option(help="Measured tickets per run.")] = 200,
    workers: Annotated[str, typer.Option(help="Worker process counts to run, comma-separated.")] = "1,2",
    backend: Annotated[str, typer.Option(help="sqlite | postgres (a fresh database per run).")] = "sqlite",
    warmup: Annotated[int, typer.Option(help="Warm-up tickets per worker process (not timed).")] = 3,
    embed_threads: Annotated[
        int, typer.Option(help="Inference threads per worker process, every run; 0: cores / the largest count.")
    ] = 0,
    repeat: Annotated[int, typer.Option(help="Take the counts in turn this many times; medians compared.")] = 1,
    timeout: Annotated[float, typer.Option(help="Seconds any one wait may take.")] = 600.0,
    redis_url: Annotated[
        str | None, typer.Option(help="Rate budgets and duplicate suppression in this Redis (the scaled-out set-up).")
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="The simulator to measure against (a slug; default: the first registered).")
    ] = None,
    rate: Annotated[float, typer.Option(
        help="Tickets per second: measure first-response time at this fixed rate instead of throughput.")] = 0.0,
    llm_delay_ms: Annotated[float | None, typer.Option(
        help="With --rate: generation by an OpenAI-compatible stand-in answering after this delay (default: the "
             "offline responder).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Tickets fully handled (decision + actions done) per second by K `deskhand worker` processes,
    offline responder, a simulated helpdesk (--provider); start-up and model loading excluded (workers warm first).
    With --rate R: first-response time (webhook received -> reply or note posted) at R tickets/s, p50/p95/p99,
    split into queue wait, decision and write-back."""
    from deskhand.bench.pipeline import run_pipeline_bench

    if backend not in ("sqlite", "postgres"):
        raise typer.BadParameter("--backend takes sqlite or postgres")
    try:
        counts = [int(k) for k in workers.split(",") if k.strip()]
    except ValueError:
        raise typer.BadParameter("--workers takes counts like 1,2") from None
    if not counts or min(counts) < 1 or tickets < 1:
        raise typer.BadParameter("--workers and --tickets must be at least 1")
    say = None if as_json else (lambda m: err.print(f"[dim]bench:[/dim] {m}"))
    if rate > 0:
        _first_response(tickets, rate, counts, backend, warmup, embed_threads, timeout, redis_url, say, provider,
                        llm_delay_ms, as_json)
        return
    if llm_delay_ms is not None:
        raise typer.BadParameter("--llm-delay-ms goes with --rate")
    r = run_pipeline_bench(
        tickets=tickets,
        workers=counts,
        backend=backend,
        warmup=warmup,
        embed_threads=embed_threads or None,
        repeat=repeat,
        timeout_s=timeout,
        redis_url=redis_url,
        say=say,
        provider=provider,
    )
    if as_json:
        sys.stdout.write(json.dumps(r, indent=2) + "\n")
    else:
        for run in r["runs"]:
            out.print(
                f"{run['workers']} worker process(es), {run['embed_threads']} inference thread(s) each: "
                f"{run['tickets_per_s']:.2f} tickets/s "
                f"({run['decided']}/{run['tickets']} decided in {run['seconds']:.2f} s; routes {run['routes']}; "
                f"actions not done {run['actions_not_done']}; measured jobs {run['measured_jobs']}); "
                f"worker CPU s {run['worker_cpu_s']}, "
                f"bench process (simulator) {run['bench_cpu_share']:.2f} cores; machine busy "
                f"{run['machine_busy']}; load {run['load_avg_1m']}"
            )
        where = f"{backend} + Redis" if redis_url else backend
        medians = ", ".join(f"{k}: {v}/s" for k, v in r["median_tickets_per_s"].items())
        out.print(f"backend {where}; medians {medians}; throughput ratio {counts[-1]} vs {counts[0]} workers = "
                  f"{r['ratio']} ({r['embed_threads']} inference thread(s) per process in every run)")
    ok = all(run["decided"] == run["tickets"] and run["actions_not_done"] == 0 for run in r["runs"])
    raise typer.Exit(0 if ok else 1)


def _first_response(
    tickets: int, rate: float, counts: list[int], backend: str, warmup: int, embed_threads: int, timeout: float,
    redis_url: str | None, say: Any, provider: str | None, llm_delay_ms: float | None, as_json: bool,
) -> None:
    from deskhand.bench.response import run_response_bench

    r = run_response_bench(tickets=tickets, rate=rate, workers=counts, backend=backend, warmup=warmup,
                           embed_threads=embed_threads or None, timeout_s=timeout, redis_url=redis_url, say=say,
                           provider=provider, llm_delay_ms=llm_delay_ms)
    if as_json:
        sys.stdout.write(json.dumps(r, indent=2) + "\n")
    else:
        for run in r["runs"]:
            parts = "; ".join(
                f"{name.removesuffix('_ms').replace('_', ' ')} p50 {v['p50']} / p95 {v['p95']} / p99 {v['p99']} ms"
                for name, v in run.items() if name.endswith("_ms"))
            out.print(f"{backend}, {r['responder']} responder"
                      f"{'' if llm_delay_ms is None else f' ({llm_delay_ms:g} ms)'}, {run['workers']} worker(s), "
                      f"{rate:g} tickets/s offered ({run['achieved_rate']} achieved), {run['answered']}/{tickets} "
                      f"answered: {parts}; load {run['load_avg_1m']}")
    ok = all(run["answered"] == run["tickets"] for run in r["runs"])
    raise typer.Exit(0 if ok else 1)
