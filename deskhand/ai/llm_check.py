"""Does the configured LLM answer, in the structured-output format deskhand asks for?

``probe`` sends one small classification (the same schema shape triage uses: the category an enum)
and reports what happened: answered or not (with the cause), the format the server accepted (a
refused format is downgraded by the adapter; the probe says which ``?format=`` avoids the refused
request), whether the answer parsed into one of the offered categories, and the latency.
``deskhand doctor`` prints it; ``deskhand serve`` logs it at start.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from deskhand.ai.classify import classification_schema
from deskhand.ai.llm import LLM, LLMError, Message
from deskhand.ai.prompts import classify_system, classify_user

PROBE_CATEGORIES = {"billing": "charges, invoices, refunds", "account_access": "signing in, passwords",
                    "other": "anything else"}
PROBE_TICKET = "Charged twice\n\nI was charged twice for my subscription this month. Please fix the invoice."


@dataclass(frozen=True, slots=True)
class Probe:
    llm: str
    ok: bool
    format: str | None  # the structured-output format in force after the call
    asked_format: str | None  # the format configured before the call
    category: str | None = None
    latency_ms: float | None = None
    error: str | None = None
    advice: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe(llm: LLM) -> Probe:
    """One structured call to ``llm``; never raises for an LLM failure (it is the report)."""
    asked = getattr(llm, "json_mode", None)
    started = time.monotonic()
    try:
        done = llm.complete(
            system=classify_system(PROBE_CATEGORIES),
            messages=[Message("user", classify_user(PROBE_TICKET))],
            schema=classification_schema(list(PROBE_CATEGORIES)),
            temperature=0.0,
            max_tokens=120,
            task="probe",
        )
    except LLMError as exc:
        now = getattr(llm, "json_mode", None)
        advice = _advice(exc, now)
        return Probe(llm.name, False, now, asked, latency_ms=_ms(started), error=f"{exc.kind}: {exc}"[:500],
                     advice=advice)
    now = getattr(llm, "json_mode", None)
    category = getattr(done.parsed, "category", None)
    hint = (f"the server refused format {asked!r}; add ?format={now} to the LLM spec (or set "
              f"DESKHAND_LLM_FORMAT={now}) so no request is refused") if now != asked else None
    return Probe(llm.name, True, now, asked, category=category, latency_ms=_ms(started), advice=hint)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _advice(exc: LLMError, mode: str | None) -> str:
    if exc.kind == "connection":
        return "nothing answers at that address: check the host and port in the spec, and that the server runs"
    if exc.kind == "timeout":
        return "the server is too slow: raise DESKHAND_LLM_TIMEOUT_S or use a smaller model"
    if exc.kind == "auth":
        return "the key was refused: check OPENAI_API_KEY / ANTHROPIC_API_KEY / AZURE_OPENAI_API_KEY"
    if exc.kind == "invalid_output":
        if mode in ("json_schema", "json_object"):
            return (f"the model's answers do not fit the schema even in format {mode}: use a stronger model, or check "
                    "that the server constrains decoding (llama.cpp does with ?format=json_object)")
        return ("the model does not answer in the requested JSON: try ?format=json_object (constrained decoding on "
                "llama.cpp servers) or a stronger model")
    if exc.kind == "rejected":
        return "the request was refused: check the model name, or try another ?format="
    return "the server failed: see the error"
