"""State of the Jira Cloud + JSM simulator: users, projects with workflows, issues, comments.

Plain dataclasses behind one lock; the HTTP layer (`deskhand.sim.jira`) renders them as Jira JSON.
Bodies are kept as ADF (what Jira Cloud stores); REST v2 converts to and from wiki markup.
A workflow is data: statuses (each in a status category) and transitions (from some statuses, or
global) — the default is JSM-like: Open → In Progress → Waiting for customer → Resolved → Closed,
with reopen transitions.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deskhand.providers.adf import adf_to_text
from deskhand.sim.jql import Facts

CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
    "undefined": {"id": 1, "key": "undefined", "colorName": "medium-gray", "name": "No Category"},
}
PRIORITIES = [("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest")]
DEFAULT_EMAIL = "agent@deskhand.test"
DEFAULT_TOKEN = "deskhand-sim-token"


@dataclass
class User:
    account_id: str
    display_name: str
    email: str
    account_type: str = "atlassian"  # atlassian | customer | app
    active: bool = True
    time_zone: str = "UTC"


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: str  # new | indeterminate | done


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to: str  # status id
    sources: tuple[str, ...] = ()  # status ids it starts from; () = global (from any status)
    resolution: str | None = None  # set on the issue ("Done"); "" clears it


@dataclass
class Workflow:
    statuses: list[Status]
    transitions: list[Transition]
    initial: str

    def status(self, status_id: str) -> Status:
        return next(s for s in self.statuses if s.id == status_id)

    def available(self, status_id: str) -> list[Transition]:
        return [t for t in self.transitions if not t.sources or status_id in t.sources]


def jsm_workflow() -> Workflow:
    """Open → In Progress → Waiting for customer → Resolved → Closed, with reopen transitions."""
    opn, prog, wait, res, closed = "1", "3", "10001", "5", "6"
    return Workflow(
        statuses=[
            Status(opn, "Open", "new"),
            Status(prog, "In Progress", "indeterminate"),
            Status(wait, "Waiting for customer", "indeterminate"),
            Status(res, "Resolved", "done"),
            Status(closed, "Closed", "done"),
        ],
        transitions=[
            Transition("11", "Start progress", prog, (opn, wait)),
            Transition("21", "Wait for customer", wait, (opn, prog)),
            Transition("31", "Back to open", opn, (prog, wait)),
            Transition("41", "Resolve", res, (opn, prog, wait), resolution="Done"),
            Transition("51", "Close", closed, (opn, prog, wait, res), resolution="Done"),
            Transition("61", "Reopen", opn, (res, closed), resolution=""),
        ],
        initial=opn,
    )


@dataclass
class Project:
    id: str
    key: str
    name: str
    workflow: Workflow = field(default_factory=jsm_workflow)
    issue_types: list[tuple[str, str]] = field(
        default_factory=lambda: [("10001", "Task"), ("10002", "Service Request"), ("10003", "Incident")]
    )
    service_desk_id: str | None = "1"  # None: a plain Jira Software/Work Management project
    lead: str | None = None

    @property
    def type_key(self) -> str:
        return "service_desk" if self.service_desk_id else "software"


@dataclass
class Comment:
    id: str
    author: str  # accountId
    body: dict[str, Any]  # ADF
    created: datetime
    updated: datetime
    internal: bool = False
    visibility: dict[str, Any] | None = None
    properties: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Change:
    id: str
    author: str
    created: datetime
    items: list[dict[str, Any]]


@dataclass
class Issue:
    id: str
    key: str
    project: Project
    summary: str
    issuetype: tuple[str, str]
    status: str
    reporter: str
    created: datetime
    updated: datetime
    description: dict[str, Any] | None = None
    priority: str | None = "Medium"
    labels: list[str] = field(default_factory=list)
    assignee: str | None = None
    resolution: str | None = None
    resolved: datetime | None = None
    comments: list[Comment] = field(default_factory=list)
    changelog: list[Change] = field(default_factory=list)
    request_type_id: str | None = None

    @property
    def status_obj(self) -> Status:
        return self.project.workflow.status(self.status)


class JiraState:
    """Everything the simulator knows. Mutate only through the methods (they take the lock)."""

    def __init__(self, users: Iterable[User] = (), projects: Iterable[Project] = ()):
        self.lock = threading.RLock()
        self.users: dict[str, User] = {u.account_id: u for u in users}
        self.projects: dict[str, Project] = {p.key: p for p in projects}
        self.issues: dict[str, Issue] = {}  # by id
        self._ids = itertools.count(10001)
        self._comment_ids = itertools.count(10100)
        self._change_ids = itertools.count(10200)
        self._numbers: dict[str, itertools.count[int]] = {}

    @classmethod
    def default(cls) -> JiraState:
        """One agent (the default login), one customer, one JSM project SUP."""
        agent = User("557058:0a4f9c2e-agent-0001", "Deskhand Agent", DEFAULT_EMAIL)
        customer = User("qm:0c5e7d1a-cust-0001", "Cara Customer", "cara@customer.test", "customer")
        return cls([agent, customer], [Project("10000", "SUP", "Support", lead=agent.account_id)])

    # lookups ---------------------------------------------------------------------------------
    def user_by_email(self, email: str) -> User | None:
        return next((u for u in self.users.values() if u.email.lower() == email.lower()), None)

    def project(self, id_or_key: str) -> Project | None:
        return self.projects.get(id_or_key.upper()) or next(
            (p for p in self.projects.values() if p.id == id_or_key), None
        )

    def issue(self, id_or_key: str) -> Issue | None:
        with self.lock:
            if id_or_key in self.issues:
                return self.issues[id_or_key]
            return next((i for i in self.issues.values() if i.key == id_or_key.upper()), None)

    def add_user(self, user: User) -> User:
        with self.lock:
            self.users[user.account_id] = user
        return user

    # writes -------------------------------------------------------------------------------------
    def create_issue(self, project: Project, *, summary: str, issuetype: tuple[str, str], reporter: str,
                     now: datetime, **fields: Any) -> Issue:
        with self.lock:
            number = next(self._numbers.setdefault(project.key, itertools.count(1)))
            issue = Issue(
                id=str(next(self._ids)), key=f"{project.key}-{number}", project=project, summary=summary,
                issuetype=issuetype, status=project.workflow.initial, reporter=reporter, created=now,
                updated=now, **fields,
            )
            self.issues[issue.id] = issue
            return issue

    def add_comment(self, issue: Issue, *, author: str, body: dict[str, Any], now: datetime,
                    internal: bool = False, visibility: dict[str, Any] | None = None,
                    properties: list[dict[str, Any]] | None = None) -> Comment:
        with self.lock:
            comment = Comment(str(next(self._comment_ids)), author, body, now, now, internal, visibility,
                              list(properties or []))
            issue.comments.append(comment)
            issue.updated = now
            return comment

    def record_change(self, issue: Issue, author: str, now: datetime, items: list[dict[str, Any]]) -> Change:
        with self.lock:
            change = Change(str(next(self._change_ids)), author, now, items)
            issue.changelog.append(change)
            issue.updated = now
            return change

    # search -------------------------------------------------------------------------------------
    def facts(self, issue: Issue) -> Facts:
        """What the JQL evaluator sees of one issue."""
        status = issue.status_obj
        category = CATEGORIES[status.category]
        rank = {name: int(pid) for pid, name in PRIORITIES}
        description = _Once(lambda: adf_to_text(issue.description))
        comments = _Once(lambda: "\n".join(adf_to_text(c.body) for c in issue.comments))
        return _LazyFacts({
            "project": [issue.project.key, issue.project.id, issue.project.name],
            "status": [status.name, status.id],
            "statuscategory": [category["key"], category["name"], str(category["id"])],
            "labels": list(issue.labels),
            "assignee": self._user_facts(issue.assignee),
            "reporter": self._user_facts(issue.reporter),
            "priority": [issue.priority, *[p for p, n in PRIORITIES if n == issue.priority]]
            if issue.priority else [],
            "issuetype": [issue.issuetype[1], issue.issuetype[0]],
            "resolution": [issue.resolution] if issue.resolution else [],
            "key": [issue.key],
            "id": [issue.id],
            "summary": issue.summary,
            "created": issue.created,
            "updated": issue.updated,
            "resolved": issue.resolved,
            "_sort": {"priority": rank.get(issue.priority or "", 99), "id": int(issue.id),
                      "status": status.name.lower()},
        }, {  # text fields: rendered only when a query asks (a search scans every issue)
            "description": description,
            "comment": comments,
            "text": lambda: "\n".join(x for x in [issue.summary, description(), comments()] if x is not None),
        })

    def _user_facts(self, account_id: str | None) -> list[str]:
        user = self.users.get(account_id or "")
        if user is None:
            return [account_id] if account_id else []
        return [user.account_id, user.display_name, user.email]


class _Once:
    def __init__(self, fn: Any) -> None:
        self._fn, self._done, self._value = fn, False, None

    def __call__(self) -> Any:
        if not self._done:
            self._value, self._done = self._fn(), True
        return self._value


class _LazyFacts(dict):  # type: ignore[type-arg]
    """Facts with some values computed on first ``get`` (what the JQL evaluator reads)."""

    def __init__(self, eager: dict[str, Any], lazy: dict[str, Any]) -> None:
        super().__init__(eager)
        self._lazy = lazy

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key in self._lazy and not super().__contains__(key):
            self[key] = self._lazy[key]()
        return super().get(key, default)


def utcnow_from(clock_s: float) -> datetime:
    return datetime.fromtimestamp(clock_s, UTC)
