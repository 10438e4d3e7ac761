"""Jira JSON shapes for the simulator's state (issues, users, statuses, comments, JSM requests).

Shapes follow real Jira Cloud responses (Sentry's and Airbyte's recorded stubs, Zulip's webhook
fixtures): `self` links, `statusCategory`, `jsdPublic`, `+0000` timestamps. `version` "2" renders
bodies as wiki markup strings, "3" as ADF.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deskhand.sim.jira_adf import adf_to_text, adf_to_wiki, wiki_to_adf
from deskhand.sim.jira_state import CATEGORIES, PRIORITIES, Comment, Issue, JiraState, Project, Status, User

NAVIGABLE = ("summary", "description", "issuetype", "project", "status", "priority", "labels", "assignee",
             "reporter", "creator", "created", "updated", "resolution", "resolutiondate", "duedate",
             "components", "fixVersions", "issuelinks", "subtasks", "attachment", "watches", "lastViewed",
             "statuscategorychangedate", "timetracking", "environment", "votes", "progress", "aggregateprogress",
             "worklog", "versions", "workratio", "timespent", "timeestimate", "timeoriginalestimate",
             "aggregatetimespent", "aggregatetimeestimate", "aggregatetimeoriginalestimate")
ALL_FIELDS = (*NAVIGABLE, "comment")


def jira_time(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def body_out(doc: dict[str, Any] | None, version: str) -> Any:
    if doc is None:
        return None
    return adf_to_wiki(doc) if version == "2" else doc


def body_in(value: Any, version: str) -> dict[str, Any] | None:
    """Request body -> ADF. v3 demands an ADF doc; v2 (and latest) take wiki strings. Raises ValueError."""
    if value is None:
        return None
    if isinstance(value, dict):
        if value.get("type") != "doc" or not isinstance(value.get("content"), list):
            raise ValueError("Operation value must be an Atlassian Document (see the Atlassian Document Format).")
        return value
    if isinstance(value, str):
        if version == "3":
            raise ValueError("Operation value must be an Atlassian Document (see the Atlassian Document Format).")
        return wiki_to_adf(value)
    raise ValueError("Operation value must be a string.")


@dataclass(frozen=True)
class Renderer:
    """Renders state for one request: `base` is the simulator's URL, `version` "2" | "3" | "latest"."""

    state: JiraState
    base: str
    version: str = "3"

    @property
    def api(self) -> str:
        return f"{self.base}/rest/api/{self.version}"

    @property
    def body_version(self) -> str:
        return "3" if self.version == "3" else "2"

    def avatars(self, kind: str, ident: str) -> dict[str, str]:
        return {f"{n}x{n}": f"{self.base}/secure/{kind}avatar?size={n}&id={ident}" for n in (16, 24, 32, 48)}

    def user(self, account_id: str | None) -> dict[str, Any] | None:
        if not account_id:
            return None
        user = self.state.users.get(account_id) or User(account_id, account_id, "")
        return {
            "self": f"{self.api}/user?accountId={user.account_id}",
            "accountId": user.account_id,
            "emailAddress": user.email,
            "avatarUrls": self.avatars("user", user.account_id),
            "displayName": user.display_name,
            "active": user.active,
            "timeZone": user.time_zone,
            "accountType": user.account_type,
        }

    def status(self, status: Status) -> dict[str, Any]:
        category = CATEGORIES[status.category]
        return {
            "self": f"{self.api}/status/{status.id}",
            "description": "",
            "iconUrl": f"{self.base}/images/icons/statuses/generic.png",
            "name": status.name,
            "id": status.id,
            "statusCategory": {"self": f"{self.api}/statuscategory/{category['id']}", **category},
        }

    def priority(self, name: str | None) -> dict[str, Any] | None:
        found = next(((pid, n) for pid, n in PRIORITIES if n == name), None)
        if found is None:
            return None
        return {"self": f"{self.api}/priority/{found[0]}", "iconUrl": f"{self.base}/images/icons/priorities/"
                f"{found[1].lower()}.svg", "name": found[1], "id": found[0]}

    def issuetype(self, ident: str, name: str) -> dict[str, Any]:
        return {"self": f"{self.api}/issuetype/{ident}", "id": ident, "description": "", "name": name,
                "subtask": False, "hierarchyLevel": 0,
                "iconUrl": f"{self.base}/images/icons/issuetypes/{name.lower().replace(' ', '')}.svg"}

    def project(self, project: Project, *, full: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "self": f"{self.api}/project/{project.id}", "id": project.id, "key": project.key,
            "name": project.name, "projectTypeKey": project.type_key, "simplified": False,
            "avatarUrls": self.avatars("project", project.id),
        }
        if full:
            out.update({
                "description": "", "lead": self.user(project.lead), "style": "classic", "isPrivate": False,
                "issueTypes": [self.issuetype(i, n) for i, n in project.issue_types],
            })
        return out

    def transition(self, issue: Issue, transition: Any) -> dict[str, Any]:
        to = issue.project.workflow.status(transition.to)
        return {"id": transition.id, "name": transition.name, "to": self.status(to), "hasScreen": False,
                "isGlobal": not transition.sources, "isInitial": False, "isAvailable": True,
                "isConditional": False, "isLooped": False}

    def comment(self, issue: Issue, comment: Comment, *, properties: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "self": f"{self.api}/issue/{issue.id}/comment/{comment.id}",
            "id": comment.id,
            "author": self.user(comment.author),
            "body": body_out(comment.body, self.body_version),
            "updateAuthor": self.user(comment.author),
            "created": jira_time(comment.created),
            "updated": jira_time(comment.updated),
            "jsdPublic": not comment.internal,
        }
        if comment.visibility:
            out["visibility"] = comment.visibility
        if properties:
            out["properties"] = comment.properties
        return out

    def comment_page(self, issue: Issue, start: int, limit: int, newest_first: bool,
                     properties: bool = False) -> dict[str, Any]:
        comments = list(reversed(issue.comments)) if newest_first else list(issue.comments)
        page = comments[start:start + limit]
        return {"self": f"{self.api}/issue/{issue.id}/comment", "startAt": start, "maxResults": limit,
                "total": len(comments), "comments": [self.comment(issue, c, properties=properties) for c in page]}

    def fields(self, issue: Issue, wanted: Iterable[str]) -> dict[str, Any]:
        available: dict[str, Any] = {
            "summary": lambda: issue.summary,
            "description": lambda: body_out(issue.description, self.body_version),
            "issuetype": lambda: self.issuetype(*issue.issuetype),
            "project": lambda: self.project(issue.project, full=False),
            "status": lambda: self.status(issue.status_obj),
            "priority": lambda: self.priority(issue.priority),
            "labels": lambda: list(issue.labels),
            "assignee": lambda: self.user(issue.assignee),
            "reporter": lambda: self.user(issue.reporter),
            "creator": lambda: self.user(issue.reporter),
            "created": lambda: jira_time(issue.created),
            "updated": lambda: jira_time(issue.updated),
            "resolution": lambda: {"self": f"{self.api}/resolution/10000", "id": "10000",
                                   "description": "", "name": issue.resolution} if issue.resolution else None,
            "resolutiondate": lambda: jira_time(issue.resolved),
            "statuscategorychangedate": lambda: jira_time(issue.updated),
            "comment": lambda: self.comment_page(issue, 0, 5000, False),
            "watches": lambda: {"self": f"{self.api}/issue/{issue.key}/watchers", "watchCount": 0,
                                "isWatching": False},
            "votes": lambda: {"self": f"{self.api}/issue/{issue.key}/votes", "votes": 0, "hasVoted": False},
            "timetracking": dict,
            "progress": lambda: {"progress": 0, "total": 0},
            "aggregateprogress": lambda: {"progress": 0, "total": 0},
            "worklog": lambda: {"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []},
            "workratio": lambda: -1,
        }
        empty_lists = {"components", "fixVersions", "issuelinks", "subtasks", "attachment", "versions"}
        out: dict[str, Any] = {}
        for name in wanted:
            if name in available:
                out[name] = available[name]()
            elif name in empty_lists:
                out[name] = []
            elif name in ("duedate", "lastViewed", "environment") or name.startswith(("time", "aggregatetime")):
                out[name] = None
        return out

    def issue(self, issue: Issue, wanted: Iterable[str] = ALL_FIELDS, expand: Iterable[str] = ()) -> dict[str, Any]:
        expand = set(expand)
        out: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue.id, "self": f"{self.api}/issue/{issue.id}", "key": issue.key,
            "fields": self.fields(issue, wanted),
        }
        if "renderedFields" in expand:
            text = adf_to_text(issue.description)
            out["renderedFields"] = {"description": f"<p>{html.escape(text)}</p>" if text else None}
        if "names" in expand:
            out["names"] = {name: name.capitalize() for name in out["fields"]}
        if "transitions" in expand:
            out["transitions"] = [self.transition(issue, t) for t in
                                  issue.project.workflow.available(issue.status)]
        if "changelog" in expand:
            histories = [{"id": c.id, "author": self.user(c.author), "created": jira_time(c.created),
                          "items": c.items} for c in reversed(issue.changelog)]
            out["changelog"] = {"startAt": 0, "maxResults": len(histories), "total": len(histories),
                                "histories": histories}
        return out

    def webhook_issue(self, issue: Issue, *, short: bool = False) -> dict[str, Any]:
        if short:
            return {"id": issue.id, "self": f"{self.api}/issue/{issue.id}", "key": issue.key,
                    "fields": self.fields(issue, ("summary", "issuetype", "project", "assignee", "priority",
                                                   "status"))}
        return {"id": issue.id, "self": f"{self.api}/issue/{issue.id}", "key": issue.key,
                "fields": self.fields(issue, ALL_FIELDS)}
