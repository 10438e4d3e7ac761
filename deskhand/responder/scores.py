"""Figures from the outcome ledger, per account, category and day (or any coarser grouping).

automatic_resolution_rate  automatic replies resolved / decisions that acted (shadow excluded)
escalation_rate            (human routes + automatic replies a human took over) / decisions
draft_acceptance           drafts sent as is or with edits / drafts an agent answered or left unused
draft_edit_distance        mean normalised edit distance between draft and what the agent sent
reopen_rate                reopened / settled automatic replies
failed_resolution_rate     (failed + reopened) / settled automatic replies
cost_per_resolution        LLM spend / automatic resolutions (None without a resolution)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from deskhand.responder.outcomes import entries
from deskhand.store import Store

GROUPS = ("account", "category", "day")


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def summarise(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    rows = [r for r in rows if r["mode"] != "shadow"]
    auto = [r for r in rows if r["route"] == "auto_reply"]
    settled = [r for r in auto if r["outcome"] != "pending"]
    resolved = sum(1 for r in auto if r["outcome"] == "resolved")
    reopened = sum(1 for r in auto if r["outcome"] == "reopened")
    failed = sum(1 for r in auto if r["outcome"] == "failed")
    escalated = sum(1 for r in rows if r["route"] == "human") + sum(1 for r in auto if r["outcome"] == "escalated")
    drafts = [r for r in rows if r["route"] == "draft" and r["outcome"] != "pending"]
    accepted = sum(1 for r in drafts if r["outcome"] in ("accepted", "edited"))
    distances = [r["edit_distance"] for r in drafts if r["edit_distance"] is not None]
    cost = sum(r["cost_usd"] or 0.0 for r in rows)
    return {
        "decisions": len(rows),
        "auto_replies": len(auto),
        "auto_settled": len(settled),
        "auto_resolved": resolved,
        "drafts": sum(1 for r in rows if r["route"] == "draft"),
        "drafts_settled": len(drafts),
        "humans": sum(1 for r in rows if r["route"] == "human"),
        "automatic_resolution_rate": _ratio(resolved, len(rows)),
        "escalation_rate": _ratio(escalated, len(rows)),
        "draft_acceptance": _ratio(accepted, len(drafts)),
        "draft_edit_distance": round(sum(distances) / len(distances), 4) if distances else None,
        "reopen_rate": _ratio(reopened, len(settled)),
        "failed_resolution_rate": _ratio(failed + reopened, len(settled)),
        "cost_usd": round(cost, 6),
        "cost_per_resolution": round(cost / resolved, 6) if resolved else None,
    }


def compute(store: Store, *, account: str | None = None, since: datetime | None = None,
            by: Sequence[str] = GROUPS) -> list[dict[str, Any]]:
    """One row per group (keys in `by`) with the figures of `summarise`."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in entries(store, account=account, since=since):
        key = {"account": r["account"], "category": r["category"], "day": r["created_at"].date().isoformat()}
        groups[tuple(key[k] for k in by)].append(r)
    return [{**dict(zip(by, key, strict=True)), **summarise(rows)} for key, rows in sorted(groups.items())]
