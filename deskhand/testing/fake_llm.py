"""A fake LLM server speaking the OpenAI, Azure OpenAI and Anthropic HTTP APIs, for tests and demos.

Starlette on uvicorn in a daemon thread, bound to 127.0.0.1 on a free port. It answers from a
script, one step per request, in order (whatever the API), then from ``default`` if given::

    with FakeLLMServer([Fail(429, retry_after=2), Reply(json={"category": "billing"})]) as fake:
        llm = open_llm(f"openai:gpt-4o-mini@{fake.openai_base_url}")
        ...
        assert fake.requests[1].model == "gpt-4o-mini"

Steps: ``Reply(json=…)`` (JSON text for OpenAI; a ``tool_use`` block for Anthropic when the request
offered tools), ``Reply(text=…)`` (raw text, e.g. malformed JSON), ``Reply(…, delay_s=…)`` (answer
late: a client timeout), ``Fail(status, retry_after=…)`` (an error with the provider's error body),
``ToolCalls((name, arguments), …)`` (OpenAI side: the model chooses to call these of the tools the
request offered, as an agent's model does; a tool not offered is the request's error, 400).

``FakeLLMServer(response_formats={"text", "json_object"})`` behaves like llama-cpp-python's
server: any other ``response_format`` type is answered with its HTTP 500 and pydantic message
("Input should be 'text' or 'json_object'"). On the OpenAI side a request that forces a function
tool gets a ``Reply(json=…)`` as that tool's call, like the real API.

Every request is recorded (``requests``): API, path, model, temperature, top_p, max_tokens, system,
messages, the whole body, headers and arrival time. Responses look like the real ones, usage
included (given per step, else estimated at ~4 characters a token). Like the real APIs it answers
401 without credentials, and the Anthropic side refuses ``temperature``/``top_p``/``top_k`` under
API version 2026-10-21 or later, as Anthropic does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

Api = Literal["openai", "azure", "anthropic"]
SAMPLING_REMOVED_IN = "2026-10-21"  # Anthropic API version without temperature/top_p/top_k


@dataclass(frozen=True)
class Reply:
    json: Any = None
    text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class Fail:
    status: int
    retry_after: float | str | None = None
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolCalls:
    calls: tuple[tuple[str, dict[str, Any]], ...]

    def __init__(self, *calls: tuple[str, dict[str, Any]]) -> None:
        object.__setattr__(self, "calls", tuple(calls))


Step = Reply | Fail | ToolCalls


@dataclass(frozen=True)
class Recorded:
    api: Api
    path: str
    model: str | None
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    system: str | None
    messages: list[dict[str, Any]]
    body: dict[str, Any]
    headers: dict[str, str]
    at: float


_OPENAI_ERRORS = {429: "rate_limit_exceeded", 500: "server_error", 503: "server_error", 401: "invalid_api_key"}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class FakeLLMServer:
    def __init__(self, script: Iterable[Step] = (), *, default: Step | None = None, models: Iterable[str] = (),
                 response_formats: Iterable[str] | None = None) -> None:
        self._script: deque[Step] = deque(script)
        self.response_formats = None if response_formats is None else frozenset(response_formats)
        self.default = default
        self.models = list(models) or ["fake-model"]
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def azure_endpoint(self) -> str:
        return self.url

    def start(self) -> FakeLLMServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-llm", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake LLM server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, *steps: Step) -> None:
        with self._lock:
            self._script.extend(steps)

    @property
    def pending(self) -> int:
        return len(self._script)

    # -- the app -------------------------------------------------------------------------
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai_chat, methods=["POST"]),
                Route("/openai/deployments/{deployment}/chat/completions", self._azure_chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/messages", self._anthropic_messages, methods=["POST"]),
            ]
        )

    async def _openai_chat(self, request: Request) -> JSONResponse:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _openai_error(401, "You didn't provide an API key.")
        return await self._chat(request, "openai", None)

    async def _azure_chat(self, request: Request) -> JSONResponse:
        if "api-version" not in request.query_params:
            return _openai_error(404, "Resource not found: the api-version query parameter is required")
        if not (request.headers.get("api-key") or request.headers.get("authorization")):
            return _openai_error(401, "Access denied due to invalid subscription key.")
        return await self._chat(request, "azure", request.path_params["deployment"])

    async def _chat(self, request: Request, api: Api, deployment: str | None) -> JSONResponse:
        body = await request.json()
        messages = body.get("messages") or []
        system = "\n".join(str(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
        self._record(request, api, body, deployment or body.get("model"), system or None, messages)
        wanted = (body.get("response_format") or {}).get("type")
        if wanted and self.response_formats is not None and wanted not in self.response_formats:
            return _llama_cpp_format_error(wanted, self.response_formats)
        step = await self._next()
        if isinstance(step, Fail):
            return _openai_error(step.status, step.message, _fail_headers(step))
        if isinstance(step, ToolCalls):
            return _openai_tool_calls(step, body, deployment)
        content: str | None = step.text if step.text is not None else json.dumps(step.json)
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        forced = ((body.get("tool_choice") or {}).get("function") or {}).get("name") if body.get("tools") else None
        finish = "stop"
        if forced and step.json is not None and step.text is None:
            call = {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                    "function": {"name": forced, "arguments": content}}
            message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
            finish = "tool_calls"
        usage = _usage(step, json.dumps(messages), content or "")
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": deployment or body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
                "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
                "system_fingerprint": "fp_deskhand_fake",
            },
            headers={"x-request-id": f"req_{uuid.uuid4().hex[:16]}", "openai-processing-ms": "12"},
        )

    async def _anthropic_messages(self, request: Request) -> JSONResponse:
        if not (request.headers.get("x-api-key") or request.headers.get("authorization")):
            return _anthropic_error(401, "x-api-key header is required")
        version = request.headers.get("anthropic-version")
        if not version:
            return _anthropic_error(400, "anthropic-version: header is required")
        body = await request.json()
        system = body.get("system")
        if isinstance(system, list):
            system = "\n".join(block.get("text", "") for block in system)
        self._record(request, "anthropic", body, body.get("model"), system, body.get("messages") or [])
        if "max_tokens" not in body:
            return _anthropic_error(400, "max_tokens: Field required")
        sampling = [k for k in ("temperature", "top_p", "top_k") if k in body]
        if sampling and version >= SAMPLING_REMOVED_IN:
            return _anthropic_error(400, f"{sampling[0]}: Extra inputs are not permitted")
        step = await self._next()
        if isinstance(step, Fail):
            return _anthropic_error(step.status, step.message, _fail_headers(step))
        if isinstance(step, ToolCalls):
            return _anthropic_error(400, "fake LLM server: ToolCalls steps are answered on the OpenAI side only")
        tools = body.get("tools") or []
        if tools and step.json is not None and step.text is None:
            name = (body.get("tool_choice") or {}).get("name") or tools[0]["name"]
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": f"toolu_{uuid.uuid4().hex[:24]}",
                "name": name,
                "input": step.json,
            }
            stop, out = "tool_use", json.dumps(step.json)
        else:
            out = step.text if step.text is not None else json.dumps(step.json)
            block, stop = {"type": "text", "text": out}, "end_turn"
        usage = _usage(step, json.dumps(body.get("messages")) + (system or ""), out)
        return JSONResponse(
            {
                "id": f"msg_{uuid.uuid4().hex[:24]}",
                "type": "message",
                "role": "assistant",
                "model": body.get("model"),
                "content": [block],
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": usage[0],
                    "output_tokens": usage[1],
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
            },
            headers={"request-id": f"req_{uuid.uuid4().hex[:24]}"},
        )

    async def _models(self, request: Request) -> JSONResponse:
        created = int(time.time())
        data = [{"id": m, "object": "model", "created": created, "owned_by": "deskhand-fake"} for m in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def _embeddings(self, request: Request) -> JSONResponse:
        body = await request.json()
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        data = [{"object": "embedding", "index": i, "embedding": _vector(t)} for i, t in enumerate(texts)]
        tokens = sum(max(1, len(t) // 4) for t in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    # -- script and records ------------------------------------------------------------
    async def _next(self) -> Step:
        with self._lock:
            step = self._script.popleft() if self._script else self.default
        if step is None:
            return Fail(400, message="fake LLM server: the script is exhausted (add more steps)")
        if isinstance(step, Reply) and step.delay_s:
            deadline = time.monotonic() + step.delay_s
            while time.monotonic() < deadline and not self._stopping:
                await asyncio.sleep(0.02)
        return step

    def _record(
        self,
        request: Request,
        api: Api,
        body: dict[str, Any],
        model: str | None,
        system: str | None,
        messages: list[dict[str, Any]],
    ) -> None:
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
        entry = Recorded(
            api=api,
            path=request.url.path,
            model=model,
            temperature=body.get("temperature"),
            top_p=body.get("top_p"),
            max_tokens=max_tokens,
            system=system,
            messages=messages,
            body=body,
            headers=dict(request.headers),
            at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(entry)


def _openai_tool_calls(step: ToolCalls, body: dict[str, Any], deployment: str | None) -> JSONResponse:
    offered = {(t.get("function") or {}).get("name") for t in body.get("tools") or []}
    missing = [name for name, _ in step.calls if name not in offered]
    if missing:
        return _openai_error(400, f"fake LLM server: the script calls {missing}, which the request did not offer "
                                  f"(offered: {sorted(n for n in offered if n)})")
    calls = [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
              "function": {"name": name, "arguments": json.dumps(arguments)}} for name, arguments in step.calls]
    answer = json.dumps([c["function"] for c in calls])
    usage = _usage(Reply(), json.dumps(body.get("messages") or []), answer)
    return JSONResponse({
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
        "model": deployment or body.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "refusal": None,
                                             "tool_calls": calls}, "logprobs": None, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
        "system_fingerprint": "fp_deskhand_fake",
    }, headers={"x-request-id": f"req_{uuid.uuid4().hex[:16]}"})


def _usage(step: Reply, prompt: str, answer: str) -> tuple[int, int]:
    return (
        step.input_tokens if step.input_tokens is not None else max(1, len(prompt) // 4),
        step.output_tokens if step.output_tokens is not None else max(1, len(answer) // 4),
    )


def _fail_headers(step: Fail) -> dict[str, str]:
    headers = dict(step.headers)
    if step.retry_after is not None:
        headers["retry-after"] = str(step.retry_after)
    return headers


def _openai_error(status: int, message: str | None, headers: dict[str, str] | None = None) -> JSONResponse:
    code = _OPENAI_ERRORS.get(status)
    text = message or (
        "Rate limit reached, please try again later."
        if status == 429
        else "The server had an error while processing your request."
    )
    return JSONResponse(
        {"error": {"message": text, "type": code or "invalid_request_error", "param": None, "code": code}},
        status_code=status,
        headers={"x-request-id": f"req_{uuid.uuid4().hex[:16]}", **(headers or {})},
    )


def _llama_cpp_format_error(wanted: str, accepted: frozenset[str]) -> JSONResponse:
    """llama-cpp-python's server on a response_format it does not know: its route error handler
    turns the pydantic ValidationError into an OpenAI-shaped error with status 500."""
    names = " or ".join(f"'{a}'" for a in sorted(accepted, key=lambda a: (a != "text", a)))
    text = (f"1 validation error for CreateChatCompletionRequest\nresponse_format.type\n  Input should be "
            f"{names} [type=literal_error, input_value='{wanted}', input_type=str]")
    return JSONResponse(
        {"error": {"message": text, "type": "internal_server_error", "param": None, "code": None}},
        status_code=500,
    )


def _anthropic_error(status: int, message: str | None, headers: dict[str, str] | None = None) -> JSONResponse:
    kind = _ANTHROPIC_ERRORS.get(status, "api_error")
    request_id = f"req_{uuid.uuid4().hex[:24]}"
    return JSONResponse(
        {
            "type": "error",
            "error": {"type": kind, "message": message or kind.replace("_", " ")},
            "request_id": request_id,
        },
        status_code=status,
        headers={"request-id": request_id, **(headers or {})},
    )


def _vector(text: str, dim: int = 8) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    raw = [b / 255 - 0.5 for b in digest[:dim]]
    norm = sum(x * x for x in raw) ** 0.5 or 1.0
    return [x / norm for x in raw]
