"""The Linear simulator's state: plain dicts shaped like Linear's models, with an injectable clock.

One workspace (organization) with users, teams, per-team workflow states, labels, issues, comments
and webhooks. Every record is a dict holding its scalar fields under Linear's field names plus the
ids of what it points to (``teamId``, ``stateId``, ``assigneeId``, ``labelIds``, ``issueId``,
``userId``), as Linear's webhook payloads show them (FACTS.md §3.5). Changes are announced to
``listeners`` as ``(action, type, record, updatedFrom, actor)`` (the webhook dispatcher's input).
Deleting an issue trashes it (``archivedAt`` and ``trashed``): it leaves listings and sends
``remove``, as Linear's issueDelete does.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError

Record = dict[str, Any]
Listener = Callable[[str, str, Record, Record | None, Record], None]
PRIORITY_LABELS = {0: "No priority", 1: "Urgent", 2: "High", 3: "Medium", 4: "Low"}
STATES = (("Triage", "triage"), ("Backlog", "backlog"), ("Todo", "unstarted"), ("In Progress", "started"),
          ("Waiting for customer", "started"), ("On hold", "backlog"), ("Done", "completed"),
          ("Canceled", "canceled"))
LABELS = ("Bug", "Feature", "Improvement")  # a new workspace's labels
SEED_LABELS = ("Billing", "Question", "Outage", "Account")
ISSUE_INPUT = ("title", "description", "priority", "stateId", "assigneeId", "teamId", "dueDate", "estimate")


def iso_ms(ts: float) -> str:
    """Unix seconds -> ``2026-04-11T10:21:34.858Z`` (Linear's DateTime: milliseconds, UTC)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def not_found(kind: str) -> GraphQLError:
    """Linear's answer for an id that names nothing (the code is our reading of it, FACTS §3)."""
    return GraphQLError(f"Entity not found: {kind}", extensions={
        "type": "invalid input", "code": "ENTITY_NOT_FOUND", "userError": True,
        "userPresentableMessage": f"Could not find referenced {kind}."})


def invalid(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"type": "invalid input", "code": "INVALID_INPUT", "userError": True,
                                             "userPresentableMessage": message})


class LinearState:
    """A Linear workspace as plain data; every public method takes ``lock`` itself."""

    def __init__(self, clock: Callable[[], float] = time.time, url_key: str = "acme") -> None:
        self.clock, self.lock = clock, threading.RLock()
        self._last = 0.0
        self.org: Record = {"id": str(uuid.uuid4()), "name": "Acme", "urlKey": url_key}
        self.users: dict[str, Record] = {}
        self.teams: dict[str, Record] = {}
        self.states: dict[str, Record] = {}
        self.labels: dict[str, Record] = {}
        self.issues: dict[str, Record] = {}
        self.comments: dict[str, Record] = {}
        self.webhooks: dict[str, Record] = {}
        self.api_keys: dict[str, str] = {}  # key -> user id
        self.listeners: list[Listener] = []
        self._numbers: dict[str, itertools.count[int]] = {}
        self.viewer = self.add_user("Deskhand Bot", "bot@acme.test")
        self.team = self.add_team("Support", "SUP")

    # ------------------------------------------------------------------ directory
    def now(self) -> str:
        """A fresh timestamp, strictly after the previous one (so `updatedAt` orders every change)."""
        with self.lock:
            ts = max(self.clock(), self._last + 0.001)
            self._last = ts
            return iso_ms(ts)

    def add_user(self, name: str, email: str) -> Record:
        with self.lock:
            at = self.now()
            user: Record = {"id": str(uuid.uuid4()), "name": name, "displayName": name.split()[0].lower(),
                            "email": email, "active": True, "admin": False, "guest": False,
                            "createdAt": at, "updatedAt": at,
                    "url": f"https://linear.app/{self.org['urlKey']}/profiles/{name.split()[0].lower()}"}
            self.users[user["id"]] = user
            return user

    def add_team(self, name: str, key: str, *, private: bool = False, members: list[str] | None = None) -> Record:
        """A team with the default workflow states and labels. A private team is seen only by its
        ``members`` (user ids): to anyone else ``teams`` leaves it out and ``team(id:)`` is not found."""
        with self.lock:
            at = self.now()
            team: Record = {"id": str(uuid.uuid4()), "name": name, "key": key, "private": private, "createdAt": at,
                            "updatedAt": at, "memberIds": list(members or [])}
            self.teams[team["id"]] = team
            self._numbers[team["id"]] = itertools.count(1)
            for position, (state_name, kind) in enumerate(STATES):
                state: Record = {"id": str(uuid.uuid4()), "name": state_name, "type": kind,
                                 "position": float(position), "color": "#bec2c8", "teamId": team["id"],
                                 "createdAt": at, "updatedAt": at}
                self.states[state["id"]] = state
            for label_name in LABELS:
                label: Record = {"id": str(uuid.uuid4()), "name": label_name, "color": "#5e6ad2", "teamId": team["id"],
                         "isGroup": False, "createdAt": at, "updatedAt": at}
                self.labels[label["id"]] = label
            return team

    def sees_team(self, user_id: str, team: Record) -> bool:
        return not team.get("private") or user_id in team.get("memberIds", [])

    def state_named(self, team_id: str, name: str) -> Record:
        with self.lock:
            for state in self.states.values():
                if state["teamId"] == team_id and state["name"] == name:
                    return state
            raise KeyError(f"no workflow state {name!r} in team {team_id}")

    def state_of_type(self, team_id: str, kind: str) -> Record:
        with self.lock:
            found = [s for s in self.states.values() if s["teamId"] == team_id and s["type"] == kind]
            return min(found, key=lambda s: s["position"])

    def create_label(self, data: Record) -> Record:
        """issueLabelCreate: a label of a team (``teamId``) or of the workspace (no team)."""
        with self.lock:
            name = str(data.get("name") or "").strip()
            team_id = data.get("teamId")
            if not name:
                raise invalid("Argument Validation Error: name should not be empty")
            if team_id is not None:
                self._ref(self.teams, team_id, "Team")
            if any(x["name"].lower() == name.lower() and x["teamId"] in (team_id, None) for x in self.labels.values()):
                raise invalid(f"Duplicate label name: a label named {name!r} exists")
            at = self.now()
            label: Record = {"id": str(uuid.uuid4()), "name": name, "color": data.get("color") or "#5e6ad2",
                             "teamId": team_id, "isGroup": False, "createdAt": at, "updatedAt": at}
            self.labels[label["id"]] = label
            return label

    # ------------------------------------------------------------------ lookups
    def issue(self, key: str, *, trashed: bool = False) -> Record:
        """An issue by uuid or identifier (``SUP-12``), as Linear's ``issue(id:)`` accepts both."""
        with self.lock:
            found = self.issues.get(key) or next(
                (i for i in self.issues.values() if i["identifier"].lower() == key.lower()), None)
            if found is None or (found.get("trashed") and not trashed):
                raise not_found("Issue")
            return found

    def _ref(self, table: dict[str, Record], key: Any, kind: str) -> str:
        if key not in table:
            raise not_found(kind)
        return str(key)

    def _emit(self, action: str, kind: str, record: Record, before: Record | None, actor_id: str) -> None:
        for listener in list(self.listeners):
            listener(action, kind, record, before, self.users[actor_id])

    # ------------------------------------------------------------------ issues
    def create_issue(self, data: Record, actor_id: str, *, at: str | None = None, quiet: bool = False) -> Record:
        with self.lock:
            team_id = self._ref(self.teams, data.get("teamId"), "Team")
            if not str(data.get("title") or "").strip():
                raise invalid("Argument Validation Error: title should not be empty")
            stamp = at or self.now()
            number = next(self._numbers[team_id])
            identifier = f"{self.teams[team_id]['key']}-{number}"
            issue: Record = {
                "id": str(data.get("id") or uuid.uuid4()), "number": float(number), "identifier": identifier,
                "title": data["title"], "description": data.get("description"), "priority": 0.0,
                "teamId": team_id, "stateId": self.state_of_type(team_id, "triage")["id"], "assigneeId": None,
                "creatorId": actor_id, "labelIds": [], "subscriberIds": [actor_id], "createdAt": stamp,
                "updatedAt": stamp, "archivedAt": None, "trashed": None, "boardOrder": 0.0, "sortOrder": -float(number),
                "previousIdentifiers": [], "customerTicketCount": 0,
                "url": f"https://linear.app/{self.org['urlKey']}/issue/{identifier}",
                "branchName": f"{identifier.lower()}-{'-'.join(str(data['title']).lower().split()[:5])}"}
            self._apply(issue, data)
            issue["priorityLabel"] = PRIORITY_LABELS[int(issue["priority"])]
            self.issues[issue["id"]] = issue
            if not quiet:
                self._emit("create", "Issue", issue, None, actor_id)
            return issue

    def _apply(self, issue: Record, data: Record) -> Record:
        """Set the fields an IssueCreateInput / IssueUpdateInput names; returns their previous values."""
        before: Record = {}
        for name in ISSUE_INPUT:
            if name not in data:
                continue
            value = data[name]
            if name == "stateId":
                state = self.states.get(value)
                if state is None or state["teamId"] != issue["teamId"]:
                    raise invalid("Argument Validation Error: the workflow state is not one of the issue's team")
            elif name == "assigneeId" and value is not None:
                self._ref(self.users, value, "User")
            elif name == "teamId":
                self._ref(self.teams, value, "Team")
            elif name == "priority":
                if value is None or not 0 <= int(value) <= 4:
                    raise invalid("Argument Validation Error: priority must be between 0 and 4")
                value = float(value)
            if issue.get(name) != value:
                before[name] = issue.get(name)
                issue[name] = value
        labels = list(data.get("labelIds") or issue["labelIds"]) if "labelIds" in data else list(issue["labelIds"])
        labels += [x for x in data.get("addedLabelIds") or [] if x not in labels]
        labels = [x for x in labels if x not in (data.get("removedLabelIds") or [])]
        for label in labels:
            self._ref(self.labels, label, "IssueLabel")
        if labels != issue["labelIds"]:
            before["labelIds"] = issue["labelIds"]
            issue["labelIds"] = labels
        return before

    def update_issue(self, key: str, data: Record, actor_id: str) -> Record:
        with self.lock:
            issue = self.issue(key)
            before = self._apply(issue, data)
            if before:
                before["updatedAt"] = issue["updatedAt"]
                issue["updatedAt"] = self.now()
                issue["priorityLabel"] = PRIORITY_LABELS[int(issue["priority"])]
                self._emit("update", "Issue", issue, before, actor_id)
            return issue

    def delete_issue(self, key: str, actor_id: str) -> Record:
        """issueDelete: the issue goes to the trash (archived, gone from listings) and `remove` is sent."""
        with self.lock:
            issue = self.issue(key)
            issue["archivedAt"] = issue["updatedAt"] = self.now()
            issue["trashed"] = True
            self._emit("remove", "Issue", issue, None, actor_id)
            return issue

    # ------------------------------------------------------------------ comments
    def create_comment(self, data: Record, actor_id: str, *, at: str | None = None, quiet: bool = False) -> Record:
        with self.lock:
            issue = self.issue(str(data.get("issueId")))
            if not str(data.get("body") or "").strip():
                raise invalid("Argument Validation Error: body should not be empty")
            stamp = at or self.now()
            comment: Record = {"id": str(data.get("id") or uuid.uuid4()), "body": data["body"], "issueId": issue["id"],
                       "userId": actor_id, "parentId": data.get("parentId"), "createdAt": stamp,
                       "updatedAt": stamp, "editedAt": None, "reactionData": [],
                       "url": f"{issue['url']}#comment-{str(uuid.uuid4())[:8]}"}
            self.comments[comment["id"]] = comment
            if at is None:  # a new comment changes its issue (as Linear's updatedAt does)
                issue["updatedAt"] = stamp
            if not quiet:
                self._emit("create", "Comment", comment, None, actor_id)
            return comment

    def comments_of(self, issue_id: str) -> list[Record]:
        with self.lock:
            return sorted((c for c in self.comments.values() if c["issueId"] == issue_id),
                          key=lambda c: c["createdAt"])

    # ------------------------------------------------------------------ webhooks
    def create_webhook(self, data: Record, actor_id: str) -> Record:
        with self.lock:
            url = str(data.get("url") or "")
            if not url.startswith(("http://", "https://")):
                raise invalid("Argument Validation Error: url must be an URL address")
            if data.get("teamId") is not None:
                self._ref(self.teams, data["teamId"], "Team")
            at = self.now()
            hook: Record = {"id": str(uuid.uuid4()), "url": url, "label": data.get("label"), "enabled": True,
                    "secret": data.get("secret") or f"lin_wh_{uuid.uuid4().hex}", "teamId": data.get("teamId"),
                    "allPublicTeams": bool(data.get("allPublicTeams", data.get("teamId") is None)),
                    "resourceTypes": list(data.get("resourceTypes") or ["Issue", "Comment"]),
                    "creatorId": actor_id, "createdAt": at, "updatedAt": at}
            self.webhooks[hook["id"]] = hook
            return hook

    # ------------------------------------------------------------------ seed
    def seed_issues(self, n: int, rng: random.Random, *, days: float = 60.0) -> list[str]:
        """``n`` issues raised by customers through the intake user, 0–3 comments each, spread in time."""
        from deskhand.sim.zendesk_seed import TOPICS

        agents = [self.add_user(f"{a} {b}", f"{a.lower()}@acme.test") for a, b in (("Dana", "Reyes"),
                                                                                    ("Omar", "Said"))]
        intake = self.intake_user()
        for name in SEED_LABELS:
            if not any(x["name"] == name for x in self.labels.values()):
                self.create_label({"name": name, "teamId": self.team["id"]})
        start = self.clock() - days * 86400
        made = []
        for k in range(n):
            subject, body, _tags, _group = TOPICS[k % len(TOPICS)]
            at = start + (k + rng.random()) * (days * 86400 / max(n, 1))
            issue = self.create_issue({"title": subject, "description": body, "teamId": self.team["id"],
                                       "priority": rng.choice((0, 2, 3, 3, 4))}, intake["id"], at=iso_ms(at),
                                      quiet=True)
            label = rng.choice([lab for lab in self.labels.values() if lab["teamId"] == self.team["id"]])
            issue["labelIds"] = [label["id"]]
            issue["stateId"] = self.state_named(self.team["id"], rng.choice(
                ("Triage", "Todo", "In Progress", "Waiting for customer", "Done", "Canceled")))["id"]
            for j in range(rng.randint(0, 3)):
                author = agents[j % 2] if j % 2 == 0 else intake
                text = ("Thanks, we're looking into this now." if j % 2 == 0 else "Any update on this?")
                at += rng.uniform(600, 7200)
                self.create_comment({"issueId": issue["id"], "body": text}, author["id"], at=iso_ms(at), quiet=True)
            issue["updatedAt"] = iso_ms(at)
            made.append(issue["id"])
        self._last = max(self._last, self.clock())
        return made

    def intake_user(self) -> Record:
        with self.lock:
            for user in self.users.values():
                if user["email"] == "intake@acme.test":
                    return user
            return self.add_user("Intake", "intake@acme.test")
