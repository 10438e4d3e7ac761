"""The responder's AI steps for one customer message (issue 7): classify → rules → retrieve →
route first → generate only for auto/draft candidates → guardrails → decision.

- Classification: ``deskhand.ai.classify`` (the account's learned taxonomy and/or the
  classification LLM; the seed model when neither). An out-of-scope abstention routes to a human.
- Rules: the built-in ``rules`` plus the per-account ``rules_account`` (VIP, legal/security,
  language). Every rule fired is stored with the decision.
- Route before generation: rules fired, an abstention or no evidence → human, and no generation
  LLM is called (nothing is paid for a ticket a human will answer).
- Reply: the generation LLM when configured, else the offline extractive reply. When the LLM fails
  (unreachable, timed out, refused, answered outside the format), the offline responder decides as
  if no LLM were configured; when the LLM's reply fails the guardrails (unsupported sentences, wrong
  numbers, promises) and the offline reply passes them, the offline reply is used; a reply that
  leaked (other people's data, the prompt, internal talk: the model may have followed an injection)
  gets no stand-in. Every LLM failure is logged with its cause, counted in the
  evidence (``llm.failures``) and named in the decision's reasons.
- Guardrails: a failing reply is demoted from auto-reply to a draft, with the reasons; the
  confidence is multiplied by the grounding factor (weakest sentence's support / threshold, ≤ 1).
  A draft whose confidence falls below the draft bar goes to a human, and a reply that failed the
  guardrails is never offered to the agent as "a possible answer".

``respond`` returns the decision and an evidence dict (classification, guardrails, LLM usage and
cost per task) that ``handle`` stores with the decision.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from typing import Any

from deskhand.ai.allowlist import plain_name
from deskhand.ai.classify import Classified, categories_from_settings, classify
from deskhand.ai.guardrails import GROUNDING_THRESHOLD, GuardReport, check_reply
from deskhand.ai.llm import Completion, LLMError
from deskhand.ai.taxonomy import TaxonomyModel
from deskhand.model import Decision, Route, Ticket, Triage
from deskhand.responder import provenance, rules
from deskhand.responder.compose import compose_reply
from deskhand.responder.decide import decide
from deskhand.responder.policy import Policy
from deskhand.responder.rules_account import fire_account_rules
from deskhand.runtime import Identity, Runtime
from deskhand.store import AccountRecord

log = logging.getLogger(__name__)
_taxonomies: dict[str, tuple[int, TaxonomyModel, list[tuple[str, str]]]] = {}
_lock = threading.Lock()


def account_taxonomy(rt: Runtime, account: str) -> tuple[TaxonomyModel | None, list[tuple[str, str]]]:
    """The account's learned taxonomy and few-shot pool (cached per stored version)."""
    from deskhand.store.taxonomies import load_taxonomy, taxonomy_version

    version = taxonomy_version(rt.store, account)
    if version is None:
        return None, []
    with _lock:
        cached = _taxonomies.get(account)
        if cached and cached[0] == version:
            return cached[1], cached[2]
    stored = load_taxonomy(rt.store, account)
    if stored is None:
        return None, []
    from deskhand.ai.embed import default_embedder

    try:
        model = TaxonomyModel.from_bytes(stored.model, default_embedder())
    except ValueError as exc:  # stored by an older release: the seed model decides until it is retrained
        log.warning("account taxonomy unreadable; using the built-in categories",
                    extra={"account": account, "error": str(exc)})
        return None, []
    with _lock:
        _taxonomies[account] = (stored.version, model, stored.shots)
    return model, stored.shots


def usage_record(c: Completion) -> dict[str, Any]:
    return {
        "task": c.task, "model": c.model, "input_tokens": c.usage.input_tokens,
        "output_tokens": c.usage.output_tokens, "cost_usd": c.cost_usd, "calls": c.calls,
        "latency_ms": round(c.latency_ms, 1),
    }


def respond(
    rt: Runtime, account: AccountRecord, ticket: Ticket, message: str, policy: Policy, ident: Identity,
    *, fired: Sequence[tuple[str, str]] = (),
) -> tuple[Decision, dict[str, Any]]:
    """`fired`: rules the caller already knows fire (a hand-off after a failed automatic reply)."""
    classify_llm, generate_llm = rt.llms()
    taxonomy, shots = account_taxonomy(rt, account.name)
    seed = _Seed(rt)
    fallback = taxonomy.classes if taxonomy else list(seed.predict(message).scores)
    got: Classified = classify(
        message, seed=seed, taxonomy=taxonomy, llm=classify_llm,
        categories=categories_from_settings(account.settings, fallback), shots=shots,
    )
    triage = got.triage
    usage = [usage_record(got.completion)] if got.completion else []
    llm_notes: list[str] = []
    if got.llm_error is not None:
        usage.append({"task": "classify", "error": got.llm_error, "fallback": "offline"})
        llm_notes.append(f"classification LLM failed ({got.llm_error[:200]}); the offline model classified")
    inp = rules.RuleInput(ticket=ticket, text=message, triage=triage, staff_ids=ident.staff_ids, own_id=ident.own_id)
    fired = [*fired, *rules.fire(inp, policy), *fire_account_rules(ticket, message, account.settings)]
    if got.abstained:
        fired.append(("out_of_scope", got.notes[0] if got.notes else "outside the account's taxonomy"))
    sources = [s for s in rt.retrieve(account.tenant_id, message) if s.score >= policy.min_source_score]
    evidence: dict[str, Any] = {"classification": {"source": got.source, "notes": list(got.notes), **got.offline}}
    reply, report = None, None
    if not fired and sources:  # a reply could be sent or drafted: only now pay for generation
        written = _reply(generate_llm, message, sources, ticket)
        reply, report = written.reply, written.report
        usage += written.usage
        llm_notes += written.notes
        if written.rejected is not None:
            evidence["rejected_llm_reply"] = written.rejected
    decision = decide(triage=triage, fired=fired, sources=sources, reply=reply, policy=policy)
    decision = apply_guardrails(decision, report, policy)
    if reply and decision.reply is None and report is not None:  # withheld from the agent, kept for the record
        evidence["withheld_reply"] = {"reply": reply, "reasons": list(report.reasons)}
    if llm_notes:
        decision = dataclasses.replace(decision, reasons=(*decision.reasons, *llm_notes))
    decision, screened = provenance.screen(rt, account, decision, sources)  # derived knowledge, links, secrets
    if screened:
        evidence["provenance"] = screened
    failures = [u for u in usage if "error" in u]
    evidence["llm"] = {"usage": usage, "cost_usd": _total_cost(usage), "failures": len(failures)}
    if report is not None:
        evidence["guardrails"] = {"passed": report.passed, "grounding": report.grounding,
                                  "reasons": list(report.reasons), "unsupported": list(report.unsupported)}
    return decision, evidence


class _Seed:
    """The seed model through the runtime's cache (``predict`` only), for one message: the fallback
    categories and the classification read the same prediction, made once."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._last: tuple[str, Triage] | None = None

    def predict(self, text: str) -> Triage:
        if self._last is None or self._last[0] != text:
            self._last = (text, self.rt.triage(text))
        return self._last[1]


@dataclasses.dataclass(frozen=True, slots=True)
class Written:
    reply: str | None
    report: GuardReport | None
    usage: list[dict[str, Any]]
    notes: list[str]
    rejected: dict[str, Any] | None = None  # the LLM's reply the guardrails refused, for the record


def _reply(llm: Any, message: str, sources: list[Any], ticket: Ticket) -> Written:
    """The reply to propose and its guardrail report: the LLM's, else the offline responder's."""
    name = plain_name(ticket.requester.name if ticket.requester else None)  # never a URL in a greeting

    def checked(text: str | None) -> GuardReport | None:
        return check_reply(text, ticket_text=ticket.text + "\n" + message, sources=sources,
                           system_prompt=_system_prompt()) if text else None

    def offline() -> str | None:
        return compose_reply(message, sources, customer_name=name)

    if llm is None:
        text = offline()
        return Written(text, checked(text), [], [])
    from deskhand.ai.generate import generate_reply

    try:
        generated = generate_reply(llm, message, sources, customer_name=name)
    except LLMError as exc:  # as if no LLM were configured: the offline responder writes the reply
        cause = f"{exc.kind}: {exc}"
        log.warning("generation LLM %s failed, the offline responder writes the reply: %s", llm.name, cause[:300],
                    extra={"llm": llm.name, "error": cause[:500]})
        text = offline()
        return Written(text, checked(text), [{"task": "generate", "error": cause[:500], "fallback": "offline"}],
                       [f"generation LLM failed ({cause[:200]}); the offline responder wrote the reply"])
    usage = [usage_record(generated.completion)]
    if generated.reply is None:
        return Written(None, None, usage, ["the generation LLM judged the sources not enough to answer"])
    report = checked(generated.reply)
    assert report is not None
    if report.passed:
        return Written(generated.reply, report, usage, [])
    rejected = {"reply": generated.reply, "reasons": list(report.reasons), "grounding": report.grounding}
    if report.leaked:  # the model may have followed an injection: a person looks, no automatic stand-in
        return Written(generated.reply, report, usage, [], rejected)
    text = offline()
    fallback = checked(text)
    if fallback is not None and fallback.passed:
        why = "; ".join(report.reasons)
        return Written(text, fallback, usage, [f"the LLM's reply failed the guardrails ({why}); the offline "
                                               "responder's reply is proposed instead"], rejected)
    return Written(generated.reply, report, usage, [], rejected)


def _system_prompt() -> str:
    from deskhand.ai.prompts import CLASSIFY_SYSTEM, GENERATE_SYSTEM

    return GENERATE_SYSTEM + "\n" + CLASSIFY_SYSTEM


def apply_guardrails(decision: Decision, report: GuardReport | None, policy: Policy) -> Decision:
    if report is None or decision.route not in (Route.AUTO_REPLY, Route.DRAFT):
        return decision
    factor = min(1.0, report.grounding / GROUNDING_THRESHOLD)
    confidence = round(decision.confidence * factor, 4)
    reasons = list(decision.reasons)
    route: Route = decision.route
    reply = decision.reply
    if not report.passed:
        reasons.append("guardrails: " + "; ".join(report.reasons))
        route = Route.DRAFT if route is Route.AUTO_REPLY else route
    elif route is Route.AUTO_REPLY and confidence < policy.auto_threshold:
        reasons.append(f"grounding {report.grounding:.2f} lowers confidence to {confidence:.2f}")
        route = Route.DRAFT
    if route is Route.DRAFT and confidence < policy.draft_threshold:
        reasons.append(f"confidence {confidence:.2f} below draft bar {policy.draft_threshold:.2f}: no draft")
        route = Route.HUMAN
    if route is Route.HUMAN and not report.passed:
        reply = None  # a reply that failed the guardrails is not offered to the agent as an answer
    return dataclasses.replace(decision, route=route, confidence=confidence, reasons=tuple(reasons), reply=reply)


def _total_cost(usage: list[dict[str, Any]]) -> float | None:
    costs = [u.get("cost_usd") for u in usage if "model" in u]
    if not costs:
        return 0.0
    if any(c is None for c in costs):
        return None
    return round(sum(float(c) for c in costs if c is not None), 8)


_last = threading.local()


def decide_message(
    rt: Runtime, account: AccountRecord, ticket: Ticket, message: str, policy: Policy, ident: Identity,
    *, fired: Sequence[tuple[str, str]] = (),
) -> Decision:
    """``respond``, keeping the evidence for ``evidence_for`` (same thread) so ``handle`` can store it."""
    decision, evidence = respond(rt, account, ticket, message, policy, ident, fired=fired)
    _last.item = (decision, evidence)
    return decision


def evidence_for(decision: Decision) -> dict[str, Any]:
    """The evidence ``decide_message`` produced for this decision in this thread ({} otherwise)."""
    item = getattr(_last, "item", None)
    return item[1] if item is not None and item[0] is decision else {}
