"""`deskhand bench pipeline`: real worker processes, the simulator, a tiny run (SQLite)."""

from __future__ import annotations

import pytest

from deskhand.bench.pipeline import embed_threads_for, run_pipeline_bench


@pytest.mark.parametrize(
    "workers, cpus, threads",
    [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 8, 4), (1, 1, 1)],
)
def test_inference_threads_share_the_cores_among_worker_processes(workers: int, cpus: int, threads: int) -> None:
    assert embed_threads_for(workers, cpus) == threads


def test_two_worker_processes_warm_up_then_handle_every_measured_ticket() -> None:
    notes: list[str] = []
    r = run_pipeline_bench(tickets=4, workers=(2,), warmup=2, timeout_s=600, say=notes.append)  # loaded CI: minutes
    assert [run["workers"] for run in r["runs"]] == [2]
    for run in r["runs"]:
        assert run["decided"] == 4 and run["actions_not_done"] == 0
        assert run["measured_jobs"] == {"done": 4}  # the measured events only, all done
        assert run["warm_workers"] == run["workers"]  # the clock started with every process warm
        assert run["tickets_per_s"] > 0 and len(run["worker_cpu_s"]) == run["workers"]
        assert sum(run["routes"].values()) == 4
    assert r["ratio"] == 1.0  # the last run over the first: one run here
    assert any("releasing the measured tickets" in n for n in notes)
