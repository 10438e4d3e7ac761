"""What the ServiceNow definition (defs/servicenow.yaml) can't say as data.

- ``incident_status``: the unified status of an incident needs two fields: On Hold (3) is ``pending``
  when its ``hold_reason`` is 1 (Awaiting Caller), else ``on_hold``;
- ``tag_names`` / ``user_role``: ``sys_tags``'s display value is "a, b"; a user's ``roles`` "itil,admin";
- ``create_ticket``: the caller is a ``sys_user`` found by email (created when absent; the API user
  when no email is given); tags are ``label_entry`` rows;
- ``journal``: comments and work notes from ``sys_journal_field``, the author's ``sys_created_by``
  (a user name) turned into the user's ``sys_id`` (one ``sys_user`` query per listing);
- ``reply`` / ``note``: a PATCH of ``comments`` / ``work_notes``; the journal entry it made is then
  read back for its id (the PATCH answers with the incident, not the entry);
- ``set_status``: the state with what the instance requires beside it (a hold reason, or a close code
  and close notes), ``set_priority``: impact and urgency (priority is computed from them),
  ``add_tags``: a ``label`` per tag name (created when absent) and a ``label_entry`` per new tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deskhand.errors import BadResponse
from deskhand.model import Action
from deskhand.providers.connector import Connector, response_json

STATES = {"new": "1", "open": "2", "pending": "3", "on_hold": "3", "solved": "6", "closed": "7"}
READ_STATES = {"1": "new", "2": "open", "6": "solved", "7": "closed", "8": "closed"}
HOLD_REASONS = {"pending": "1", "on_hold": "4"}  # Awaiting Caller, Awaiting Vendor
CLOSE = {"close_code": "Solved (Permanently)", "close_notes": "Resolved by the service desk (deskhand)."}
IMPACT_URGENCY = {"urgent": ("1", "1"), "high": ("1", "2"), "normal": ("2", "2"), "low": ("2", "3")}


def _value(field: Any) -> str:
    """A field read with ``sysparm_display_value=all`` (``{"value", "display_value"}``) or without."""
    if isinstance(field, Mapping):
        return str(field.get("value") or "")
    return "" if field is None else str(field)


def incident_status(record: Any) -> str | None:
    state = _value(record.get("state")) if isinstance(record, Mapping) else ""
    if state == "3":
        return "pending" if _value(record.get("hold_reason")) == "1" else "on_hold"
    return READ_STATES.get(state, "open" if state else None)


def tag_names(value: Any) -> list[str]:
    return [t.strip() for t in str(value or "").split(",") if t.strip()]


def user_role(value: Any) -> str:
    roles = set(tag_names(value))
    return "admin" if "admin" in roles else "agent" if roles & {"itil", "sn_incident_write"} else "end_user"


def _result(response: Any, where: str) -> Any:
    body = response_json(response)
    if not isinstance(body, Mapping) or "result" not in body:
        raise BadResponse(f"servicenow {where}: no result in {str(body)[:200]}")
    return body["result"]


def _one(connector: Connector, table: str, query: str) -> dict[str, Any] | None:
    rows = _result(connector.http.request("GET", f"/table/{table}", params={"sysparm_query": query,
                                                                            "sysparm_limit": 1}), f"GET {table}")
    return rows[0] if rows else None


def _tag(connector: Connector, ticket_id: str, names: list[str]) -> list[str]:
    added = []
    for name in names:
        label = _one(connector, "label", f"name={name}") or _result(
            connector.http.request("POST", "/table/label", json={"name": name, "type": "standard",
                                                                  "viewable_by": "everyone"}), "POST label")
        connector.http.request("POST", "/table/label_entry", json={"label": _value(label["sys_id"]),
                                                                    "table": "incident", "table_key": ticket_id})
        added.append(name)
    return added


def create_ticket(connector: Connector, args: Mapping[str, Any]) -> dict[str, Any]:
    email = args.get("requester_email")
    if email:
        caller = _one(connector, "sys_user", f"email={email}") or _result(connector.http.request(
            "POST", "/table/sys_user", json={"email": email, "user_name": email,
                                              "name": args.get("requester_name") or email}), "POST sys_user")
        caller_id = _value(caller["sys_id"])
    else:
        caller_id = connector.current_user().id
    impact, urgency = IMPACT_URGENCY.get(str(args.get("priority") or "normal"), ("2", "2"))
    body = {"short_description": args["subject"], "description": args["body"], "caller_id": caller_id,
            "impact": impact, "urgency": urgency, "contact_type": "email"}
    row = _result(connector.http.request("POST", "/table/incident", json=body), "POST incident")
    sys_id = _value(row["sys_id"])
    _tag(connector, sys_id, [str(t) for t in args.get("tags") or []])
    return {"result": {"sys_id": sys_id}}


def journal(connector: Connector, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    query = f"element_id={args['ticket_id']}^elementINcomments,work_notes^ORDERBYsys_created_on"
    rows = _result(connector.http.request("GET", "/table/sys_journal_field", params={"sysparm_query": query}),
                   "GET sys_journal_field")
    names = sorted({r["sys_created_by"] for r in rows})
    ids: dict[str, str] = {}
    if names:
        users = _result(connector.http.request("GET", "/table/sys_user", params={
            "sysparm_query": "user_nameIN" + ",".join(names), "sysparm_fields": "sys_id,user_name"}), "GET sys_user")
        ids = {u["user_name"]: u["sys_id"] for u in users}
    return [{**r, "author_sys_id": ids.get(r["sys_created_by"], "")} for r in rows]


def _summary(action: Action, response: Any, **extra: Any) -> dict[str, Any]:
    return {"action": action.kind.value, "ticket_id": action.ticket_id, "status_code": response.status_code, **extra}


def _journal_entry(connector: Connector, action: Action, element: str) -> dict[str, Any]:
    ticket_id, body = str(action.ticket_id), str(action.params["body"])
    response = connector.http.request("PATCH", f"/table/incident/{ticket_id}", json={element: body},
                                      record=ticket_id)
    _result(response, f"PATCH incident {ticket_id}")
    me = connector.values.get("username", "")
    rows = _result(connector.http.request("GET", "/table/sys_journal_field", params={
        "sysparm_query": f"element_id={ticket_id}^element={element}^sys_created_by={me}^ORDERBYsys_created_on"}),
        "GET sys_journal_field")
    mine = [r for r in rows if r.get("value") == body]
    if not mine:
        raise BadResponse(f"servicenow: the {element} entry written to {ticket_id} is not in sys_journal_field")
    return _summary(action, response, comment_id=mine[-1]["sys_id"])


def reply(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    return _journal_entry(connector, action, "comments")


def note(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    return _journal_entry(connector, action, "work_notes")


def set_status(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    status, ticket_id = str(args["status"]), str(args["ticket_id"])
    if status not in STATES:
        raise ValueError(f"servicenow status {status!r} is not one of {', '.join(STATES)}")
    body = {"state": STATES[status], "hold_reason": HOLD_REASONS.get(status)}
    if status in ("solved", "closed"):
        body |= CLOSE
    response = connector.http.request("PATCH", f"/table/incident/{ticket_id}",
                                      json={k: v for k, v in body.items() if v is not None}, record=ticket_id)
    row = _result(response, f"PATCH incident {ticket_id}")
    return _summary(action, response, status=_value(row.get("state")))


def set_priority(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    priority, ticket_id = str(args["priority"]), str(args["ticket_id"])
    if priority not in IMPACT_URGENCY:
        raise ValueError(f"servicenow priority {priority!r} is not one of {', '.join(IMPACT_URGENCY)}")
    impact, urgency = IMPACT_URGENCY[priority]
    response = connector.http.request("PATCH", f"/table/incident/{ticket_id}",
                                      json={"impact": impact, "urgency": urgency}, record=ticket_id)
    row = _result(response, f"PATCH incident {ticket_id}")
    return _summary(action, response, priority=_value(row.get("priority")))


def add_tags(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    ticket_id = str(args["ticket_id"])
    row = _result(connector.http.request("GET", f"/table/incident/{ticket_id}", params={
        "sysparm_fields": "sys_tags", "sysparm_display_value": "all"}), f"GET incident {ticket_id}")
    tags = row.get("sys_tags")
    have = {t.lower() for t in tag_names(tags.get("display_value") if isinstance(tags, Mapping) else "")}
    wanted = list(dict.fromkeys(str(t) for t in args.get("tags") or []))
    added = _tag(connector, ticket_id, [t for t in wanted if t.lower() not in have])
    return {"action": action.kind.value, "ticket_id": ticket_id, "status_code": 201 if added else 200,
            "tags": sorted(have | {t.lower() for t in added})}
