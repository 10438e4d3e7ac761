"""What the Linear definition (defs/linear.yaml) can't say as data.

- ``create_ticket``: ``issueCreate`` in the account's team, tags as label ids (labels created when
  missing, as ``add_tags`` does);
- ``add_tags``: tags are labels, named in Linear by id: known names are looked up (case-insensitive,
  the team's and the workspace's labels), missing ones created with ``issueLabelCreate``, then
  ``issueUpdate(addedLabelIds)`` keeps the issue's other labels;
- ``set_status``: a status is a workflow state id: the account's pinned state (``status.<name>``
  override), else the team's first state (by position) of the status's type; pending and on_hold
  have no type: unpinned, they take the first started state (and read back as open);
- ``list_comments``: an issue's comments over every page, oldest first (Linear lists newest first);
- ``whole``: Linear's Float priority (``3.0``) as the integer the definition's map is keyed by.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deskhand.errors import BadResponse
from deskhand.model import Action
from deskhand.providers.connector import Connector
from deskhand.providers.fields import get_path
from deskhand.providers.spec_calls import CallSpec

STATE_TYPES = {"new": ("triage", "backlog"), "open": ("started", "unstarted"), "solved": ("completed",),
               "closed": ("canceled",),
               # no Linear type means "waiting": unpinned, these take the team's first started state
               "pending": ("started", "unstarted"), "on_hold": ("started", "unstarted")}


def _run(connector: Connector, operation: str, variables: Any, args: Mapping[str, Any], path: str) -> Any:
    body = connector.call(CallSpec(graphql=operation, variables=variables), args)
    found = get_path(body, path)
    if found is None:
        raise BadResponse(f"linear graphql {operation}: no {path} in {str(body)[:200]}")
    return found


def _relay(operation: str, connection: str) -> CallSpec:
    return CallSpec.model_validate({"graphql": operation, "variables": {"id": "{ticket_id}"},
                                    "items": f"{connection}.nodes",
                                    "paginate": {"type": "relay", "connection": connection,
                                                 "size": {"param": "first", "value": 100}}})


def whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def label_ids(connector: Connector, names: list[str]) -> list[str]:
    """The ids of the labels named ``names`` (the team's or the workspace's), creating missing ones."""
    if not names:
        return []
    spec = CallSpec.model_validate({"graphql": "IssueLabels", "items": "data.issueLabels.nodes",
                                    "paginate": {"type": "relay", "connection": "data.issueLabels",
                                                 "size": {"param": "first", "value": 250}}})
    team = connector.values.get("team_id")
    known: dict[str, str] = {}
    for label in connector.iter_records(spec, {}):
        owner = get_path(label, "team.id")
        if owner in (None, team):
            known.setdefault(str(label["name"]).lower(), str(label["id"]))
    ids = []
    for name in names:
        if str(name).lower() not in known:
            known[str(name).lower()] = str(_run(connector, "IssueLabelCreate",
                                                {"input": {"name": "{name}", "teamId": "{team_id}"}},
                                                {"name": str(name)}, "data.issueLabelCreate.issueLabel.id"))
        ids.append(known[str(name).lower()])
    return list(dict.fromkeys(ids))


def create_ticket(connector: Connector, args: Mapping[str, Any]) -> Any:
    """``issueCreate`` in the account's team (title, Markdown description, priority, labels)."""
    values = {"title": args["subject"], "body": args["body"], "priority": args.get("priority"),
              "labels": label_ids(connector, [str(t) for t in args.get("tags") or []]) or None}
    variables = {"input": {"teamId": "{team_id}", "title": "{title}", "description": "{body}",
                           "priority": "{priority}", "labelIds": "{labels}"}}
    return connector.call(CallSpec(graphql="IssueCreate", variables=variables),
                          {k: v for k, v in values.items() if v is not None})


def add_tags(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    ids = label_ids(connector, [str(t) for t in args.get("tags") or []])
    issue = _run(connector, "IssueUpdate", {"id": "{ticket_id}", "input": {"addedLabelIds": "{labels}"}},
                 {"ticket_id": action.ticket_id, "labels": ids}, "data.issueUpdate.issue")
    return {"action": action.kind.value, "ticket_id": action.ticket_id,
            "tags": [label["name"] for label in get_path(issue, "labels.nodes", [])]}


def state_for(connector: Connector, status: str) -> str:
    """The workflow state id meaning ``status`` for this account (see the module's docstring)."""
    pinned = connector.values.get("status") or {}
    if pinned.get(status):
        return str(pinned[status])
    if status not in STATE_TYPES:
        raise ValueError(f"linear: status {status!r} is not one of {sorted(STATE_TYPES)}")
    states = _run(connector, "WorkflowStates", {"team": "{team_id}"}, {}, "data.workflowStates.nodes")
    for kind in STATE_TYPES[status]:
        found = sorted((s for s in states if s.get("type") == kind), key=lambda s: s.get("position") or 0)
        if found:
            return str(found[0]["id"])
    raise ValueError(f"linear: the team has no workflow state of type {'/'.join(STATE_TYPES[status])}")


def set_status(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    status = str(getattr(args["status"], "value", args["status"]))
    state = state_for(connector, status)
    issue = _run(connector, "IssueUpdate", {"id": "{ticket_id}", "input": {"stateId": "{state}"}},
                 {"ticket_id": action.ticket_id, "state": state}, "data.issueUpdate.issue")
    return {"action": action.kind.value, "ticket_id": action.ticket_id, "state_id": state,
            "status": get_path(issue, "state.name")}


def list_comments(connector: Connector, args: Mapping[str, Any]) -> list[Any]:
    rows = list(connector.iter_records(_relay("IssueComments", "data.issue.comments"),
                                       {"ticket_id": args["ticket_id"]}))
    return sorted(rows, key=lambda c: (str(c.get("createdAt")), str(c.get("id"))))
