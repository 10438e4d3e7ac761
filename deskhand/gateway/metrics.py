"""GET /metrics: Prometheus series computed from the outcome ledger and kill switches at scrape time.

A custom collector on its own registry (no process-global state): each scrape reads the store, so the
figures are the same ones `deskhand metrics` prints, per account and category.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool

from deskhand.api.auth import require, tenant_account_names
from deskhand.api.keys import Principal
from deskhand.runtime import Runtime

RATES = (
    ("automatic_resolution_rate", "Automatic replies resolved / decisions that acted"),
    ("escalation_rate", "Decisions that ended with a human / decisions that acted"),
    ("draft_acceptance", "Drafts sent as is or edited / settled drafts"),
    ("draft_edit_distance", "Mean normalised edit distance between drafts and what agents sent"),
    ("reopen_rate", "Reopened / settled automatic replies"),
    ("failed_resolution_rate", "Failed or reopened / settled automatic replies"),
    ("cost_per_resolution", "LLM spend in USD per automatic resolution"),
)
COUNTS = (
    ("decisions", "Decisions that acted (shadow excluded)"),
    ("auto_replies", "Automatic replies sent"),
    ("drafts", "Drafts posted"),
    ("humans", "Tickets routed to humans"),
    ("cost_usd", "LLM spend in USD"),
)


class LedgerCollector(Collector):
    """The ledger's series; with `accounts`, only those accounts' (a tenant's own)."""

    def __init__(self, rt: Runtime, accounts: frozenset[str] | None = None) -> None:
        self.rt, self.accounts = rt, accounts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from deskhand.responder.scores import compute
        from deskhand.responder.switches import list_switches

        rows = compute(self.rt.store, by=("account", "category"))
        if self.accounts is not None:
            rows = [r for r in rows if r["account"] in self.accounts]
        labels = ["account", "category"]
        for name, doc in (*COUNTS, *RATES):
            family = GaugeMetricFamily(f"deskhand_{name}", doc, labels=labels)
            for r in rows:
                if r[name] is not None:
                    family.add_metric([r["account"], r["category"]], float(r[name]))
            yield family
        tripped = GaugeMetricFamily("deskhand_kill_switches_tripped", "Kill switches tripped now",
                                    labels=["scope", "automatic"])
        counts: dict[tuple[str, str], int] = {}
        for s in list_switches(self.rt.store):
            if self.accounts is not None and s.get("account") is not None and s["account"] not in self.accounts:
                continue
            key = (s["scope"], "true" if s["automatic"] else "false")
            counts[key] = counts.get(key, 0) + 1
        for key, n in sorted(counts.items()):
            tripped.add_metric(list(key), float(n))
        yield tripped
        reauth = GaugeMetricFamily("deskhand_account_needs_reauth", "1 while an OAuth account's grant is gone "
                                   "(its jobs wait for `deskhand connect … --oauth`)", labels=["account"])
        for account, (status, _reason) in sorted(self.rt.oauth_tokens.statuses().items()):
            if self.accounts is None or account in self.accounts:
                reauth.add_metric([account], 1.0 if status == "needs_reauth" else 0.0)
        yield reauth


def add_metrics_route(app: FastAPI, rt: Runtime) -> None:
    """GET /metrics for a key with the `admin` scope: its labels name accounts, so a key sees only its
    own tenant's series."""
    def scrape(tenant_id: str) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(LedgerCollector(rt, frozenset(tenant_account_names(rt, tenant_id))))
        return generate_latest(registry)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(who: Annotated[Principal, Depends(require("admin"))]) -> Response:
        body = await run_in_threadpool(scrape, who.tenant_id)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
