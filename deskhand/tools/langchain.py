"""The same tools as LangChain `StructuredTool`s (the optional extra `deskhand[langchain]`): one per
tool of deskhand.tools.catalog, with its JSON Schema as `args_schema`, run by deskhand.tools.runner
(the unified API in-process with the caller's key; read-only unless `Options(allow_writes=True)`).

    from deskhand.tools.langchain import toolset
    tools = toolset(runtime, api_key)                      # list[StructuredTool]
    agent = langgraph.prebuilt.create_react_agent(model, tools)

A failed call comes back as the tool's text ("throttled: … retry after 30 seconds", "not found: …")
so an agent can act on it, never as an exception with a stack trace.
"""

from __future__ import annotations

import json
from typing import Any

import anyio

from deskhand.runtime import Runtime
from deskhand.tools.runner import Options, Runner, ToolError


def toolset(rt: Runtime, key: str, options: Options | None = None) -> list[Any]:
    """The tools `key` may use (as `deskhand mcp` would list them) as LangChain StructuredTools."""
    try:
        from langchain_core.tools import StructuredTool
    except ImportError as exc:  # pragma: no cover - the extra is not installed
        raise ImportError("LangChain tools need the extra: pip install 'deskhand[langchain]'") from exc
    from deskhand.tools.mcp_server import api_app

    app = api_app(rt)
    opts = options or Options()

    async def visible() -> list[Any]:
        runner = Runner(app, opts)
        try:
            return await runner.visible(key)
        finally:
            await runner.aclose()

    def make(name: str) -> tuple[Any, Any]:
        async def acall(**kwargs: Any) -> str:
            runner = Runner(app, opts)
            try:
                args = {k: v for k, v in kwargs.items() if v is not None}
                return json.dumps(await runner.call(key, name, args), default=str)
            except ToolError as exc:
                return f"error: {exc}"
            finally:
                await runner.aclose()

        def call(**kwargs: Any) -> str:
            return anyio.run(lambda: acall(**kwargs))

        return call, acall

    tools = []
    for tool in anyio.run(visible):
        func, coroutine = make(tool.name)
        tools.append(StructuredTool.from_function(func=func, coroutine=coroutine, name=tool.name,
                                                  description=tool.description, args_schema=tool.input_schema))
    return tools
