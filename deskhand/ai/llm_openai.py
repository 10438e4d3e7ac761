"""OpenAI Chat Completions through the official ``openai`` SDK.

One adapter for three kinds of server:

- OpenAI itself (``base_url`` unset);
- any OpenAI-compatible server (Ollama, vLLM, llama.cpp, LiteLLM…) at ``base_url``;
- Azure OpenAI (``azure_endpoint`` set; ``model`` is the deployment name) via ``AzureOpenAI``.

Structured output asks for ``response_format: json_schema`` (strict, schema made strict by the
SDK's public ``pydantic_function_tool``). A server that rejects that (HTTP 400 naming
``response_format``/``json_schema``) is asked again with ``json_object``, then with instructions
only; the downgrade is remembered for the adapter's lifetime. The schema is also written into the
system prompt whenever the server does not enforce it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import openai
import pydantic

from deskhand.ai.llm import (
    Answer,
    ChatLLM,
    LLMError,
    Request,
    Usage,
    http_error,
    schema_instructions,
)

JsonMode = Literal["json_schema", "json_object", "prompt"]
DEFAULT_AZURE_API_VERSION = "2024-10-21"
OPENAI_BASE_URL = "https://api.openai.com/v1"
_DOWNGRADE: dict[str, JsonMode] = {"json_schema": "json_object", "json_object": "prompt"}
# Reasoning models refuse sampling parameters other than their defaults.
_NO_SAMPLING = re.compile(r"^(o\d|gpt-5)")


@dataclass
class OpenAIChat(ChatLLM):
    provider: str = "openai"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    azure_endpoint: str | None = None
    api_version: str | None = None
    json_mode: JsonMode = "json_schema"
    token_param: Literal["max_tokens", "max_completion_tokens"] | None = None  # None: by server
    client: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = self._make_client()
        if self.token_param is None:
            hosted = self.azure_endpoint is not None or self.base_url in (None, OPENAI_BASE_URL)
            self.token_param = "max_completion_tokens" if hosted else "max_tokens"

    @property
    def name(self) -> str:
        if self.azure_endpoint:
            return f"azure:{self.model}@{self.azure_endpoint}"
        return f"openai:{self.model}" + (f"@{self.base_url}" if self.base_url else "")

    def _make_client(self) -> openai.OpenAI:
        if self.azure_endpoint:
            return openai.AzureOpenAI(
                api_key=self.api_key,
                azure_endpoint=self.azure_endpoint,
                api_version=self.api_version or DEFAULT_AZURE_API_VERSION,
                timeout=self.timeout_s,
                max_retries=0,  # deskhand.ai.llm retries (see there)
            )
        return openai.OpenAI(
            api_key=self.api_key,
            base_url=self.base_url or OPENAI_BASE_URL,
            timeout=self.timeout_s,
            max_retries=0,
        )

    def _send(self, request: Request) -> Answer:
        while True:
            mode = self.json_mode
            try:
                reply = self.client.chat.completions.create(**self._params(request, mode))
            except openai.APITimeoutError as exc:
                raise LLMError(
                    f"{self.name} did not answer within {self.timeout_s:g} s; raise the timeout or check the server",
                    kind="timeout",
                ) from exc
            except openai.APIConnectionError as exc:
                raise LLMError(f"{self.name} cannot be reached: {exc}", kind="connection") from exc
            except openai.APIStatusError as exc:
                if request.schema is not None and self._rejects_json_mode(exc, mode):
                    self.json_mode = _DOWNGRADE[mode]
                    continue
                raise http_error(self.name, exc.response) from exc
            return self._answer(reply)

    def _params(self, request: Request, mode: JsonMode) -> dict[str, Any]:
        system = request.system
        if request.schema is not None and mode != "json_schema":
            system = f"{system}\n\n{schema_instructions(request.schema)}"
        params: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, *request.turns],
            str(self.token_param): request.max_tokens,
        }
        if not _NO_SAMPLING.match(self.model):
            params["temperature"] = request.temperature
            if request.top_p is not None:
                params["top_p"] = request.top_p
        if request.schema is not None and mode != "prompt":
            params["response_format"] = _response_format(request.schema, mode)
        return params

    def _rejects_json_mode(self, exc: openai.APIStatusError, mode: JsonMode) -> bool:
        if exc.status_code not in (400, 422) or mode not in _DOWNGRADE:
            return False
        return bool(re.search(r"response_format|json_schema|json_object", str(exc.body or exc)))

    def _answer(self, reply: Any) -> Answer:
        if not reply.choices:
            raise LLMError(f"{self.name} returned no choices", kind="invalid_output", body=str(reply))
        message = reply.choices[0].message
        if getattr(message, "refusal", None):
            raise LLMError(f"{self.name} refused: {message.refusal}", kind="rejected")
        usage = reply.usage
        return Answer(
            text=message.content or "",
            usage=Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0) if usage else Usage(),
            model=reply.model or self.model,
            raw=reply,
        )


def _response_format(schema: type[pydantic.BaseModel], mode: JsonMode) -> dict[str, Any]:
    if mode == "json_object":
        return {"type": "json_object"}
    strict = openai.pydantic_function_tool(schema)["function"]
    return {
        "type": "json_schema",
        "json_schema": {"name": strict["name"], "schema": strict["parameters"], "strict": True},
    }
