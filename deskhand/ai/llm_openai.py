"""OpenAI Chat Completions through the official ``openai`` SDK.

One adapter for three kinds of server:

- OpenAI itself (``base_url`` unset);
- any OpenAI-compatible server (Ollama, vLLM, llama.cpp, LiteLLM…) at ``base_url``;
- Azure OpenAI (``azure_endpoint`` set; ``model`` is the deployment name) via ``AzureOpenAI``.

Structured output has four formats (``json_mode``, set in the spec as ``?format=…`` or by
DESKHAND_LLM_FORMAT; see ``deskhand.ai.llm_spec``):

- ``json_schema`` (the default): ``response_format: json_schema``, strict (the schema made strict by
  the SDK's public ``pydantic_function_tool``);
- ``json_object``: ``response_format: json_object``; on a self-hosted server the schema goes along
  (``{"type": "json_object", "schema": …}``), which llama.cpp and llama-cpp-python turn into a
  grammar (constrained decoding); OpenAI itself gets the bare JSON mode;
- ``tool``: one function tool with the schema as its parameters, forced by ``tool_choice``;
- ``prompt``: the schema in the system prompt only.

A server that refuses the format is recognised by what it says, whatever the status: an error
naming ``response_format``, ``json_schema``, ``json_object``, ``tool_choice`` or ``tools`` (OpenAI
answers 400, vLLM 400/422, llama-cpp-python 500 "Input should be 'text' or 'json_object'"). It is
asked again one step down (json_schema → json_object → prompt, tool → json_object → prompt); the
downgrade is logged once with the setting that avoids it and kept for the adapter's lifetime. The
schema is written into the system prompt whenever the server does not enforce it.
"""

from __future__ import annotations

import json
import logging
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

log = logging.getLogger(__name__)
JsonMode = Literal["json_schema", "json_object", "tool", "prompt"]
JSON_MODES: tuple[str, ...] = ("json_schema", "json_object", "tool", "prompt")
DEFAULT_AZURE_API_VERSION = "2024-10-21"
OPENAI_BASE_URL = "https://api.openai.com/v1"
_DOWNGRADE: dict[str, JsonMode] = {"json_schema": "json_object", "tool": "json_object", "json_object": "prompt"}
# What a server says when it refuses a structured-output parameter (any status: llama-cpp-python 500s).
_FORMAT_REFUSAL = re.compile(r"response_format|json_schema|json_object|tool_choice|\btools?\b|function call", re.I)
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
                    log.warning(
                        "llm %s refused format %s (HTTP %s: %s); asking with %s (add ?format=%s to the spec to "
                        "skip this)", self.name, mode, exc.status_code, _error_text(exc)[:200], self.json_mode,
                        self.json_mode,
                        extra={"llm": self.name, "format": mode, "next_format": self.json_mode, "status":
                               exc.status_code, "error": _error_text(exc)[:300],
                               "hint": f"add ?format={self.json_mode} to the LLM spec (or set "
                                       f"DESKHAND_LLM_FORMAT={self.json_mode}) to skip the refused request"},
                    )
                    continue
                raise http_error(self.name, exc.response) from exc
            return self._answer(reply, request.schema is not None and mode == "tool")

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
        if request.schema is not None and mode == "tool":
            tool = openai.pydantic_function_tool(request.schema)
            params["tools"] = [tool]
            params["tool_choice"] = {"type": "function", "function": {"name": tool["function"]["name"]}}
        elif request.schema is not None and mode != "prompt":
            params["response_format"] = _response_format(request.schema, mode, constrain=not self._hosted)
        return params

    @property
    def _hosted(self) -> bool:
        """OpenAI itself or Azure (which take no schema beside ``json_object``)."""
        return self.azure_endpoint is not None or self.base_url in (None, OPENAI_BASE_URL)

    def _rejects_json_mode(self, exc: openai.APIStatusError, mode: JsonMode) -> bool:
        """The server refused the structured-output format: known by its words, not its status
        (a 401, 404 or 429 is about something else, whatever it says)."""
        if mode not in _DOWNGRADE or exc.status_code in (401, 403, 404, 408, 409, 429):
            return False
        return bool(_FORMAT_REFUSAL.search(_error_text(exc)))

    def _answer(self, reply: Any, tool: bool = False) -> Answer:
        if not reply.choices:
            raise LLMError(f"{self.name} returned no choices", kind="invalid_output", body=str(reply))
        message = reply.choices[0].message
        if getattr(message, "refusal", None):
            raise LLMError(f"{self.name} refused: {message.refusal}", kind="rejected")
        usage = reply.usage
        data, text = None, message.content or ""
        calls = getattr(message, "tool_calls", None) or []
        if tool and calls:
            text = calls[0].function.arguments or ""
            try:
                data = json.loads(text)
            except ValueError:
                data = None  # validated as text: the repair turn says what is wrong
        return Answer(
            text=text,
            data=data,
            usage=Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0) if usage else Usage(),
            model=reply.model or self.model,
            raw=reply,
        )


def _error_text(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        body = body.get("message") or body.get("detail") or body
    return f"{body if body is not None else ''} {exc.message}"


def _response_format(schema: type[pydantic.BaseModel], mode: JsonMode, *, constrain: bool) -> dict[str, Any]:
    if mode == "json_object":
        # llama.cpp / llama-cpp-python / LM Studio read "schema" as a grammar; OpenAI takes none
        return {"type": "json_object", "schema": schema.model_json_schema()} if constrain else {"type": "json_object"}
    strict = openai.pydantic_function_tool(schema)["function"]
    return {
        "type": "json_schema",
        "json_schema": {"name": strict["name"], "schema": strict["parameters"], "strict": True},
    }
