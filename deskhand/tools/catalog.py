"""Agent tools generated from the one description of the unified API (deskhand.api): each tool is
one operation of the FastAPI app's OpenAPI document. Its input schema is the operation's path and
query parameters plus its JSON body's fields (the components it refers to copied in as `$defs`), its
description the operation's summary and docstring plus what each argument means, and the scope it
needs is read from the route's own `require(scope)` dependency. Only the example (and a sentence of
advice for a model) is written here, in TOOLS.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute


@dataclass(frozen=True)
class Pick:
    """Which operation a tool is, its example, and advice for a model."""

    name: str
    method: str
    path: str
    example: dict[str, Any]
    advice: str = ""
    with_comments: bool = False  # get_ticket: also the ticket's comments (a second operation)


TOOLS: tuple[Pick, ...] = (
    Pick("list_tickets", "GET", "/v1/tickets", {"account": "acme", "status": "open", "limit": 10},
         "Search by status, tag, assignee or last change; page with next_cursor. Ids are '<account>:<remote id>'."),
    Pick("get_ticket", "GET", "/v1/tickets/{ticket_id}", {"ticket_id": "acme:42"},
         "Returns the ticket and its comments (public replies and internal notes), oldest first.", True),
    Pick("draft_reply", "POST", "/v1/tickets/{ticket_id}/draft", {"ticket_id": "acme:42"},
         "Runs deskhand's responder on the ticket without acting: the reply it would propose, its route "
         "(auto_reply, draft, human, ignore), confidence and the knowledge it rests on. Writes nothing."),
    Pick("search_knowledge", "GET", "/v1/knowledge/search", {"q": "how do I reset my password", "limit": 3},
         "The tenant's help articles and generalised solved tickets, best first: what a grounded reply may cite."),
    Pick("create_comment", "POST", "/v1/tickets/{ticket_id}/comments",
         {"ticket_id": "acme:42", "body": "Checked the logs: the export failed at 02:00.", "visibility": "internal"},
         "visibility 'internal' is a note only agents see; 'public' is a reply the customer receives."),
    Pick("update_ticket", "PATCH", "/v1/tickets/{ticket_id}", {"ticket_id": "acme:42", "status": "pending",
                                                              "add_tags": ["billing"]},
         "Give only what should change. Statuses are unified (new, open, pending, on_hold, solved, closed)."),
    Pick("create_ticket", "POST", "/v1/tickets", {"account": "acme", "subject": "Export fails",
                                                 "body": "The nightly export stopped on Monday."}),
    Pick("list_users", "GET", "/v1/users", {"account": "acme"}, "Agents and admins: ids to use as assignee_id."),
    Pick("list_teams", "GET", "/v1/teams", {"account": "acme"}, "Teams (groups, queues): ids to use as team_id."),
    Pick("list_review_queue", "GET", "/v1/review", {"limit": 10},
         "Drafts the responder wrote that wait for a human verdict; decision_id identifies one."),
    Pick("get_draft", "GET", "/v1/review/{decision_id}", {"decision_id": 17}),
    Pick("approve_draft", "POST", "/v1/review/{decision_id}/approve",
         {"decision_id": 17, "body": "Hello Ann, the export is fixed; it will run again tonight."},
         "Posts the draft (or your edited body) to the customer as the public reply, once."),
    Pick("reject_draft", "POST", "/v1/review/{decision_id}/reject",
         {"decision_id": 17, "reason": "The refund policy changed; a human will answer."}),
)


@dataclass
class Tool:
    name: str
    method: str
    path: str
    scope: str
    description: str
    input_schema: dict[str, Any]
    example: dict[str, Any]
    path_params: list[str] = field(default_factory=list)
    query_params: list[str] = field(default_factory=list)
    body_fields: list[str] = field(default_factory=list)
    with_comments: bool = False

    @property
    def writes(self) -> bool:
        """Whether the tool changes anything: by the scope its route requires (a draft is a POST that reads)."""
        return not self.scope.endswith(":read")


def scope_of(method: str, path: str) -> str:
    """The scope the route requires, from its `require(scope)` dependency (named require_<scope>)."""
    from deskhand.api import routers

    for route in (r for router in routers() for r in router.routes):
        if isinstance(route, APIRoute) and route.path == path and method in (route.methods or set()):
            pending = list(route.dependant.dependencies)
            while pending:
                dep = pending.pop()
                name = getattr(dep.call, "__name__", "")
                if name.startswith("require_"):
                    scope = name.removeprefix("require_")
                    return scope.replace("_", ":", 1) if scope != "any" else scope
                pending.extend(dep.dependencies)
    raise LookupError(f"no route {method} {path} with a require(scope) dependency in the API")


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for v in node.values():
            _refs(v, found)
    elif isinstance(node, list):
        for v in node:
            _refs(v, found)


def _rewrite(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (v.replace("#/components/schemas/", "#/$defs/") if k == "$ref" and isinstance(v, str)
                    else _rewrite(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


def _defs(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    names: set[str] = set()
    _refs(schema, names)
    done: dict[str, Any] = {}
    while names - done.keys():
        name = (names - done.keys()).pop()
        done[name] = components[name]
        _refs(components[name], names)
    return {k: _rewrite(v) for k, v in sorted(done.items())}


def build(app: FastAPI) -> list[Tool]:
    """Every tool of TOOLS from the app's OpenAPI document (the same one /openapi.json serves)."""
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    tools = []
    for pick in TOOLS:
        op = spec["paths"][pick.path][pick.method.lower()]
        props: dict[str, Any] = {}
        required: list[str] = []
        path_params: list[str] = []
        query_params: list[str] = []
        body_fields: list[str] = []
        lines = [op.get("summary", pick.name) + "."]
        if op.get("description"):
            lines.append(op["description"].strip())
        if pick.advice:
            lines.append(pick.advice)
        for p in op.get("parameters", []):
            if p["in"] not in ("path", "query"):
                continue  # headers (Idempotency-Key) are the tool runner's business
            if p["name"] in ("remote_data",):
                continue  # the helpdesk's raw record: large and provider-specific, not for a model
            schema = copy.deepcopy(p.get("schema", {}))
            if p.get("description"):
                schema.setdefault("description", p["description"])
            props[p["name"]] = schema
            (path_params if p["in"] == "path" else query_params).append(p["name"])
            if p.get("required"):
                required.append(p["name"])
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body:
            resolved = _resolve(body, components)
            for name, schema in resolved.get("properties", {}).items():
                props[name] = schema
                body_fields.append(name)
            required += [n for n in resolved.get("required", []) if op["requestBody"].get("required", False)]
        input_schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False,
                                        "examples": [pick.example]}
        if required:
            input_schema["required"] = required
        defs = _defs(props, components)
        input_schema = _rewrite(input_schema)
        if defs:
            input_schema["$defs"] = defs
        scope = scope_of(pick.method, pick.path)
        lines.append(f"Needs an API key with the scope {scope!r}" + (" and a server started with writes allowed."
                                                                       if not scope.endswith(":read") else "."))
        lines.append("Example arguments: " + json.dumps(pick.example))
        tools.append(Tool(pick.name, pick.method, pick.path, scope, "\n".join(lines), input_schema, pick.example,
                          path_params, query_params, body_fields, pick.with_comments))
    return tools


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """A body schema as an object schema: its $ref followed, an `anyOf [X, null]` (optional body) unwrapped."""
    if "$ref" in schema:
        return _resolve(components[schema["$ref"].rsplit("/", 1)[1]], components)
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return _resolve(option, components)
    return schema
