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

from deskhand.sim.jira_adf import adf_to_text
from deskhand.sim.jira_stamps import LAST, Tracked, TrackedTable, stamp
from deskhand.sim.jql import Context, Facts, Query
from deskhand.sim.jql_index import Index

CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
    "undefined": {"id": 1, "key": "undefined", "colorName": "medium-gray", "name": "No Category"},
}
PRIORITIES = [("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest")]
_PRIORITY_IDS = {name: pid for pid, name in PRIORITIES}
DEFAULT_EMAIL = "agent@deskhand.test"
DEFAULT_TOKEN = "deskhand-sim-token"

@dataclass
class User(Tracked):
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
class Workflow(Tracked):
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
class Project(Tracked):
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
class Comment(Tracked):
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
class Issue(Tracked):
    _own_facts = True

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
    feedback: dict[str, Any] | None = None  # JSM request feedback: {"type": "csat", "rating": 1..5, "comment": …}

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
        self._facts: dict[str, tuple[int, int, Facts]] = {}  # by id: (issue stamp, shared stamp, facts)
        self._index: tuple[int, Index[Issue]] | None = None
        self._ids = itertools.count(10001)
        self._comment_ids = itertools.count(10100)
        self._change_ids = itertools.count(10200)
        self._numbers: dict[str, itertools.count[int]] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("users", "projects", "issues") and not isinstance(value, TrackedTable):
            value = TrackedTable(value, shared=name != "issues")  # an issue's arrival changes no other facts
            stamp(shared=True)
        object.__setattr__(self, name, value)

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

    def give_feedback(self, issue: Issue, rating: int, comment: str | None = None) -> dict[str, Any]:
        """The customer's CSAT feedback on a request (1–5 stars; JSM keeps one, a new one replaces it)."""
        if type(rating) is not int or not 1 <= rating <= 5:
            raise ValueError("rating must be an integer between 1 and 5")
        with self.lock:
            issue.feedback = {"type": "csat", "rating": rating, **({"comment": {"body": comment}} if comment else {})}
            return dict(issue.feedback)

    def record_change(self, issue: Issue, author: str, now: datetime, items: list[dict[str, Any]]) -> Change:
        with self.lock:
            change = Change(str(next(self._change_ids)), author, now, items)
            issue.changelog.append(change)
            issue.updated = now
            return change

    # search -------------------------------------------------------------------------------------
    def search(self, query: Query, ctx: Context) -> list[Issue]:
        """`jql.search` over every issue, through the index of the current snapshot."""
        with self.lock:
            return self.index().search(query, ctx)

    def index(self) -> Index[Issue]:
        """The JQL index of the issues as they are now (rebuilt after any change; facts reused)."""
        with self.lock:
            stamp = LAST[0]  # read before building: a change while building makes the next call rebuild
            if self._index is None or self._index[0] != stamp:
                self._index = (stamp, Index(list(self.issues.values()), self.facts))
            return self._index[1]

    def facts(self, issue: Issue) -> Facts:
        """What the JQL evaluator sees of one issue (kept until the issue, a user or a comment changes)."""
        own, shared = getattr(issue, "_stamp", 0), LAST[1]
        with self.lock:
            cached = self._facts.get(issue.id)
            if cached is not None and cached[0] == own and cached[1] == shared:
                return cached[2]
            facts = self._build_facts(issue)
            if len(self._facts) > 2 * len(self.issues) + 1000:  # forget deleted issues now and then
                self._facts = {k: v for k, v in self._facts.items() if k in self.issues}
            self._facts[issue.id] = (own, shared, facts)
            return facts

    def _build_facts(self, issue: Issue) -> Facts:
        return _IssueFacts(issue, self.users)


def _user_facts(users: dict[str, User], account_id: str | None) -> list[str]:
    user = users.get(account_id or "")
    if user is None:
        return [account_id] if account_id else []
    return [user.account_id, user.display_name, user.email]


def _priority_facts(issue: Issue) -> list[str]:
    if not issue.priority:
        return []
    return [issue.priority, *([_PRIORITY_IDS[issue.priority]] if issue.priority in _PRIORITY_IDS else [])]


def _text_facts(issue: Issue, facts: Facts) -> str:
    return "\n".join(x for x in [issue.summary, facts.get("description"), facts.get("comment")] if x is not None)


_FACTS: dict[str, Any] = {  # field -> (issue, users, facts) -> value; each computed on first read
    "project": lambda i, u, f: [i.project.key, i.project.id, i.project.name],
    "status": lambda i, u, f: [i.status_obj.name, i.status_obj.id],
    "statuscategory": lambda i, u, f: [(c := CATEGORIES[i.status_obj.category])["key"], c["name"], str(c["id"])],
    "labels": lambda i, u, f: list(i.labels),
    "assignee": lambda i, u, f: _user_facts(u, i.assignee),
    "reporter": lambda i, u, f: _user_facts(u, i.reporter),
    "priority": lambda i, u, f: _priority_facts(i),
    "issuetype": lambda i, u, f: [i.issuetype[1], i.issuetype[0]],
    "resolution": lambda i, u, f: [i.resolution] if i.resolution else [],
    "key": lambda i, u, f: [i.key],
    "id": lambda i, u, f: [i.id],
    "summary": lambda i, u, f: i.summary,
    "created": lambda i, u, f: i.created,
    "updated": lambda i, u, f: i.updated,
    "resolved": lambda i, u, f: i.resolved,
    "_sort": lambda i, u, f: {"priority": int(_PRIORITY_IDS.get(i.priority or "", 99)), "id": int(i.id),
                              "status": i.status_obj.name.lower()},
    "description": lambda i, u, f: adf_to_text(i.description),
    "comment": lambda i, u, f: "\n".join(adf_to_text(c.body) for c in i.comments),
    "text": lambda i, u, f: _text_facts(i, f),
}


class _IssueFacts(dict):  # type: ignore[type-arg]
    """What the JQL evaluator sees of one issue; a field is computed when first read (a search reads a
    few fields of every issue: `updated` for the sync's query, never the rendered text unless asked)."""

    def __init__(self, issue: Issue, users: dict[str, User]) -> None:
        super().__init__()
        self._issue, self._users = issue, users

    def __missing__(self, key: str) -> Any:
        make = _FACTS.get(key)
        if make is None:
            raise KeyError(key)
        value = self[key] = make(self._issue, self._users, self)
        return value

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default


def utcnow_from(clock_s: float) -> datetime:
    return datetime.fromtimestamp(clock_s, UTC)
