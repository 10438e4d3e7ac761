"""Knowledge gaps: questions that went to drafts or humans because retrieval found nothing close
enough, grouped by topic (agglomerative clustering of MiniLM embeddings) with example tickets."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from sqlalchemy import select

from deskhand.responder.compose import tokens, words
from deskhand.responder.outcomes import entries
from deskhand.responder.policy import Policy
from deskhand.store import Store
from deskhand.store import schema as t

CLUSTER_DISTANCE = 0.55  # cosine distance under which two questions share a topic


def gap_questions(store: Store, account: str | None = None) -> list[dict[str, Any]]:
    """Ledger entries routed to draft/human, no hard rule fired, best source under full support."""
    rows = [e for e in entries(store, account=account) if e["route"] in ("draft", "human")]
    if not rows:
        return []
    d = t.decisions.c
    with store.engine.connect() as c:
        q = select(d.id, d.rules).where(d.id.in_([e["decision_id"] for e in rows]))
        fired = {r.id: r.rules for r in c.execute(q)}
    bars: dict[str, float] = {}
    out = []
    for e in rows:
        if e["account"] not in bars:
            rec = store.find_account(e["account"])
            bars[e["account"]] = Policy.from_settings(rec.settings if rec else {}).full_support_score
        if fired.get(e["decision_id"]) or e["best_score"] >= bars[e["account"]]:
            continue
        out.append(e)
    return out


def topic_label(questions: list[str], n: int = 3) -> str:
    """The `n` words found in the most questions; ties go to the word mentioned more often, then to
    the one mentioned first (a deterministic label: words() is a set, whose order changes with each
    process's string hashing, and ties used to be broken by it)."""
    seen_in = Counter(w for q in questions for w in words(q) if not w.isdigit())
    said = [w for q in questions for w in tokens(q)]
    mentions = Counter(said)
    first: dict[str, int] = {}
    for i, w in enumerate(said):
        first.setdefault(w, i)
    ranked = sorted(seen_in, key=lambda w: (-seen_in[w], -mentions[w], first[w]))
    return " / ".join(ranked[:n]) or "misc"


def find_gaps(store: Store, account: str | None = None, *, examples: int = 3) -> list[dict[str, Any]]:
    rows = gap_questions(store, account)
    if not rows:
        return []
    from deskhand.ai.embed import default_embedder

    texts = [r["question"] for r in rows]
    vecs = default_embedder().embed(texts)
    if len(rows) == 1:
        labels = np.zeros(1, dtype=int)
    else:
        from sklearn.cluster import AgglomerativeClustering

        labels = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage="average", distance_threshold=CLUSTER_DISTANCE
        ).fit_predict(vecs)
    groups = []
    for label in sorted(set(labels.tolist())):
        members = [i for i, lab in enumerate(labels) if lab == label]
        centre = vecs[members].mean(axis=0)
        members.sort(key=lambda i: -float(vecs[i] @ centre))
        qs = [texts[i] for i in members]
        groups.append({
            "topic": topic_label(qs),
            "tickets": len(members),
            "best_score": round(max(rows[i]["best_score"] for i in members), 4),
            "examples": [
                {"account": rows[i]["account"], "ticket_id": rows[i]["ticket_id"],
                 "question": texts[i].split("\n")[0][:120], "route": rows[i]["route"]}
                for i in members[:examples]
            ],
        })
    return sorted(groups, key=lambda g: (-g["tickets"], g["topic"]))
