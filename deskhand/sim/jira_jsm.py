"""Jira Service Management (`/rest/servicedeskapi`) routes of the simulator.

Customer requests are issues of a service-desk project; request comments are issue comments whose
`public: false` makes them internal notes (the same flag as the `sd.public.comment` property on
the platform API). Pages are `{"size","start","limit","isLastPage","values","_links"}`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.responses import JSONResponse, Response

from deskhand.sim.jira_adf import adf_to_text, text_to_adf, wiki_to_adf
from deskhand.sim.jira_http import Call, HttpError, require
from deskhand.sim.jira_issues import INTERNAL_PROPERTY, do_transition, emit_comment
from deskhand.sim.jira_issues import _emit_issue as emit_issue
from deskhand.sim.jira_render import jira_time
from deskhand.sim.jira_state import CATEGORIES, Comment, Issue, Project

REQUEST_TYPES = [("1", "Get IT help", "10002"), ("2", "Report a problem", "10003")]


def _sd(call: Call) -> str:
    return f"{call.render.base}/rest/servicedeskapi"


def _date(when: datetime) -> dict[str, Any]:
    return {"iso8601": when.strftime("%Y-%m-%dT%H:%M:%S+0000"), "jira": jira_time(when),
            "friendly": when.strftime("%d/%b/%y %I:%M %p"), "epochMillis": int(when.timestamp() * 1000)}


def _page(call: Call, values: list[Any], path: str) -> dict[str, Any]:
    start = call.int_param("start", 0)
    limit = call.int_param("limit", 50, low=1, high=100)
    page = values[start:start + limit]
    links: dict[str, str] = {"base": call.render.base, "context": "", "self": f"{_sd(call)}{path}"}
    if start + limit < len(values):
        links["next"] = f"{_sd(call)}{path}?start={start + limit}&limit={limit}"
    if start > 0:
        links["prev"] = f"{_sd(call)}{path}?start={max(0, start - limit)}&limit={limit}"
    return {"size": len(page), "start": start, "limit": limit, "isLastPage": start + limit >= len(values),
            "values": page, "_links": links}


def _desks(call: Call) -> list[Project]:
    return [p for p in call.sim.state.projects.values() if p.service_desk_id]


def _desk_json(call: Call, project: Project) -> dict[str, Any]:
    return {"id": project.service_desk_id, "projectId": project.id, "projectName": project.name,
            "projectKey": project.key, "_links": {"self": f"{_sd(call)}/servicedesk/{project.service_desk_id}"}}


def info(call: Call) -> dict[str, Any]:
    return {"version": "10.5.0", "platformVersion": "1001.0.0", "isLicensedForUse": True,
            "buildDate": _date(call.sim.now()), "buildChangeSet": "deskhand-sim",
            "_links": {"self": f"{_sd(call)}/info"}}


def list_desks(call: Call) -> dict[str, Any]:
    return _page(call, [_desk_json(call, p) for p in _desks(call)], "/servicedesk")


def _desk(call: Call, ident: Any) -> Project:
    project = next((p for p in _desks(call) if str(ident) in (p.service_desk_id, p.key, p.id)), None)
    if project is None:
        raise HttpError(404, "The service desk does not exist, or you do not have permission to access it.")
    return project


def get_desk(call: Call) -> dict[str, Any]:
    return _desk_json(call, _desk(call, call.request.path_params["desk"]))


def request_types(call: Call) -> dict[str, Any]:
    project = _desk(call, call.request.path_params["desk"])
    desk = project.service_desk_id
    values: list[dict[str, Any]] = [
        {"id": i, "name": n, "description": "", "issueTypeId": t, "serviceDeskId": desk, "groupIds": []}
        for i, n, t in REQUEST_TYPES
    ]
    return _page(call, values, f"/servicedesk/{project.service_desk_id}/requesttype")


def _request_json(call: Call, issue: Issue) -> dict[str, Any]:
    status = issue.status_obj
    return {
        "_expands": ["participant", "status", "sla", "requestType", "serviceDesk", "attachment", "action",
                     "comment"],
        "issueId": issue.id, "issueKey": issue.key, "requestTypeId": issue.request_type_id or "1",
        "serviceDeskId": issue.project.service_desk_id, "createdDate": _date(issue.created),
        "reporter": _customer(call, issue.reporter),
        "requestFieldValues": [
            {"fieldId": "summary", "label": "Summary", "value": issue.summary},
            {"fieldId": "description", "label": "Description", "value": adf_to_text(issue.description)},
        ],
        "currentStatus": {"status": status.name, "statusCategory": str(CATEGORIES[status.category]["key"]).upper(),
                          "statusDate": _date(issue.updated)},
        "_links": {"jiraRest": f"{call.render.base}/rest/api/2/issue/{issue.id}",
                   "web": f"{call.render.base}/servicedesk/customer/portal/1/{issue.key}",
                   "self": f"{_sd(call)}/request/{issue.id}"},
    }


def _customer(call: Call, account_id: str) -> dict[str, Any]:
    user = call.sim.state.users.get(account_id)
    return {"accountId": account_id, "emailAddress": user.email if user else "",
            "displayName": user.display_name if user else account_id, "active": True, "timeZone": "UTC",
            "_links": {"self": f"{call.render.base}/rest/api/2/user?accountId={account_id}"}}


def create_request(call: Call) -> Response:
    body = call.body if isinstance(call.body, dict) else {}
    project = _desk(call, body.get("serviceDeskId"))
    type_id = str(body.get("requestTypeId") or "")
    rtype = next((t for t in REQUEST_TYPES if t[0] == type_id), None)
    require(rtype is not None, "requestTypeId", "The request type you are trying to use does not exist.")
    assert rtype is not None
    values = body.get("requestFieldValues") or {}
    summary = values.get("summary")
    require(isinstance(summary, str) and summary.strip() != "", "summary", "Summary is required.")
    reporter = call.user.account_id
    on_behalf = body.get("raiseOnBehalfOf")
    if on_behalf:
        found = call.sim.state.users.get(on_behalf) or call.sim.state.user_by_email(str(on_behalf))
        require(found is not None, "raiseOnBehalfOf", f"The user '{on_behalf}' does not exist.")
        assert found is not None
        reporter = found.account_id
    issuetype = next(t for t in project.issue_types if t[0] == rtype[2]) if any(
        t[0] == rtype[2] for t in project.issue_types) else project.issue_types[0]
    description = values.get("description")
    issue = call.sim.state.create_issue(
        project, summary=str(summary), issuetype=issuetype, reporter=reporter, now=call.sim.now(),
        description=wiki_to_adf(description) if isinstance(description, str) else None,
        request_type_id=type_id)
    emit_issue(call, "jira:issue_created", issue, "issue_created")
    return JSONResponse(_request_json(call, issue), 201)


def get_request(call: Call) -> dict[str, Any]:
    return _request_json(call, call.issue())


def list_requests(call: Call) -> dict[str, Any]:
    issues = [i for i in call.sim.state.issues.values() if i.project.service_desk_id]
    issues.sort(key=lambda i: int(i.id), reverse=True)
    return _page(call, [_request_json(call, i) for i in issues], "/request")


def _comment_json(call: Call, issue: Issue, comment: Comment) -> dict[str, Any]:
    return {"id": comment.id, "body": adf_to_text(comment.body), "public": not comment.internal,
            "author": _customer(call, comment.author), "created": _date(comment.created),
            "_links": {"self": f"{_sd(call)}/request/{issue.id}/comment/{comment.id}"}}


def list_request_comments(call: Call) -> dict[str, Any]:
    issue = call.issue()
    public = call.param("public", "true") != "false"
    internal = call.param("internal", "true") != "false"
    comments = [c for c in issue.comments if (internal if c.internal else public)]
    return _page(call, [_comment_json(call, issue, c) for c in comments], f"/request/{issue.key}/comment")


def add_request_comment(call: Call) -> Response:
    issue = call.issue()
    body = call.body if isinstance(call.body, dict) else {}
    text = body.get("body")
    require(isinstance(text, str) and text.strip() != "", "body", "Comment body can not be empty!")
    internal = body.get("public") is False
    properties = [{"key": INTERNAL_PROPERTY, "value": {"internal": internal}}]
    comment = call.sim.state.add_comment(issue, author=call.user.account_id, body=text_to_adf(str(text)),
                                         now=call.sim.now(), internal=internal, properties=properties)
    emit_comment(call, issue, comment)
    return JSONResponse(_comment_json(call, issue, comment), 201)


def get_feedback(call: Call) -> dict[str, Any]:
    """``GET /request/{key}/feedback`` (experimental: without ``X-ExperimentalApi: opt-in`` a 400
    as on JSM Cloud); 404 while the customer has given none."""
    _experimental(call)
    issue = call.issue()
    if issue.feedback is None:
        raise HttpError(404, "No feedback found for this request.")
    return dict(issue.feedback)


def post_feedback(call: Call) -> Response:
    """``POST /request/{key}/feedback`` {"type": "csat", "rating": 1..5, "comment": {"body"}}: the reporter's rating."""
    _experimental(call)
    issue = call.issue()
    body = call.body if isinstance(call.body, dict) else {}
    rating: Any = body.get("rating")
    require(type(rating) is int and 1 <= rating <= 5, "rating", "The rating must be between 1 and 5.")
    require(body.get("type", "csat") == "csat", "type", "Only csat feedback is supported.")
    if call.user.account_id != issue.reporter:
        raise HttpError(403, "Only the reporter of the request can give feedback.")
    text = (body.get("comment") or {}).get("body") if isinstance(body.get("comment"), dict) else None
    return JSONResponse(call.sim.state.give_feedback(issue, int(rating), str(text) if text else None), 201)


def _experimental(call: Call) -> None:
    if call.request.headers.get("x-experimentalapi", "").lower() != "opt-in":
        raise HttpError(400, "This API is experimental. Experimental APIs are not guaranteed to be stable within "
                             "the preview period. You must set the header 'X-ExperimentalApi: opt-in' to opt into "
                             "using this API.")


def list_request_transitions(call: Call) -> dict[str, Any]:
    issue = call.issue()
    values = [{"id": t.id, "name": t.name} for t in issue.project.workflow.available(issue.status)]
    return _page(call, values, f"/request/{issue.key}/transition")


def do_request_transition(call: Call) -> Response:
    body = call.body if isinstance(call.body, dict) else {}
    call.body = {"transition": {"id": str(body.get("id", ""))}}
    comment = (body.get("additionalComment") or {}).get("body")
    if comment:
        call.body["update"] = {"comment": [{"add": {"body": text_to_adf(str(comment))}}]}
        call.render = type(call.render)(call.render.state, call.render.base, "3")
    return do_transition(call)
