"""Anthropic Messages through the official ``anthropic`` SDK (2.x).

Structured output uses forced tool use: one tool whose ``input_schema`` is the pydantic schema and
``tool_choice`` naming it, which every Claude model since Claude 3 honours. A repair is sent the
Anthropic way: the failed ``tool_use`` block, then a ``tool_result`` with ``is_error: true`` and the
validation error.

Sampling: the 2.x SDK speaks API version 2026-10-21, which rejects ``temperature``, ``top_p`` and
``top_k`` on every model (and removed them from ``messages.create``), so they are not sent; the
model's own sampling applies.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import anthropic
import pydantic

from deskhand.ai.llm import Answer, ChatLLM, LLMError, Request, Usage, http_error

ANTHROPIC_BASE_URL = "https://api.anthropic.com"


@dataclass
class AnthropicMessages(ChatLLM):
    provider: str = "anthropic"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
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
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "system": request.system,
            "messages": request.turns,
        }
        if request.schema is not None:
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
        except anthropic.APIStatusError as exc:
            raise http_error(self.name, exc.response) from exc
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
