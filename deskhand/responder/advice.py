"""Promotion advice per category, from settled outcomes: draft → canary → auto, and thresholds.

- draft → canary after `min_clean` clean drafts (sent as is or with small edits) making at least
  `clean_share` of the settled drafts;
- canary → auto after a clean canary window: `min_canary` settled automatic replies in canary with a
  failed-or-reopened share at or under the kill-switch threshold;
- thresholds: too many failed automatic replies → raise `auto_threshold`; drafts just below the bar
  that agents sent nearly unchanged → lower it (never under `draft_threshold`).
Nothing changes by itself unless the account opts in (`autonomy_auto_promote=true`), and never while a
kill switch covers the category.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from deskhand.responder.modes import Mode, get_mode, set_mode
from deskhand.responder.outcomes import ACCEPTED_MAX, entries
from deskhand.responder.policy import Policy
from deskhand.responder.switches import AutonomyConfig, cap_for
from deskhand.store import Store
from deskhand.store import schema as t

MIN_CLEAN, CLEAN_SHARE, MIN_CANARY = 20, 0.9, 20
SMALL_EDIT = 0.3
ADVISOR = "deskhand:advice"


@dataclass
class Advice:
    account: str
    category: str
    mode: str
    recommend: str | None = None  # a mode to move to
    why: str = ""
    thresholds: dict[str, float] = field(default_factory=dict)  # suggested setting changes
    threshold_why: list[str] = field(default_factory=list)
    blocked: str | None = None  # a kill switch holds the category

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _confidences(store: Store, ids: list[int]) -> dict[int, float]:
    if not ids:
        return {}
    d = t.decisions.c
    with store.engine.connect() as c:
        return {r.id: float(r.confidence) for r in c.execute(select(d.id, d.confidence).where(d.id.in_(ids))).all()}


def advise(store: Store, account: str) -> list[Advice]:
    rec = store.get_account(account)
    policy, cfg = Policy.from_settings(rec.settings), AutonomyConfig.from_settings(rec.settings)
    by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in entries(store, account=account):
        by_cat[e["category"]].append(e)
    conf = _confidences(store, [e["decision_id"] for rows in by_cat.values() for e in rows])
    return [
        _advise_one(store, rec.provider, account, cat, rows, policy, cfg, conf) for cat, rows in sorted(by_cat.items())
    ]


def _advise_one(store: Store, provider: str, account: str, category: str, rows: list[dict[str, Any]],
                policy: Policy, cfg: AutonomyConfig, conf: dict[int, float]) -> Advice:
    mode = get_mode(store, account, category).mode
    adv = Advice(account, category, mode.value)
    cap = cap_for(store, account, provider, category)
    drafts = [r for r in rows if r["route"] == "draft" and r["mode"] != "shadow" and r["outcome"] != "pending"]
    clean = [r for r in drafts if r["edit_distance"] is not None and r["edit_distance"] <= SMALL_EDIT]
    auto = [r for r in rows if r["route"] == "auto_reply" and r["outcome"] != "pending" and r["mode"] != "shadow"]
    canary = [r for r in auto if r["mode"] == Mode.CANARY.value]
    bad = lambda rs: sum(1 for r in rs if r["outcome"] in ("failed", "reopened"))  # noqa: E731
    if mode is Mode.DRAFT:
        share = len(clean) / len(drafts) if drafts else 0.0
        if len(clean) >= MIN_CLEAN and share >= CLEAN_SHARE:
            adv.recommend, adv.why = Mode.CANARY.value, f"{len(clean)}/{len(drafts)} drafts sent with small edits"
        else:
            adv.why = f"{len(clean)} clean drafts of {len(drafts)} settled (need {MIN_CLEAN} and {CLEAN_SHARE:.0%})"
    elif mode is Mode.CANARY:
        rate = bad(canary) / len(canary) if canary else 0.0
        if len(canary) >= MIN_CANARY and rate <= cfg.autonomy_failure_threshold:
            adv.recommend, adv.why = Mode.AUTO.value, f"clean canary: {bad(canary)}/{len(canary)} failed or reopened"
        else:
            adv.why = (f"canary window {len(canary)}/{MIN_CANARY} settled, "
                       f"{rate:.1%} failed or reopened (bar {cfg.autonomy_failure_threshold:.1%})")
    if cap is not None and adv.recommend:
        adv.blocked, adv.recommend = cap[1], None
    if len(auto) >= cfg.autonomy_min_sample and bad(auto) / len(auto) > cfg.autonomy_failure_threshold:
        new = min(0.99, round(policy.auto_threshold + 0.05, 2))
        adv.thresholds["auto_threshold"] = new
        adv.threshold_why.append(f"{bad(auto)}/{len(auto)} automatic replies failed: raise auto_threshold to {new}")
    bar = policy.auto_threshold
    near = [r for r in drafts if bar - 0.15 <= conf.get(r["decision_id"], 0.0) < bar]
    near_clean = [r for r in near if (r["edit_distance"] or 1.0) <= ACCEPTED_MAX]
    if len(near) >= MIN_CLEAN and len(near_clean) / len(near) >= CLEAN_SHARE and "auto_threshold" not in adv.thresholds:
        low = math.floor(min(conf[r["decision_id"]] for r in near_clean) * 20) / 20
        new = max(policy.draft_threshold, low)
        adv.thresholds["auto_threshold"] = new
        adv.threshold_why.append(f"{len(near_clean)}/{len(near)} drafts below the bar were sent as is: "
                                 f"lower auto_threshold to {new}")
    return adv


def promote(store: Store, account: str, *, force: bool = False) -> list[Advice]:
    """Apply the mode recommendations (only when the account opted in, or `force` from a human)."""
    rec = store.get_account(account)
    if not (force or AutonomyConfig.from_settings(rec.settings).autonomy_auto_promote):
        return []
    applied = []
    for adv in advise(store, account):
        if adv.recommend:
            set_mode(store, account, adv.recommend, category=adv.category, actor=ADVISOR, reason=adv.why)
            applied.append(adv)
    return applied
