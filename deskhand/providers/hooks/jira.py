"""What the Jira definition (defs/jira.yaml) can't say as data.

- bodies: ``text_to_adf`` (writes, REST v3) and ``body_text`` (reads: ADF from v3, wiki markup from
  webhooks / v2);
- labels: ``labels`` / ``label_adds`` (Jira labels can't contain spaces: they become ``_``);
- ``browse_url``: the issue's web page from its REST ``self`` link;
- ``prepare``: the bounded JQL the ticket listing uses, and a check of the ``teams`` value;
- ``list_teams`` / ``assign``: escalation "teams" are the account's ``teams`` value (name=accountId):
  Jira Cloud issues have no group assignee, so a team is the person who triages for it;
- ``set_status``: the transition planner (see :func:`set_status`).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from weakref import WeakKeyDictionary

from deskhand.errors import ConfigError, TransitionError
from deskhand.model import Action, Status
from deskhand.providers.connector import Connector
from deskhand.providers.fields import parse_pairs
from deskhand.providers.hooks.jira_adf import adf_to_text
from deskhand.providers.hooks.jira_adf import text_to_adf as _text_to_adf
from deskhand.providers.hooks.jira_wiki import wiki_to_text

MAX_TRANSITIONS = 6  # transitions one set_status may take, exploring included
_SPACE = re.compile(r"\s+")


# -- values -----------------------------------------------------------------------------------


def prepare(values: dict[str, Any]) -> dict[str, Any]:
    """Derive ``search_jql`` (Jira refuses unbounded JQL) and check ``teams``."""
    project = values.get("project")
    scope = f"project = {project}" if project else "project is not EMPTY"
    values["search_jql"] = f"{scope} ORDER BY created ASC"
    values["search_scope"] = scope  # deskhand.sync adds its own `updated` condition and order
    try:
        parse_pairs(values.get("teams"))
    except ValueError as exc:
        raise ConfigError(f"jira teams: {exc} (give name=accountId pairs)") from exc
    return values


def body_text(value: Any) -> str:
    """An ADF document (REST v3) or a wiki-markup string (webhooks, REST v2) as plain text."""
    if isinstance(value, str):
        return wiki_to_text(value)
    if isinstance(value, dict):
        return adf_to_text(value)
    return ""


def text_to_adf(value: Any) -> dict[str, Any]:
    return _text_to_adf(str(value))


def _slug(tag: Any) -> str:
    return _SPACE.sub("_", str(tag).strip())


def labels(tags: Any) -> list[str]:
    items: Iterable[Any] = [tags] if isinstance(tags, str) else tags
    return [s for s in dict.fromkeys(_slug(t) for t in items) if s]


def label_adds(tags: Any) -> list[dict[str, str]]:
    return [{"add": label} for label in labels(tags)]


def browse_url(issue: Any) -> str | None:
    """``https://site.atlassian.net/rest/api/3/issue/10001`` + key SUP-1 → ``…/browse/SUP-1``."""
    if not isinstance(issue, Mapping) or not issue.get("self") or not issue.get("key"):
        return None
    root = str(issue["self"]).split("/rest/", 1)[0]
    return f"{root}/browse/{issue['key']}"


# -- satisfaction -----------------------------------------------------------------------------


def request_feedback(connector: Connector, args: Mapping[str, Any]) -> dict[str, Any]:
    """JSM request feedback (``GET /rest/servicedeskapi/request/{key}/feedback``, an experimental
    API: it needs ``X-ExperimentalApi: opt-in``); JSM answers 404 while the customer has given none.
    The service desk API sits beside the platform API, under the same root (site or API gateway)."""
    root = connector.http.base_url.rsplit("/rest/api/", 1)[0]
    key = quote(str(args["ticket_id"]), safe="")
    response = connector.http.request("GET", f"{root}/rest/servicedeskapi/request/{key}/feedback",
                                      headers={"X-ExperimentalApi": "opt-in"},
                                      endpoint="GET /request/{ticket_id}/feedback")
    body = response.json()
    return body if isinstance(body, dict) else {}


# -- teams and assignment ---------------------------------------------------------------------


def list_teams(connector: Connector, args: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"id": account, "name": name} for name, account in parse_pairs(connector.values.get("teams")).items()]


def assign(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    """Assign to ``user_id`` (an accountId), else to the person behind ``team_id``."""
    account = args.get("user_id") or args.get("team_id")
    if not account:
        raise ValueError("jira assign needs user_id or team_id (an accountId)")
    key = str(args["ticket_id"])
    response = connector.http.request("PUT", f"/issue/{quote(key, safe='')}/assignee", json={"accountId": account},
                                      record=key)  # a write to the issue: its per-issue budget
    summary = {"action": action.kind.value, "ticket_id": key, "status_code": response.status_code}
    summary["user_id"] = str(account)
    if args.get("team_id"):
        summary["team_id"] = str(args["team_id"])
    return summary


# -- statuses through transitions -------------------------------------------------------------


@dataclass
class _Edge:
    id: str
    name: str
    to: dict[str, Any]  # the target status object, as Jira renders it


@dataclass
class _Workflow:
    """What one connector has seen of each workflow: status id → transitions available from it."""

    edges: dict[tuple[str, str], list[_Edge]] = field(default_factory=dict)  # (workflow key, status id)


_SEEN: WeakKeyDictionary[Connector, _Workflow] = WeakKeyDictionary()


def unified_status(connector: Connector, status: Mapping[str, Any]) -> Status | None:
    """A Jira status object read with the definition's own status rule (name map, overrides, category)."""
    value = connector.readers["ticket"].rules["status"].read({"fields": {"status": status}})
    try:
        return Status(value)
    except ValueError:
        return None


class _Planner:
    def __init__(self, connector: Connector, key: str, target: Status) -> None:
        self.c = connector
        self.key = key
        self.path = f"/issue/{quote(key, safe='')}"
        self.target = target
        self.seen = _SEEN.setdefault(connector, _Workflow())
        issue = connector.http.request("GET", self.path, params={"fields": "status,project,issuetype"}).json()
        fields = issue.get("fields") or {}
        self.workflow = f"{(fields.get('project') or {}).get('key')}/{(fields.get('issuetype') or {}).get('id')}"
        self.status: dict[str, Any] = fields.get("status") or {}
        self.start = dict(self.status)
        self.taken: list[str] = []

    def sid(self, status: Mapping[str, Any]) -> str:
        return str(status.get("id") or status.get("name"))

    def observe(self) -> list[_Edge]:
        body = self.c.http.request("GET", self.path + "/transitions").json()
        edges = [
            _Edge(str(t["id"]), str(t.get("name") or t["id"]), t.get("to") or {}) for t in body.get("transitions") or []
        ]
        self.seen.edges[(self.workflow, self.sid(self.status))] = edges
        return edges

    def take(self, edge: _Edge) -> None:
        self.c.http.request("POST", self.path + "/transitions", json={"transition": {"id": edge.id}}, record=self.key)
        self.taken.append(edge.name)
        self.status = dict(edge.to)

    def route(self, goal: Any) -> list[_Edge] | None:
        """Shortest path of known transitions from the current status to a status `goal(status)` accepts."""
        start = self.sid(self.status)
        queue: deque[tuple[str, list[_Edge]]] = deque([(start, [])])
        visited = {start}
        while queue:
            node, path = queue.popleft()
            for edge in self.seen.edges.get((self.workflow, node), []):
                nxt = self.sid(edge.to)
                if nxt in visited:
                    continue
                visited.add(nxt)
                if goal(edge.to):
                    return [*path, edge]
                queue.append((nxt, [*path, edge]))
        return None

    def explored(self, status: Mapping[str, Any]) -> bool:
        return (self.workflow, self.sid(status)) in self.seen.edges

    def run(self) -> list[str]:
        if unified_status(self.c, self.status) is self.target:
            return []
        self.observe()
        if self.route(self.hits) is None and not self.target_exists():
            raise TransitionError(
                f"jira {self.key}: no status of this site maps to {self.target.value!r} (status map: names and "
                f"categories; add one with status_map); nothing was changed"
            )
        while len(self.taken) < MAX_TRANSITIONS:
            path = self.route(self.hits) or self.route(lambda s: not self.explored(s))
            if path is None:
                break
            self.take(path[0])
            if self.hits(self.status):
                return self.taken
            self.observe()
        self.give_up()
        return self.taken  # pragma: no cover - give_up raises

    def hits(self, status: Mapping[str, Any]) -> bool:
        return unified_status(self.c, status) is self.target

    def target_exists(self) -> bool:
        statuses = self.c.http.request("GET", "/status").json()
        return any(self.hits(s) for s in statuses if isinstance(s, Mapping))

    def give_up(self) -> None:
        where = f"{self.status.get('name')!r}"
        moved = list(self.taken)
        if moved:
            back = self.route(lambda s: self.sid(s) == self.sid(self.start))
            for edge in back or []:
                self.take(edge)
            if back is not None:
                where = f"{self.start.get('name')!r} again (through {' → '.join(self.taken)})"
        raise TransitionError(
            f"jira {self.key}: no transition path from {self.start.get('name')!r} reaches a status mapped to "
            f"{self.target.value!r} within {MAX_TRANSITIONS} transitions; the issue is at {where}"
        )


def set_status(connector: Connector, action: Action, args: Mapping[str, Any]) -> dict[str, Any]:
    """Reach a unified status through the workflow: the transition, or the shortest path of
    transitions, whose target status the definition maps to it (the same rule that reads statuses).

    The workflow is learnt from ``GET …/transitions`` after every step (remembered per connector, so
    a later call plans the whole path at once); statuses not seen yet are explored breadth-first,
    at most MAX_TRANSITIONS transitions. When no status of the site maps to the target, it raises
    TransitionError before changing anything; when a mapped status exists but can't be reached, it
    walks the issue back to where it started (when the workflow allows) and raises TransitionError.
    """
    target = Status(str(args["status"]))
    key = str(args["ticket_id"])
    planner = _Planner(connector, key, target)
    taken = planner.run()
    return {
        "action": action.kind.value,
        "ticket_id": key,
        "status_code": 204 if taken else 200,
        "status": planner.status.get("name"),
        "transitions": taken,
    }
