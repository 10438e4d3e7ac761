"""Anthropic Messages through the official ``anthropic`` SDK (2.x).

Structured output uses forced tool use: one tool whose ``input_schema`` is the pydantic schema and
``tool_choice`` naming it, which every Claude model since Claude 3 honours. A repair is sent the
Anthropic way: the failed ``tool_use`` block, then a ``tool_result`` with ``is_error: true`` and the
validation error.

``json_mode`` (``?format=…`` in the spec): ``tool`` (the default, above) or ``prompt`` (the schema in
the system prompt only, for Anthropic-compatible servers without tool use). A server that refuses
the tool (an error naming ``tools``/``tool_choice``, whatever the status) is asked again with
``prompt``, and that is kept for the adapter's lifetime.

Sampling: the 2.x SDK speaks API version 2026-10-21, which rejects ``temperature``, ``top_p`` and
``top_k`` on every model (and removed them from ``messages.create``), so they are not sent; the
model's own sampling applies.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import anthropic
import pydantic

from deskhand.ai.llm import Answer, ChatLLM, LLMError, Request, Usage, http_error, schema_instructions

log = logging.getLogger(__name__)
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
JSON_MODES: tuple[str, ...] = ("tool", "prompt")
_TOOL_REFUSAL = re.compile(r"tool_choice|\btools?\b|input_schema", re.I)


@dataclass
class AnthropicMessages(ChatLLM):
    provider: str = "anthropic"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    json_mode: Literal["tool", "prompt"] = "tool"
    client: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = anthropic.Anthropic(
                api_key=self.api_key,
                base_url=self.base_url or ANTHROPIC_BASE_URL,
                timeout=self.timeout_s,
                max_retries=0,  # deskhand.ai.llm retries (see there)
            )

    @property
    def name(self) -> str:
        return f"anthropic:{self.model}" + (f"@{self.base_url}" if self.base_url else "")

    def _send(self, request: Request) -> Answer:
        while True:
            mode = self.json_mode
            try:
                return self._send_once(request, mode)
            except anthropic.APIStatusError as exc:
                text = f"{exc.body} {exc.message}"
                if (request.schema is None or mode != "tool" or exc.status_code in (401, 403, 404, 429)
                        or not _TOOL_REFUSAL.search(text)):
                    raise http_error(self.name, exc.response) from exc
                self.json_mode = "prompt"
                log.warning("llm %s refused tool use (HTTP %s: %s); asking with the schema in the prompt (add "
                            "?format=prompt to the spec to skip this)", self.name, exc.status_code, text[:200],
                            extra={"llm": self.name, "status": exc.status_code, "error": text[:300],
                                   "hint": "add ?format=prompt to the LLM spec to skip the refused request"})

    def _send_once(self, request: Request, mode: str) -> Answer:
        system = request.system
        if request.schema is not None and mode == "prompt":
            system = f"{system}\n\n{schema_instructions(request.schema)}"
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "system": system,
            "messages": request.turns,
        }
        if request.schema is not None and mode == "tool":
            tool = tool_name(request.schema)
            params["tools"] = [
                {
                    "name": tool,
                    "description": f"Record the answer as a {request.schema.__name__}. "
                    + (request.schema.__doc__ or "").strip(),
                    "input_schema": request.schema.model_json_schema(),
                }
            ]
            params["tool_choice"] = {"type": "tool", "name": tool}
        try:
            reply = self.client.messages.create(**params)
        except anthropic.APITimeoutError as exc:
            raise LLMError(
                f"{self.name} did not answer within {self.timeout_s:g} s; raise the timeout or check the server",
                kind="timeout",
            ) from exc
        except anthropic.APIConnectionError as exc:
            raise LLMError(f"{self.name} cannot be reached: {exc}", kind="connection") from exc
        return self._answer(reply, request.schema)

    def _answer(self, reply: Any, schema: type[pydantic.BaseModel] | None) -> Answer:
        if reply.stop_reason == "refusal":
            raise LLMError(f"{self.name} refused to answer", kind="rejected")
        texts = [b.text for b in reply.content if b.type == "text"]
        uses = [b for b in reply.content if b.type == "tool_use"]
        data = uses[0].input if schema is not None and uses else None
        text = json.dumps(data, ensure_ascii=False) if data is not None else "".join(texts)
        return Answer(
            text=text,
            usage=Usage(reply.usage.input_tokens or 0, reply.usage.output_tokens or 0),
            model=reply.model or self.model,
            data=data,
            raw=reply,
        )

    def _repair_turns(self, answer: Answer, problem: str, schema: type[pydantic.BaseModel]) -> list[dict[str, Any]]:
        uses = [b for b in answer.raw.content if b.type == "tool_use"] if answer.raw else []
        if not uses:
            return super()._repair_turns(answer, problem, schema)
        use = uses[0]
        return [
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": use.id,
                        "is_error": True,
                        "content": f"Invalid {schema.__name__}: {problem}. Call {use.name} again with corrected input.",
                    }
                ],
            },
        ]


def tool_name(schema: type[pydantic.BaseModel]) -> str:
    """A tool name Anthropic accepts (``^[a-zA-Z0-9_-]{1,64}$``) for a schema."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", schema.__name__)[:64] or "answer"
