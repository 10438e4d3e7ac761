"""The LLM port, its values, and the loop every adapter shares.

``LLM.complete`` sends one system prompt and a conversation, and returns a ``Completion``: text,
the validated pydantic object when a schema was given, token usage, cost and latency.

Shared behaviour, implemented once in ``ChatLLM`` for every adapter:

- Structured output: the adapter asks for JSON natively (OpenAI ``response_format``, Anthropic
  forced tool use); the answer is validated against the schema; on failure the validation error
  is sent back once ("repair"); a second failure raises ``LLMError(kind="invalid_output")``.
- Retries: the SDKs' own retries are switched off (``max_retries=0``) and tenacity retries here,
  on 408/409/429/5xx, timeouts and connection errors, honouring ``Retry-After`` /
  ``retry-after-ms``. Why not the SDKs' retry: one policy for both SDKs and all their versions
  (they differ: openai ignores Retry-After over 120 s, anthropic obeys any value); a Retry-After
  longer than ``max_wait_s`` is not slept in a worker but raised (``retryable``, ``retry_after``)
  so the queue can reschedule the job; the sleep is injectable, so tests need not sleep; and
  every retried attempt is logged.

Adapters live in ``llm_openai`` (OpenAI, OpenAI-compatible servers, Azure OpenAI) and
``llm_anthropic``; ``open_llm`` picks one from a spec string (see ``llm_spec``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import pydantic
import tenacity

from deskhand.ai.pricing import PriceTable
from deskhand.errors import DeskhandError, ProviderError

log = logging.getLogger(__name__)

Role = Literal["user", "assistant"]
ErrorKind = Literal["timeout", "rate_limited", "unavailable", "connection", "auth", "rejected", "invalid_output"]
RETRYABLE_KINDS: frozenset[str] = frozenset({"timeout", "rate_limited", "unavailable", "connection"})


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    parsed: pydantic.BaseModel | None
    usage: Usage
    cost_usd: float | None  # None when the model has no price (see deskhand.ai.pricing)
    model: str
    latency_ms: float
    calls: int = 1  # model calls that returned an answer (2 when a repair was needed)
    task: str = "generate"


class LLMError(DeskhandError):
    """An LLM call failed. ``retryable`` errors may succeed later (after ``retry_after`` s)."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        status: int | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.body = body

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS


@runtime_checkable
class LLM(Protocol):
    @property
    def name(self) -> str:
        """``provider:model[@url]``, for logs and decision records."""
        ...

    def complete(
        self,
        *,
        system: str,
        messages: Sequence[Message],
        schema: type[pydantic.BaseModel] | None = None,
        temperature: float = 0.0,
        top_p: float | None = None,
        max_tokens: int = 800,
        task: str = "generate",
    ) -> Completion: ...


@dataclass(frozen=True, slots=True)
class Request:
    """What an adapter sends: the conversation in the provider's own message format."""

    system: str
    turns: list[dict[str, Any]]
    schema: type[pydantic.BaseModel] | None
    temperature: float
    top_p: float | None
    max_tokens: int


@dataclass(frozen=True, slots=True)
class Answer:
    """What an adapter got back: text, or an already-decoded object (tool use), and usage."""

    text: str
    usage: Usage
    model: str
    data: Any = None  # set when the provider returned structured arguments (tool use)
    raw: Any = None  # the provider's reply, for building a repair turn


def status_kind(status: int) -> ErrorKind:
    if status == 429:
        return "rate_limited"
    if status in (408, 409) or status >= 500:
        return "unavailable"
    if status in (401, 403):
        return "auth"
    return "rejected"


_HINTS: dict[str, str] = {
    "auth": "; check the API key (OPENAI_API_KEY, AZURE_OPENAI_API_KEY or ANTHROPIC_API_KEY)",
    "rate_limited": "; the provider asked us to slow down",
    "rejected": "; the request was refused: check the model name and parameters",
}


def http_error(name: str, response: Any) -> LLMError:
    """An LLMError from an error response (any httpx-like response), with Retry-After in seconds."""
    info = ProviderError.from_response(response)
    status = info.status or 0
    retry_after = info.retry_after
    millis = response.headers.get("retry-after-ms")
    if millis is not None:
        try:
            retry_after = max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    kind = status_kind(status)
    body = json.dumps(info.body)[:300] if not isinstance(info.body, str) else info.body[:300]
    return LLMError(
        f"{name} answered HTTP {status}: {body}{_HINTS.get(kind, '')}",
        kind=kind,
        status=status,
        retry_after=retry_after,
        body=info.body,
    )


def schema_instructions(schema: type[pydantic.BaseModel]) -> str:
    return "Answer with one JSON object only (no prose, no code fences) that matches this JSON schema:\n" + json.dumps(
        schema.model_json_schema(), separators=(",", ":")
    )


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def validate_answer(answer: Answer, schema: type[pydantic.BaseModel]) -> pydantic.BaseModel:
    """The answer as a schema object; raises ValueError/ValidationError when it is not one."""
    if answer.data is not None:
        return schema.model_validate(answer.data)
    match = _FENCE.match(answer.text)
    return schema.model_validate_json(match.group(1) if match else answer.text)


def describe_invalid(exc: Exception) -> str:
    if isinstance(exc, pydantic.ValidationError):
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors(include_url=False)]
        return "; ".join(lines[:20])
    return str(exc)


@dataclass
class ChatLLM:
    """Base of the adapters: retries, structured output with one repair, usage, cost, logging.

    Subclasses implement ``_send`` (one HTTP call, SDK errors mapped to ``LLMError``),
    ``_turns`` (our messages → provider messages) and ``_repair_turns``.
    """

    model: str
    provider: str = "llm"
    timeout_s: float = 60.0
    max_retries: int = 2
    max_wait_s: float = 30.0  # longest Retry-After slept here; longer ones are raised
    prices: PriceTable = field(default_factory=PriceTable.from_env, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}"

    def complete(
        self,
        *,
        system: str,
        messages: Sequence[Message],
        schema: type[pydantic.BaseModel] | None = None,
        temperature: float = 0.0,
        top_p: float | None = None,
        max_tokens: int = 800,
        task: str = "generate",
    ) -> Completion:
        started = self.clock()
        request = Request(system, self._turns(messages), schema, temperature, top_p, max_tokens)
        answer = self._call(request, task)
        usage, calls, parsed = answer.usage, 1, None
        if schema is not None:
            try:
                parsed = validate_answer(answer, schema)
            except ValueError as first:  # pydantic.ValidationError is a ValueError
                problem = describe_invalid(first)
                log.info("llm %s (%s) answer invalid, asking for a repair: %s", self.name, task, problem[:300],
                         extra=self._log(task, problem=problem))
                turns = request.turns + self._repair_turns(answer, problem, schema)
                answer = self._call(Request(system, turns, schema, temperature, top_p, max_tokens), task)
                usage, calls = usage + answer.usage, 2
                try:
                    parsed = validate_answer(answer, schema)
                except ValueError as second:
                    raise LLMError(
                        f"{self.name} did not return a valid {schema.__name__} after one repair "
                        f"attempt: {describe_invalid(second)} (first error: {problem}); try a "
                        "stronger model for this task or check the prompt",
                        kind="invalid_output",
                        body=answer.text[:2000],
                    ) from second
        latency_ms = (self.clock() - started) * 1000
        cost = self.prices.cost_usd(answer.model or self.model, usage.input_tokens, usage.output_tokens)
        log.info(
            "llm call done",
            extra=self._log(
                task,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cost_usd=cost,
                latency_ms=round(latency_ms, 1),
                calls=calls,
            ),
        )
        return Completion(answer.text, parsed, usage, cost, answer.model or self.model, latency_ms, calls, task)

    def _call(self, request: Request, task: str) -> Answer:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            retry=tenacity.retry_if_exception(self._should_retry),
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
            before_sleep=lambda state: self._log_retry(state, task),
        )
        return retrying(self._send, request)

    def _should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, LLMError) or not exc.retryable:
            return False
        return exc.retry_after is None or exc.retry_after <= self.max_wait_s

    _backoff = tenacity.wait_exponential(multiplier=0.5, max=8.0) + tenacity.wait_random(0, 0.25)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, LLMError) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff(state))

    def _log_retry(self, state: tenacity.RetryCallState, task: str) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else None
        log.warning(
            "llm %s (%s) call failed, retry %d in %.1f s: %s", self.name, task, state.attempt_number, wait or 0.0,
            str(exc)[:300],
            extra=self._log(task, attempt=state.attempt_number, wait_s=wait, error=str(exc)),
        )

    def _log(self, task: str, **fields: Any) -> dict[str, Any]:
        return {"llm": self.name, "task": task, **fields}

    # -- adapter hooks -------------------------------------------------------------------
    def _turns(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        return [{"role": m.role, "content": m.content} for m in messages]

    def _send(self, request: Request) -> Answer:
        raise NotImplementedError

    def _repair_turns(self, answer: Answer, problem: str, schema: type[pydantic.BaseModel]) -> list[dict[str, Any]]:
        return [
            {"role": "assistant", "content": answer.text},
            {
                "role": "user",
                "content": f"That answer is not a valid {schema.__name__}: {problem}. "
                "Reply again with only the corrected JSON object.",
            },
        ]


def open_llm(spec: str, *, env: Mapping[str, str] | None = None, **overrides: Any) -> LLM | None:
    """An LLM from a spec string (``none`` → None); keys from ``env`` (default os.environ).

    See ``deskhand.ai.llm_spec`` for the grammar and the overrides.
    """
    from deskhand.ai.llm_spec import open_llm as _open

    return _open(spec, env=env, **overrides)


def llms_from_env(env: Mapping[str, str] | None = None) -> tuple[LLM | None, LLM | None]:
    """(classify, generate) LLMs from DESKHAND_LLM_CLASSIFY / _GENERATE, falling back to DESKHAND_LLM."""
    from deskhand.ai.llm_spec import llms_from_env as _from_env

    return _from_env(env)
