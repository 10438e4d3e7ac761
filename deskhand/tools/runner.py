"""Running the tools: every call is a request to the unified API itself, in-process through its ASGI
app (httpx.ASGITransport) with the caller's API key, so scopes, tenants, validation and the mapping to
each helpdesk's calls are the API's own. This adds only what a tool server needs around it:

- writes are off unless the server was started with them (`allow_writes`), and a key without the
  write scope is refused by the API (403);
- `accounts`: the tools see and touch only these accounts (the server's `--account`); a caller may pin
  its own session further (`/mcp?account=…` over HTTP): then only the accounts in both are served;
- `dry_run`: a write goes through the same route down to the provider's HTTP client, which stops it
  before sending (deskhand.providers.client.dry_run) and answers with the exact call instead;
- errors a model can act on: throttling says when to retry, not found says what was not found,
  nothing else leaks (no stack trace).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from deskhand.api.keys import authenticate
from deskhand.providers.client import WouldSend, dry_run
from deskhand.tools.catalog import Tool, build

DRY_RUN_HEADER = "X-Deskhand-Dry-Run"
UPDATE_FIELDS = ("status", "priority", "assignee_id", "team_id", "add_tags")


class ToolError(Exception):
    """A tool call that failed, worded for the model that made it (shown as the tool's error result)."""


@dataclass(frozen=True)
class Options:
    allow_writes: bool = False
    dry_run: bool = False
    accounts: frozenset[str] = field(default_factory=frozenset)  # empty: every account of the key's tenant


async def _would_send(_request: Request, exc: Exception) -> JSONResponse:
    call = exc.call if isinstance(exc, WouldSend) else {}
    return JSONResponse({"dry_run": True, "would_send": call}, headers={DRY_RUN_HEADER: "stopped"})


def install(app: FastAPI) -> None:
    """Let a dry run stop inside a route: the provider call it would have made becomes the answer."""
    app.add_exception_handler(WouldSend, _would_send)


class Runner:
    def __init__(self, app: FastAPI, options: Options) -> None:
        self.app, self.options = app, options
        self._tools: dict[str, Tool] | None = None
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://deskhand.api",
                                        timeout=120.0)

    @property
    def tools(self) -> dict[str, Tool]:
        """Built on first use (the app's OpenAPI document is complete by then, and cached by FastAPI)."""
        if self._tools is None:
            self._tools = {t.name: t for t in build(self.app)}
        return self._tools

    async def aclose(self) -> None:
        await self.client.aclose()

    async def visible(self, key: str | None) -> list[Tool]:
        """The tools this key may use on this server: reads always, writes when the server allows them
        (or only plans them: dry run) and the key holds the scope."""
        if not key:
            return []
        rt = self.app.state.rt
        principal = await anyio.to_thread.run_sync(authenticate, rt.store.engine, key)
        if principal is None:
            return []
        writes_on = self.options.allow_writes or self.options.dry_run
        return [t for t in self.tools.values() if not t.writes or (writes_on and principal.allows(t.scope))]

    def served(self, pinned: frozenset[str] = frozenset()) -> frozenset[str]:
        """The accounts a call may touch: the server's restriction, narrowed by the caller's pin (empty:
        every account of the key's tenant; the API's tenant checks apply either way)."""
        allowed = self.options.accounts
        if not pinned:
            return allowed
        narrowed = allowed & pinned if allowed else pinned
        if not narrowed:
            raise ToolError(f"none of the accounts pinned ({', '.join(sorted(pinned))}) is served here; the "
                            f"accounts are {', '.join(sorted(allowed))}")
        return narrowed

    async def call(self, key: str | None, name: str, args: dict[str, Any],
                   pinned: frozenset[str] = frozenset()) -> Any:
        tool = self.tools.get(name)
        if tool is None:
            raise ToolError(f"no tool {name!r}: the tools are {', '.join(sorted(self.tools))}")
        if not key:
            raise ToolError("no API key: set DESKHAND_API_KEY (stdio) or send `Authorization: Bearer <key>` (HTTP)")
        if tool.writes and not (self.options.allow_writes or self.options.dry_run):
            raise ToolError(f"{name} changes the helpdesk and this server is read-only: start it with "
                            "`deskhand mcp --allow-writes` (or --dry-run to see the calls it would make)")
        args = dict(args)
        await self._restrict(key, tool, args, self.served(pinned))
        if tool.name == "update_ticket" and self.options.dry_run:
            return await self._plan_update(key, tool, args)
        if tool.name == "approve_draft" and self.options.dry_run:
            return await self._plan_approval(key, args)
        if tool.name == "reject_draft" and self.options.dry_run:
            draft = await self._send(key, "GET", f"/v1/review/{args['decision_id']}", {}, None)
            return {"dry_run": True, "provider_calls": [],
                    "would": f"record the rejection of draft {draft['decision_id']} (no helpdesk call)"}
        result = await self._run(key, tool, args)
        if tool.with_comments:
            comments = await self._send(key, "GET", f"/v1/tickets/{args['ticket_id']}/comments",
                                        {"fresh": args["fresh"]} if args.get("fresh") else {}, None)
            result["comments"] = comments["data"]
        return result

    # -- the API call ----------------------------------------------------------------------

    async def _run(self, key: str, tool: Tool, args: dict[str, Any]) -> Any:
        path = tool.path
        for p in tool.path_params:
            path = path.replace("{" + p + "}", httpx.URL("/" + str(args[p])).raw_path.decode()[1:])
        query = {q: _query_value(args[q]) for q in tool.query_params if args.get(q) is not None}
        body = {b: args[b] for b in tool.body_fields if b in args} if tool.body_fields else None
        got = await self._send(key, tool.method, path, query, body, planned=tool.writes and self.options.dry_run)
        if isinstance(got, dict) and got.get("dry_run"):
            return {"dry_run": True, "provider_calls": [got["would_send"]]}
        return got

    async def _send(self, key: str, method: str, path: str, query: dict[str, Any], body: Any,
                    planned: bool = False) -> Any:
        headers = {"Authorization": f"Bearer {key}"}
        if planned:
            with dry_run():
                response = await self.client.request(method, path, params=query, json=body, headers=headers)
            if DRY_RUN_HEADER.lower() not in response.headers and response.is_success:
                return {"dry_run": True, "provider_calls": [], "would": "nothing: no helpdesk write is needed"}
        else:
            response = await self.client.request(method, path, params=query, json=body, headers=headers)
        if response.is_success:
            return response.json()
        raise ToolError(_explain(response))

    # -- dry runs that are more than one route call ---------------------------------------------

    async def _plan_update(self, key: str, tool: Tool, args: dict[str, Any]) -> Any:
        """Each change on its own through the route (the first provider write stops a route)."""
        calls: list[Any] = []
        notes = []
        for f in UPDATE_FIELDS:
            if args.get(f) is None:
                continue
            got = await self._run(key, tool, {"ticket_id": args["ticket_id"], f: args[f]})
            calls += got.get("provider_calls", [])
            if got.get("would"):
                notes.append(f"{f}: {got['would']}")
        if not calls and not notes:
            raise ToolError("give at least one of " + ", ".join(UPDATE_FIELDS))
        out: dict[str, Any] = {"dry_run": True, "provider_calls": calls}
        if notes:
            out["notes"] = notes
        return out

    async def _plan_approval(self, key: str, args: dict[str, Any]) -> Any:
        """Approving posts the draft (or its edit) as the public reply: that same route, stopped."""
        draft = await self._send(key, "GET", f"/v1/review/{args['decision_id']}", {}, None)
        if draft.get("verdict"):
            raise ToolError(f"draft {draft['decision_id']} already has a verdict: {draft['verdict']['verdict']}")
        body = {"body": args.get("body") or draft["reply"], "visibility": "public"}
        got = await self._send(key, "POST", f"/v1/tickets/{_quoted(draft['ticket_id'])}/comments", {}, body,
                               planned=True)
        return {"dry_run": True, "provider_calls": got.get("provider_calls") or [got.get("would_send")],
                "would": f"post draft {draft['decision_id']} as the public reply on {draft['ticket_id']}"}

    # -- account restriction -------------------------------------------------------------------

    async def _restrict(self, key: str, tool: Tool, args: dict[str, Any], allowed: frozenset[str]) -> None:
        if not allowed:
            return
        shown = ", ".join(sorted(allowed))
        if "account" in tool.query_params or "account" in tool.body_fields:
            account = args.get("account")
            if account is None:
                if len(allowed) > 1:
                    raise ToolError(f"give account: this server serves only the accounts {shown}")
                args["account"] = next(iter(allowed))
            elif account not in allowed:
                raise ToolError(f"account {account!r} is not served here; the accounts are {shown}")
        if "ticket_id" in tool.path_params:
            account = str(args.get("ticket_id", "")).partition(":")[0]
            if account not in allowed:
                raise ToolError(f"ticket {args.get('ticket_id')!r} is not in an account served here ({shown})")
        if "decision_id" in tool.path_params:
            draft = await self._send(key, "GET", f"/v1/review/{args['decision_id']}", {}, None)
            if draft["account"] not in allowed:
                raise ToolError(f"draft {args['decision_id']} is not found among the accounts served here ({shown})")


def _quoted(value: str) -> str:
    return httpx.URL("/" + value).raw_path.decode()[1:]


def _query_value(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _explain(response: httpx.Response) -> str:
    """A problem document as one sentence a model can act on."""
    try:
        problem = response.json()
    except json.JSONDecodeError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    detail = problem.get("detail") or problem.get("title") or response.reason_phrase
    status = response.status_code
    if status == 429:
        wait = response.headers.get("Retry-After") or problem.get("retry_after")
        when = f"retry after {wait} seconds" if wait else "retry later"
        return f"throttled: the helpdesk asks us to slow down; {when} ({detail})"
    if status == 404:
        return f"not found: {detail} (check the id; ids look like '<account>:<remote id>')"
    if status in (401, 403):
        return f"refused ({status}): {detail}"
    if status == 422:
        errors = problem.get("errors")
        return f"invalid arguments: {detail}" + (f" {json.dumps(errors)[:600]}" if errors else "")
    if status == 409:
        return f"conflict: {detail}"
    if status >= 500:
        return f"the helpdesk or deskhand failed ({status} {problem.get('code') or ''}): {detail}; retry later"
    return f"{status}: {detail}"
