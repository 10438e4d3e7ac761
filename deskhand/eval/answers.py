"""Answer-or-abstain evaluation on StackFAQ: coverage and precision of automatic answers.

The knowledge base is ``kb.jsonl`` (one thread per document, one chunk per answer, the thread's
title as the chunk's title); each query goes through the offline responder's steps: seed triage +
hard rules (outage, critical, angry → human), hybrid retrieval, the support of the best thread
(``deskhand.ai.support``: calibrated probability that the best thread is the right one, from its
cosine and its margin over the runner-up thread), the extractive cited reply, the guardrails, and
the route: automatic at support ≥ ``AUTO_AT``, draft at ≥ ``DRAFT_AT``, else human — the
answer-or-abstain question this dataset asks. ``default_policy`` gives the same queries through
``decide()`` with the seed taxonomy and default thresholds (category gate included).

coverage = automatic answers / queries; precision = automatic answers whose best thread is the
gold thread / automatic answers. ``--calibrate`` refits the support model on the dev split and
prints its coefficients (that is how the constants in ``deskhand.ai.support`` were obtained).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from deskhand.ai.chunk import Chunk
from deskhand.ai.guardrails import check_reply
from deskhand.ai.retrieve import Retriever
from deskhand.ai.support import AUTO_AT, DRAFT_AT, SupportModel, best_documents
from deskhand.ai.triage import seed_model
from deskhand.errors import ConfigError
from deskhand.eval.cache import CachedEmbedder
from deskhand.model import Route, Source
from deskhand.responder import rules
from deskhand.responder.assist import apply_guardrails
from deskhand.responder.compose import compose_reply
from deskhand.responder.decide import decide
from deskhand.responder.policy import Policy


def load_kb(dataset: Path) -> list[Chunk]:
    path = dataset / "kb.jsonl"
    if not path.is_file():
        raise ConfigError(f"{dataset} is not an answers dataset: expected kb.jsonl and queries_<split>.jsonl")
    chunks = []
    for line in path.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        for i, answer in enumerate(doc["answers"]):
            chunks.append(Chunk(doc["id"], i, doc["title"], (doc["title"],), answer.strip(), ""))
    return chunks


def load_queries(dataset: Path, split: str) -> list[dict[str, str]]:
    path = dataset / f"queries_{split}.jsonl"
    if not path.is_file():
        raise ConfigError(f"no {path.name} in {dataset}: use --split dev or --split test")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _features(retriever: Retriever, queries: list[dict[str, str]]) -> list[tuple[list[Source], float, float]]:
    out = []
    for q in queries:
        sources = best_documents(retriever.search(q["query"], k=20))
        top = sources[0].score if sources else 0.0
        second = sources[1].score if len(sources) > 1 else 0.0
        out.append((sources, top, top - second))
    return out


def calibrate(dataset: Path) -> dict[str, Any]:
    """Fit the support model on the dev split; print its coefficients and dev figures."""
    retriever = Retriever(load_kb(dataset), embedder=CachedEmbedder())
    queries = load_queries(dataset, "dev")
    feats = _features(retriever, queries)
    correct = np.array([bool(s) and s[0].id == q["gold"] for (s, _, _), q in zip(feats, queries, strict=True)])
    model = SupportModel.fit(np.array([[t, m] for _, t, m in feats]), correct)
    return {"split": "dev", "n": len(queries), "recall_at_1": round(float(correct.mean()), 4), **model.describe()}


def evaluate_answers(dataset: Path, split: str = "test") -> dict[str, Any]:
    started = time.perf_counter()
    retriever = Retriever(load_kb(dataset), embedder=CachedEmbedder())
    queries = load_queries(dataset, split)
    support = SupportModel()
    seed = seed_model()
    policy = Policy()
    counts = {"auto": 0, "auto_correct": 0, "draft": 0, "human": 0, "rules": 0, "auto_on_rules": 0, "guard": 0}
    gated = {"auto": 0, "auto_correct": 0, "draft": 0, "human": 0}  # the whole default policy
    triages = seed.predict_many([q["query"] for q in queries])
    for q, triage, (sources, top, margin) in zip(queries, triages, _features(retriever, queries), strict=True):
        fired = rules.fire(rules.RuleInput(_ticket(q["query"]), q["query"], triage, frozenset(), None), policy)
        p = support.probability(top, margin)
        route = "auto" if p >= AUTO_AT else "draft" if p >= DRAFT_AT else "human"
        reply, report = None, None
        if sources and not fired:
            reply = compose_reply(q["query"], sources[:1])
            report = check_reply(reply or "", ticket_text=q["query"], sources=sources[:1], embedder=retriever.embedder)
            if not report.passed and route == "auto":
                route, counts["guard"] = "draft", counts["guard"] + 1
        if fired:
            counts["rules"] += 1
            route = "human"
        counts[route] += 1
        counts["auto_on_rules"] += bool(fired) and route == "auto"
        if route == "auto":
            counts["auto_correct"] += sources[0].id == q["gold"]
        # The same query through decide() with the seed taxonomy and the default policy: the seed's
        # categories gate automatic replies (how_to, account_access, billing) and its confidence
        # falls on text unlike support tickets, so this is the conservative, out-of-the-box figure.
        evidence = [s for s in sources if s.score >= policy.min_source_score]
        decision = apply_guardrails(
            decide(triage=triage, fired=fired, sources=evidence, reply=reply, policy=policy), report, policy
        )
        g = {Route.AUTO_REPLY: "auto", Route.DRAFT: "draft"}.get(decision.route, "human")
        gated[g] += 1
        if g == "auto":
            gated["auto_correct"] += evidence[0].id == q["gold"]
    n = len(queries)
    return {
        "dataset": dataset.name,
        "split": split,
        "n": n,
        "coverage": round(counts["auto"] / n, 4),
        "precision": round(counts["auto_correct"] / counts["auto"], 4) if counts["auto"] else None,
        "drafts": counts["draft"],
        "human": counts["human"],
        "auto": counts["auto"],
        "demoted_by_guardrails": counts["guard"],
        "rule_fired": counts["rules"],
        "auto_on_outage_critical_angry": counts["auto_on_rules"],
        "auto_threshold": AUTO_AT,
        "default_policy": {
            "coverage": round(gated["auto"] / len(queries), 4),
            "precision": round(gated["auto_correct"] / gated["auto"], 4) if gated["auto"] else None,
            "drafts": gated["draft"],
            "human": gated["human"],
        },
        "responder": "offline (extractive)",
        "seconds": round(time.perf_counter() - started, 1),
    }


def _ticket(text: str) -> Any:
    from deskhand.model import Status, Ticket

    return Ticket(id="q", subject="", description=text, status=Status.NEW, raw_status="new")
