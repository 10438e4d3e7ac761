"""`deskhand bench api` runs end to end on a small replica and reports its figures side by side."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from deskhand.cli import app


def test_bench_api_reports_replica_listing_and_proxy_against_direct() -> None:
    r = CliRunner().invoke(app, ["bench", "api", "--provider", "zendesk", "--tickets", "20", "--requests", "5",
                                 "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    for part in ("list_tickets_replica", "proxy", "direct"):
        assert 0 < got[part]["p50_ms"] <= got[part]["p99_ms"]
    assert got["proxy_overhead_p50_ms"] == round(got["proxy"]["p50_ms"] - got["direct"]["p50_ms"], 3)
    assert set(got["cpu_per_call_p50_ms"]) == {"proxy", "direct"}
    assert all(v >= 0 for v in got["cpu_per_call_p50_ms"].values())
