"""Jira platform REST routes of the simulator that read: server info, users, projects, metadata,
issues and search (`search/jql` with `nextPageToken`, classic `search` with `startAt`/`total`)."""

from __future__ import annotations

import base64
import json
from typing import Any

from deskhand.sim.jira_http import Call, HttpError
from deskhand.sim.jira_render import ALL_FIELDS, NAVIGABLE, jira_time
from deskhand.sim.jira_state import CATEGORIES, PRIORITIES, Issue
from deskhand.sim.jql import Context, JqlError, OrderKey, Query, parse

NEWEST_FIRST = (OrderKey("id", descending=True),)  # facts' _sort id is the numeric id


def server_info(call: Call) -> dict[str, Any]:
    now = call.sim.now()
    return {"baseUrl": call.render.base, "displayUrl": call.render.base, "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud", "buildNumber": 100280,
            "buildDate": "2026-01-01T00:00:00.000+0000", "serverTime": jira_time(now),
            "scmInfo": "deskhand-sim", "serverTitle": "Jira (deskhand simulator)",
            "defaultLocale": {"locale": "en_US"}, "serverTimeZone": "Etc/UTC"}


def myself(call: Call) -> dict[str, Any]:
    out = call.render.user(call.user.account_id) or {}
    out.update({"locale": "en_US", "groups": {"size": 1, "items": []},
                "applicationRoles": {"size": 1, "items": []}, "expand": "groups,applicationRoles"})
    return out


def get_user(call: Call) -> dict[str, Any]:
    account_id = call.param("accountId")
    if account_id is None:
        raise HttpError(400, "The query parameter 'accountId' is required.")
    if account_id not in call.sim.state.users:
        raise HttpError(404, f"Specified user does not exist or you do not have required permissions "
                        f"(accountId '{account_id}').")
    call.points = 3
    return call.render.user(account_id) or {}


def search_users(call: Call) -> list[dict[str, Any]]:
    query = (call.param("query") or call.param("username") or "").lower()
    account_id = call.param("accountId")
    users = [u for u in call.sim.state.users.values()
             if (not query or query in u.display_name.lower() or query in u.email.lower()
                 or query == u.account_id.lower())
             and account_id in (None, u.account_id)]
    start = call.int_param("startAt", 0)
    page = users[start:start + call.int_param("maxResults", 50, low=1, high=1000)]
    call.points = 1 + 2 * len(page)
    return [call.render.user(u.account_id) or {} for u in page]


def list_projects(call: Call) -> list[dict[str, Any]]:
    call.points = 1 + len(call.sim.state.projects)
    return [call.render.project(p) for p in call.sim.state.projects.values()]


def search_projects(call: Call) -> dict[str, Any]:
    projects = list(call.sim.state.projects.values())
    start = call.int_param("startAt", 0)
    limit = call.int_param("maxResults", 50, low=1, high=100)
    page = projects[start:start + limit]
    call.points = 1 + len(page)
    return {"self": str(call.request.url), "maxResults": limit, "startAt": start, "total": len(projects),
            "isLast": start + limit >= len(projects), "values": [call.render.project(p) for p in page]}


def get_project(call: Call) -> dict[str, Any]:
    key = call.request.path_params["project"]
    project = call.sim.state.project(key)
    if project is None:
        raise HttpError(404, f"No project could be found with key '{key}'.")
    call.points = 2
    return call.render.project(project)


def priorities(call: Call) -> list[dict[str, Any]]:
    return [call.render.priority(name) or {} for _, name in PRIORITIES]


def statuses(call: Call) -> list[dict[str, Any]]:
    seen: dict[str, Any] = {}
    for project in call.sim.state.projects.values():
        for status in project.workflow.statuses:
            seen.setdefault(status.id, call.render.status(status))
    return list(seen.values())


def status_categories(call: Call) -> list[dict[str, Any]]:
    return [{"self": f"{call.render.api}/statuscategory/{c['id']}", **c} for c in CATEGORIES.values()]


def issue_types(call: Call) -> list[dict[str, Any]]:
    seen = {t for p in call.sim.state.projects.values() for t in p.issue_types}
    return [call.render.issuetype(i, n) for i, n in sorted(seen)]


def fields(call: Call) -> list[dict[str, Any]]:
    return [{"id": name, "key": name, "name": name[:1].upper() + name[1:], "custom": False, "orderable": True,
             "navigable": True, "searchable": True, "clauseNames": [name], "schema": {"type": "string",
                                                                                     "system": name}}
            for name in ALL_FIELDS]


def wanted_fields(call: Call, default: str, body: dict[str, Any] | None = None) -> list[str]:
    """`fields` as repeated query params, comma lists or a JSON list; `*all`, `*navigable`, `-name`."""
    raw: list[str] = []
    if body is not None and body.get("fields") is not None:
        value = body["fields"]
        raw = value if isinstance(value, list) else [str(value)]
    else:
        raw = call.request.query_params.getlist("fields")
    names = [n.strip() for part in raw for n in str(part).split(",") if n.strip()] or [default]
    out: list[str] = []
    for name in names:
        if name == "*all":
            out += ALL_FIELDS
        elif name == "*navigable":
            out += NAVIGABLE
        elif not name.startswith("-") and name not in ("id", "key"):
            out.append(name)
    removed = {n[1:] for n in names if n.startswith("-")}
    return [n for n in dict.fromkeys(out) if n not in removed]


def _expand(call: Call, body: dict[str, Any] | None = None) -> list[str]:
    value = (body or {}).get("expand", call.param("expand") or "")
    parts = value if isinstance(value, list) else str(value).split(",")
    return [p.strip() for p in parts if p.strip()]


def get_issue(call: Call) -> dict[str, Any]:
    issue = call.issue()
    call.points = 2
    return call.render.issue(issue, wanted_fields(call, "*all"), _expand(call))


def _query(call: Call, jql: str, *, bounded: bool) -> Query:
    try:
        query = parse(jql)
    except JqlError as err:
        raise HttpError(400, str(err)) from err
    if bounded and query.where is None:
        raise HttpError(400, "Unbounded JQL queries are not allowed here. Please add a search restriction to "
                        "your query.")
    for clause in query.clauses():
        if clause.field != "project":
            continue
        for value in clause.values:
            if value.kind in ("word", "string") and call.sim.state.project(value.text) is None \
                    and not any(p.name.lower() == value.text.lower() for p in call.sim.state.projects.values()):
                raise HttpError(400, f"The value '{value.text}' does not exist for the field 'project'.")
    return query


def _matching(call: Call, query: Query) -> list[Issue]:
    """Through the state's index: clause answers, date ranges, orders and results kept per snapshot."""
    ordered = query if query.order_by else Query(query.where, NEWEST_FIRST)  # Jira's default order
    return call.sim.state.search(ordered, Context(now=call.sim.now(), current_user=call.user.account_id))


def _token(offset: int, jql: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([offset, jql]).encode()).decode().rstrip("=")


def _untoken(token: str, jql: str) -> int:
    try:
        offset, for_jql = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError) as exc:
        raise HttpError(400, "The provided next page token is invalid or expired.") from exc
    if for_jql != jql or not isinstance(offset, int):
        raise HttpError(400, "The provided next page token is invalid or expired.")
    return offset


def _int(value: Any, default: int, name: str) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise HttpError(400, f"The value '{value}' is invalid for parameter '{name}'.") from exc


def search_jql(call: Call) -> dict[str, Any]:
    """`GET|POST /search/jql`: `nextPageToken` + `isLast`, no total; `fields` default `id`."""
    body = call.body if call.request.method == "POST" and isinstance(call.body, dict) else None
    get = (lambda k: body.get(k)) if body is not None else call.param
    jql = str(get("jql") or "")
    query = _query(call, jql, bounded=True)
    wanted = wanted_fields(call, "id", body)
    limit = max(1, min(_int(get("maxResults"), 50, "maxResults") or 50, 5000 if not wanted else 100))
    token = get("nextPageToken")
    offset = _untoken(str(token), jql) if token else 0
    found = _matching(call, query)
    page = found[offset:offset + limit]
    call.points = 1 + len(page)
    out: dict[str, Any] = {"issues": [call.render.issue(i, wanted, _expand(call, body)) for i in page]}
    if offset + limit < len(found):
        out["nextPageToken"] = _token(offset + limit, jql)
        out["isLast"] = False
    else:
        out["isLast"] = True
    return out


def search_classic(call: Call) -> dict[str, Any]:
    """`GET|POST /search`: `startAt`/`maxResults`/`total`; `fields` default `*navigable`."""
    body = call.body if call.request.method == "POST" and isinstance(call.body, dict) else None
    get = (lambda k: body.get(k)) if body is not None else call.param
    query = _query(call, str(get("jql") or ""), bounded=False)
    start = max(0, _int(get("startAt"), 0, "startAt"))
    limit = max(0, min(_int(get("maxResults"), 50, "maxResults"), 100))
    found = _matching(call, query)
    page = found[start:start + limit]
    call.points = 1 + len(page)
    wanted = wanted_fields(call, "*navigable", body)
    return {"expand": "schema,names", "startAt": start, "maxResults": limit, "total": len(found),
            "issues": [call.render.issue(i, wanted, _expand(call, body)) for i in page]}


def approximate_count(call: Call) -> dict[str, Any]:
    body = call.body if isinstance(call.body, dict) else {}
    return {"count": len(_matching(call, _query(call, str(body.get("jql") or ""), bounded=True)))}
