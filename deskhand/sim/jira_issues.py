"""Jira platform REST routes of the simulator that change issues: create, edit, assign, comment, transition.

Every change records a changelog entry and emits the admin webhooks Jira would send
(`jira:issue_created`, `jira:issue_updated` with `changelog`, `comment_created`).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from deskhand.sim.jira_adf import adf_to_text
from deskhand.sim.jira_http import Call, HttpError, require
from deskhand.sim.jira_render import ALL_FIELDS, Renderer, body_in
from deskhand.sim.jira_state import PRIORITIES, Comment, Issue, Project

SETTABLE = {"project", "issuetype", "summary", "description", "priority", "labels", "assignee", "reporter"}
INTERNAL_PROPERTY = "sd.public.comment"


def _adf(call: Call, value: Any, field: str) -> dict[str, Any] | None:
    try:
        return body_in(value, call.render.body_version)
    except ValueError as exc:
        raise HttpError(400, errors={field: str(exc)}) from exc


def _ref(value: Any, *keys: str) -> str | None:
    if isinstance(value, dict):
        for key in keys:
            if value.get(key) not in (None, ""):
                return str(value[key])
        return None
    return None if value is None else str(value)


def _project(call: Call, fields: dict[str, Any]) -> Project:
    ref = _ref(fields.get("project"), "key", "id")
    require(ref is not None, "project", "Specify a valid project ID or key")
    project = call.sim.state.project(ref or "")
    require(project is not None, "project", "Specify a valid project ID or key")
    assert project is not None
    return project


def _issuetype(project: Project, value: Any) -> tuple[str, str]:
    ref = _ref(value, "id", "name")
    found = next((t for t in project.issue_types if ref in t), None)
    require(found is not None, "issuetype", "Specify an issue type")
    assert found is not None
    return found


def _priority(value: Any) -> str:
    ref = _ref(value, "name", "id")
    found = next((n for p, n in PRIORITIES if ref in (p, n)), None)
    require(found is not None, "priority", f"Priority name '{ref}' is not valid")
    assert found is not None
    return found


def _user(call: Call, value: Any, field: str) -> str | None:
    ref = _ref(value, "accountId", "id")
    if ref is None:
        return None
    if ref == "-1":
        return None
    require(ref in call.sim.state.users, field, f"Specified user does not exist or you do not have required "
            f"permissions (accountId '{ref}').")
    return ref


def _check_fields(fields: dict[str, Any], allowed: set[str]) -> None:
    unknown = {k: (f"Field '{k}' cannot be set. It is not on the appropriate screen, or unknown.")
               for k in fields if k not in allowed}
    if unknown:
        raise HttpError(400, errors=unknown)


def create_issue(call: Call) -> Response:
    fields = (call.body or {}).get("fields")
    if not isinstance(fields, dict):
        raise HttpError(400, "No fields provided for the issue.")
    _check_fields(fields, SETTABLE)
    project = _project(call, fields)
    issuetype = _issuetype(project, fields.get("issuetype"))
    summary = fields.get("summary")
    require(isinstance(summary, str) and summary.strip() != "", "summary", "You must specify a summary of the issue.")
    extra: dict[str, Any] = {"description": _adf(call, fields.get("description"), "description")}
    if "priority" in fields:
        extra["priority"] = _priority(fields["priority"])
    if "labels" in fields:
        extra["labels"] = _labels(fields["labels"])
    if "assignee" in fields:
        extra["assignee"] = _user(call, fields["assignee"], "assignee")
    reporter = _user(call, fields.get("reporter"), "reporter") or call.user.account_id
    issue = call.sim.state.create_issue(project, summary=str(summary), issuetype=issuetype, reporter=reporter,
                                        now=call.sim.now(), **extra)
    _emit_issue(call, "jira:issue_created", issue, "issue_created")
    return JSONResponse({"id": issue.id, "key": issue.key, "self": f"{call.render.api}/issue/{issue.id}"}, 201)


def _labels(value: Any) -> list[str]:
    require(isinstance(value, list) and all(isinstance(v, str) and " " not in v for v in value), "labels",
            "The label can't contain spaces.")
    return list(dict.fromkeys(value))


def edit_issue(call: Call) -> Response:
    issue = call.issue()
    body = call.body or {}
    fields = body.get("fields") or {}
    update = body.get("update") or {}
    _check_fields({**fields, **{k: v for k, v in update.items() if k != "comment"}}, SETTABLE - {"project"})
    items: list[dict[str, Any]] = []
    for name, value in fields.items():
        items += _set_field(call, issue, name, value)
    for name, ops in update.items():
        for op in ops if isinstance(ops, list) else []:
            if name == "comment" and isinstance(op.get("add"), dict):
                _add_comment(call, issue, op["add"])
            elif name == "labels":
                items += _label_op(issue, op)
            else:
                (verb, value), = op.items()
                require(verb == "set", name, f"Operation '{verb}' is not supported for field '{name}'.")
                items += _set_field(call, issue, name, value)
    if items:
        change = call.sim.state.record_change(issue, call.user.account_id, call.sim.now(), items)
        event = "issue_assigned" if {i["field"] for i in items} == {"assignee"} else "issue_updated"
        _emit_issue(call, "jira:issue_updated", issue, event, change_items=(change.id, items))
    if call.param("returnIssue") == "true":
        return JSONResponse(call.render.issue(issue, ALL_FIELDS))
    return Response(status_code=204)


def _set_field(call: Call, issue: Issue, name: str, value: Any) -> list[dict[str, Any]]:
    if name == "summary":
        require(isinstance(value, str) and value.strip() != "", "summary", "You must specify a summary of the issue.")
        return _change(issue, "summary", "summary", issue.summary, value, None, None)
    if name == "description":
        old, issue.description = issue.description, _adf(call, value, "description")
        return [_item("description", "description", None, _text(old), None, _text(issue.description))]
    if name == "priority":
        return _change(issue, "priority", "priority", issue.priority, _priority(value), None, None)
    if name == "labels":
        labels = _labels(value)
        before, issue.labels = issue.labels, labels
        return [_item("labels", "labels", None, " ".join(before), None, " ".join(labels))] if before != labels else []
    if name in ("assignee", "reporter"):
        return _assign(call, issue, _user(call, value, name), field=name)
    _check_fields({name: value}, set())
    return []


def _text(doc: dict[str, Any] | None) -> str | None:
    return adf_to_text(doc) if doc else None


def _item(field: str, field_id: str, old_id: Any, old: Any, new_id: Any, new: Any) -> dict[str, Any]:
    return {"field": field, "fieldtype": "jira", "fieldId": field_id, "from": old_id, "fromString": old,
            "to": new_id, "toString": new}


def _change(issue: Issue, attr: str, field: str, old: Any, new: Any, old_id: Any, new_id: Any) -> list[dict[str, Any]]:
    if old == new:
        return []
    setattr(issue, attr, new)
    return [_item(field, field, old_id, old, new_id, new)]


def _label_op(issue: Issue, op: dict[str, Any]) -> list[dict[str, Any]]:
    old = list(issue.labels)
    for verb, value in op.items():
        if verb == "add" and value not in issue.labels:
            issue.labels.append(_labels([value])[0])
        elif verb == "remove" and value in issue.labels:
            issue.labels.remove(value)
        elif verb == "set":
            issue.labels = _labels(value)
        elif verb not in ("add", "remove", "set"):
            raise HttpError(400, errors={"labels": f"Operation '{verb}' is not supported for field 'labels'."})
    return [_item("labels", "labels", None, " ".join(old), None, " ".join(issue.labels))] if old != issue.labels else []


def _assign(call: Call, issue: Issue, account_id: str | None, field: str = "assignee") -> list[dict[str, Any]]:
    old = getattr(issue, field)
    if old == account_id:
        return []
    setattr(issue, field, account_id)
    users = call.sim.state.users
    name = lambda a: users[a].display_name if a in users else None  # noqa: E731
    return [_item(field, field, old, name(old), account_id, name(account_id))]


def assign_issue(call: Call) -> Response:
    issue = call.issue()
    body = call.body if isinstance(call.body, dict) else {}
    account_id = body.get("accountId", body.get("name"))
    target = issue.project.lead if account_id == "-1" else _user(call, {"accountId": account_id}, "accountId")
    items = _assign(call, issue, target)
    if items:
        change = call.sim.state.record_change(issue, call.user.account_id, call.sim.now(), items)
        _emit_issue(call, "jira:issue_updated", issue, "issue_assigned", change_items=(change.id, items))
    return Response(status_code=204)


def delete_issue(call: Call) -> Response:
    issue = call.issue()
    del call.sim.state.issues[issue.id]
    _emit_issue(call, "jira:issue_deleted", issue, "issue_deleted")
    return Response(status_code=204)


# ------------------------------------------------------------------------------------------ comments


def list_comments(call: Call) -> dict[str, Any]:
    issue = call.issue()
    expand = (call.param("expand") or "").split(",")
    start = call.int_param("startAt", 0)
    limit = call.int_param("maxResults", 5000, low=1, high=5000)
    newest_first = call.param("orderBy", "created") == "-created"
    return call.render.comment_page(issue, start, limit, newest_first, "properties" in expand)


def get_comment(call: Call) -> dict[str, Any]:
    issue = call.issue()
    comment = next((c for c in issue.comments if c.id == call.request.path_params["comment_id"]), None)
    if comment is None:
        raise HttpError(404, "Can not find a comment for the id: " + call.request.path_params["comment_id"] + ".")
    return call.render.comment(issue, comment, properties=True)


def add_comment(call: Call) -> Response:
    issue = call.issue()
    comment = _add_comment(call, issue, call.body if isinstance(call.body, dict) else {})
    return JSONResponse(call.render.comment(issue, comment, properties=True), 201)


def _add_comment(call: Call, issue: Issue, body: dict[str, Any]) -> Comment:
    doc = _adf(call, body.get("body"), "comment")
    require(doc is not None and bool(doc.get("content")), "comment", "Comment body can not be empty!")
    assert doc is not None
    properties = body.get("properties") or []
    require(isinstance(properties, list), "properties", "properties must be a list")
    internal = any(isinstance(p, dict) and p.get("key") == INTERNAL_PROPERTY
                   and isinstance(p.get("value"), dict) and p["value"].get("internal") in (True, "true")
                   for p in properties)
    comment = call.sim.state.add_comment(issue, author=call.user.account_id, body=doc, now=call.sim.now(),
                                         internal=internal, visibility=body.get("visibility"),
                                         properties=properties)
    emit_comment(call, issue, comment)
    return comment


def emit_comment(call: Call, issue: Issue, comment: Comment) -> None:
    v2 = Renderer(call.sim.state, call.render.base, "2")
    payload = {"timestamp": int(call.sim.clock() * 1000), "webhookEvent": "comment_created",
               "comment": v2.comment(issue, comment), "issue": v2.webhook_issue(issue, short=True)}
    call.sim.webhooks.emit("comment_created", payload)
    _emit_issue(call, "jira:issue_updated", issue, "issue_commented", comment=v2.comment(issue, comment))


# --------------------------------------------------------------------------------------- transitions


def list_transitions(call: Call) -> dict[str, Any]:
    issue = call.issue()
    wanted = call.param("transitionId")
    transitions = [t for t in issue.project.workflow.available(issue.status) if wanted in (None, t.id)]
    return {"expand": "transitions", "transitions": [call.render.transition(issue, t) for t in transitions]}


def do_transition(call: Call) -> Response:
    issue = call.issue()
    body = call.body if isinstance(call.body, dict) else {}
    ref = _ref(body.get("transition"), "id", "name")
    if ref is None:
        raise HttpError(400, "Missing 'transition' identifier")
    transition = next((t for t in issue.project.workflow.available(issue.status) if ref in (t.id, t.name)), None)
    if transition is None:
        raise HttpError(400, f"Transition id '{ref}' is not valid for this issue.")
    workflow = issue.project.workflow
    old, new = workflow.status(issue.status), workflow.status(transition.to)
    items = [_item("status", "status", old.id, old.name, new.id, new.name)] if old.id != new.id else []
    issue.status = new.id
    resolution = transition.resolution
    fields = body.get("fields") or {}
    if isinstance(fields.get("resolution"), dict):
        resolution = fields["resolution"].get("name") or resolution
    if resolution is not None and resolution != (issue.resolution or ""):
        items.append(_item("resolution", "resolution", None, issue.resolution, None, resolution or None))
        issue.resolution = resolution or None
        issue.resolved = call.sim.now() if resolution else None
    for op in (body.get("update") or {}).get("comment", []):
        if isinstance(op, dict) and isinstance(op.get("add"), dict):
            _add_comment(call, issue, op["add"])
    if items:
        change = call.sim.state.record_change(issue, call.user.account_id, call.sim.now(), items)
        _emit_issue(call, "jira:issue_updated", issue, "issue_generic", change_items=(change.id, items))
    return Response(status_code=204)


# ------------------------------------------------------------------------------------------ webhooks


def _emit_issue(call: Call, event: str, issue: Issue, type_name: str, *,
                change_items: tuple[str, list[dict[str, Any]]] | None = None,
                comment: dict[str, Any] | None = None) -> None:
    v2 = Renderer(call.sim.state, call.render.base, "2")
    payload: dict[str, Any] = {"timestamp": int(call.sim.clock() * 1000), "webhookEvent": event,
                               "issue_event_type_name": type_name, "user": v2.user(call.user.account_id),
                               "issue": v2.webhook_issue(issue)}
    if change_items is not None:
        payload["changelog"] = {"id": change_items[0], "items": change_items[1]}
    if comment is not None:
        payload["comment"] = comment
    call.sim.webhooks.emit(event, payload)
