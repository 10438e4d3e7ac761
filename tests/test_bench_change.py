"""`deskhand bench kb-change` applies solved tickets to a running worker's index in place."""

from __future__ import annotations

from deskhand.bench.change import run


def test_the_bench_applies_each_change_in_place_and_finds_every_ticket() -> None:
    r = run(60, changes=2, queries=3)
    assert r["found"] == 2 and r["rebuilt"] is False
    for figure in ("first_query_s", "full_rebuild_s", "warm_p50_ms", "query_embed_p50_ms", "ingest_p50_ms",
                   "apply_query_p50_ms", "next_query_p50_ms"):
        assert r[figure] > 0, figure
