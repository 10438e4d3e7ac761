"""`deskhand bench tenants` builds the tenants' knowledge and reports a fresh worker's figures."""

from __future__ import annotations

import pytest

from deskhand.bench.tenants import run


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_bench_builds_every_tenant_and_times_a_fresh_worker(backend: str) -> None:
    result = run(3, 4, backend, queries=2, workers=2)
    assert result["texts_embedded"] >= 3 * 4  # every chunk's text (and most titles) embedded at ingest
    assert result["queries"] == 4 and result["workers"] == 2 and result["rss_mb"] > 0 and result["worker_start_s"] > 0
    for figure in ("cold_p50_ms", "cold_p95_ms", "warm_p50_ms", "warm_p95_ms", "query_embed_p50_ms"):
        assert result[figure] > 0, figure


def test_the_big_tenant_holds_every_tenants_chunks_and_is_timed_apart() -> None:
    result = run(2, 3, "sqlite", queries=2, workers=1, big=True)
    assert result["big_texts_embedded"] >= 2 * 3 and result["big_build_s"] >= 0  # rounded seconds: 0.0 on a fast build
    for figure in ("big_cold_p50_ms", "big_warm_p50_ms", "big_warm_p95_ms"):
        assert result[figure] > 0, figure
