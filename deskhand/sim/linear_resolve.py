"""Resolving Linear's schema over :class:`LinearState`: one field resolver for every field.

``resolve`` looks a field up in :data:`RESOLVERS` (``(type, field)`` -> function), else reads the
record's key of that name, else gives the type's empty value for a non-null field (so the large
queries real clients send, e.g. linear-api's ~70 Issue fields, resolve: fields the simulator does
not model come back empty, never as an error). Lists are Relay connections (``nodes``, ``edges``,
``pageInfo``), ``first`` default 50 and at most 250, opaque forward cursors, newest first by
``orderBy`` (``createdAt`` unless ``updatedAt``). Filters follow Linear's filter inputs: nested
relation filters (``team: {id: {eq}}``, ``state: {type: {in}}``) and comparators
(``eq neq in nin lt lte gt gte null contains containsIgnoreCase startsWith``) with ``and`` / ``or``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
)

from deskhand.sim.linear_state import LinearState, Record, invalid, not_found

MAX_FIRST, DEFAULT_FIRST = 250, 50
EMPTY = {"String": "", "ID": "", "Float": 0.0, "Int": 0, "Boolean": False, "JSON": {}, "JSONObject": {},
         "DateTime": "1970-01-01T00:00:00.000Z", "TimelessDate": "1970-01-01", "Duration": "P0D"}


@dataclass
class Context:
    state: LinearState
    user_id: str


# ----------------------------------------------------------------------------- connections
def _cursor(key: str, rid: str) -> str:
    return base64.urlsafe_b64encode(f"{key}|{rid}".encode()).decode()


def _uncursor(cursor: str) -> tuple[str, str]:
    try:
        key, rid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
    except (ValueError, UnicodeDecodeError):
        raise invalid(f"Argument Validation Error: invalid cursor {cursor!r}") from None
    return key, rid


def _order(args: dict[str, Any]) -> tuple[str, bool]:
    """The field and direction of a listing: ``sort: [{updatedAt: {order: Ascending}}]`` (Linear's
    sort input) wins over ``orderBy`` (newest first)."""
    for entry in args.get("sort") or []:
        for name in ("updatedAt", "createdAt"):
            if isinstance(entry, dict) and isinstance(entry.get(name), dict):
                return name, entry[name].get("order") != "Ascending"
    return ("updatedAt" if args.get("orderBy") == "updatedAt" else "createdAt"), True


def connection(items: list[Record], args: dict[str, Any], ranked_by: str | None = None) -> Record:
    """One page of ``items`` in the listing's order (or by their ``ranked_by`` key, highest first), after
    ``after``, ``first`` long."""
    order, descending = (ranked_by, True) if ranked_by else _order(args)
    first = args.get("first")
    if first is not None and not 0 <= first <= MAX_FIRST:
        raise invalid(f"Argument Validation Error: first must be between 0 and {MAX_FIRST}")
    ranked = sorted(items, key=lambda r: (r[order], r["id"]), reverse=descending)

    def beyond(r: Record, mark: tuple[str, str]) -> bool:
        return (r[order], r["id"]) < mark if descending else (r[order], r["id"]) > mark

    if args.get("after"):
        mark = _uncursor(args["after"])
        ranked = [r for r in ranked if beyond(r, mark)]
    if args.get("before"):
        mark = _uncursor(args["before"])
        ranked = [r for r in ranked if not beyond(r, mark) and (r[order], r["id"]) != mark]
    size = DEFAULT_FIRST if first is None else first
    if args.get("last") is not None and first is None:
        page = ranked[max(0, len(ranked) - args["last"]):]
        more_after, more_before = False, len(ranked) > len(page)
    else:
        page = ranked[:size]
        more_after, more_before = len(ranked) > len(page), bool(args.get("after"))
    edges = [{"node": r, "cursor": _cursor(r[order], r["id"])} for r in page]
    return {"nodes": page, "edges": edges, "pageInfo": {
        "hasNextPage": more_after, "hasPreviousPage": more_before,
        "startCursor": edges[0]["cursor"] if edges else None, "endCursor": edges[-1]["cursor"] if edges else None}}


# ----------------------------------------------------------------------------- filters
def _compare(value: Any, op: str, want: Any) -> bool:
    if op == "null":
        return (value is None) == bool(want)
    if op in ("eq", "neq"):
        return (value == want) == (op == "eq")
    if op in ("in", "nin"):
        return (value in (want or [])) == (op == "in")
    if value is None:
        return False
    if op in ("lt", "lte", "gt", "gte"):
        return {"lt": value < want, "lte": value <= want, "gt": value > want, "gte": value >= want}[op]
    text, needle = str(value), str(want)
    if op.endswith("IgnoreCase"):
        text, needle, op = text.lower(), needle.lower(), op[:-len("IgnoreCase")]
    return {"contains": needle in text, "startsWith": text.startswith(needle), "endsWith": text.endswith(needle),
            "notContains": needle not in text}.get(op, True)


COMPARATORS = {"eq", "neq", "in", "nin", "lt", "lte", "gt", "gte", "null", "contains", "containsIgnoreCase",
               "startsWith", "startsWithIgnoreCase", "endsWith", "notContains", "notContainsIgnoreCase",
               "eqIgnoreCase", "neqIgnoreCase"}


def matches(view: Callable[[str], Any], flt: dict[str, Any] | None) -> bool:
    """Does the record seen through ``view`` (field name -> value or a nested view) pass ``flt``?"""
    for key, want in (flt or {}).items():
        if want is None:
            continue
        if key == "and":
            if not all(matches(view, f) for f in want):
                return False
        elif key == "or":
            if not any(matches(view, f) for f in want):
                return False
        elif key in COMPARATORS:
            if not _compare(view(""), key, want):
                return False
        else:
            value = view(key)
            if key in ("some", "every") or isinstance(value, list):
                views = value if isinstance(value, list) else []
                sub = want.get("some") or want.get("every") or want if isinstance(want, dict) else want
                if not any(matches(v, sub) for v in views) and not (not views and key == "every"):
                    return False
            elif callable(value):
                if not matches(value, want):
                    return False
            elif not matches(_constant(value), want):
                return False
    return True


def _constant(value: Any) -> Callable[[str], Any]:
    return lambda _key: value


def record_view(state: LinearState, kind: str, record: Record | None) -> Callable[[str], Any]:
    """Field access for filters: scalars by name, relations as nested views."""
    relations = {"team": ("teamId", "Team"), "state": ("stateId", "WorkflowState"),
                 "assignee": ("assigneeId", "User"), "creator": ("creatorId", "User"), "user": ("userId", "User"),
                 "issue": ("issueId", "Issue")}

    def view(name: str) -> Any:
        if record is None:
            return None
        if name == "labels":
            return [record_view(state, "IssueLabel", state.labels.get(x)) for x in record.get("labelIds", [])]
        if name in relations and relations[name][0] in record:
            key, target = relations[name]
            return record_view(state, target, _table(state, target).get(record[key] or ""))
        return record.get(name)
    return view


def _table(state: LinearState, kind: str) -> dict[str, Record]:
    return {"Team": state.teams, "WorkflowState": state.states, "User": state.users, "Issue": state.issues,
            "IssueLabel": state.labels, "Comment": state.comments, "Webhook": state.webhooks}[kind]


def listing(ctx: Context, kind: str, args: dict[str, Any], scope: Callable[[Record], bool] = lambda r: True) -> Record:
    state = ctx.state
    with state.lock:
        rows = [r for r in _table(state, kind).values() if scope(r)
                and (args.get("includeArchived") or not r.get("archivedAt"))
                and matches(record_view(state, kind, r), args.get("filter"))]
        return connection(rows, args)


def _one(kind: str) -> Callable[..., Record]:
    def get(ctx: Context, _src: Any, id: str) -> Record:
        if kind == "Issue":
            return ctx.state.issue(id)
        found = _table(ctx.state, kind).get(id)
        if found is None or (kind == "Team" and not ctx.state.sees_team(ctx.user_id, found)):
            raise not_found(kind)
        return found
    return get


def _teams(ctx: Context, _src: Any, **args: Any) -> Record:
    """The teams the caller can see: every public team, and the private ones it is a member of."""
    return listing(ctx, "Team", args, lambda r: ctx.state.sees_team(ctx.user_id, r))


def _many(kind: str) -> Callable[..., Record]:
    return lambda ctx, _src, **args: listing(ctx, kind, args)


def _ref(kind: str, key: str) -> Callable[..., Record | None]:
    return lambda ctx, src, **_a: _table(ctx.state, kind).get(src.get(key) or "")


def _children(kind: str, key: str) -> Callable[..., Record]:
    return lambda ctx, src, **args: listing(ctx, kind, args, lambda r: r.get(key) == src["id"])


def search_issues(ctx: Context, _src: Any, term: str, **args: Any) -> Record:
    """``searchIssues``: issues where every word of ``term`` is in the title, the identifier, the
    description (or, with ``includeComments``, a comment), ranked by relevance — title and identifier
    hits over description ones, the ``teamId`` team's issues boosted, newer first on a tie — unless
    ``orderBy`` is given; ``filter`` and ``includeArchived`` as in ``issues``. Linear's search is
    full text and vector; the simulator's is words (FACTS §3.2)."""
    words = term.lower().split()
    if not words:
        raise invalid("Argument Validation Error: term should not be empty")
    state = ctx.state
    with state.lock:
        found: list[Record] = []
        for issue in state.issues.values():
            if issue.get("trashed") or (issue.get("archivedAt") and not args.get("includeArchived")) \
                    or not matches(record_view(state, "Issue", issue), args.get("filter")):
                continue
            title, ident = str(issue.get("title") or "").lower(), str(issue.get("identifier") or "").lower()
            body = str(issue.get("description") or "").lower()
            if args.get("includeComments"):
                body += "\n" + "\n".join(str(c.get("body") or "").lower() for c in state.comments_of(issue["id"]))
            score = 0
            for word in words:
                hit = 5 if word == ident else 3 if word in title else 1 if word in body else 0
                if not hit:
                    break
                score += hit
            else:
                boost = 1000 if args.get("teamId") and issue.get("teamId") == args["teamId"] else 0
                found.append({**issue, "_rank": f"{score + boost:08d}|{issue['updatedAt']}"})
        page = connection(found, args, None if args.get("orderBy") else "_rank")
        return {**page, "totalCount": float(len(found))}


# ----------------------------------------------------------------------------- mutations
def _payload(name: str, record: Record, state: LinearState) -> Record:
    return {"success": True, name: record, "lastSyncId": float(len(state.issues) + len(state.comments))}


def issue_create(ctx: Context, _src: Any, input: Record) -> Record:
    return _payload("issue", ctx.state.create_issue(input, ctx.user_id), ctx.state)


def issue_update(ctx: Context, _src: Any, id: str, input: Record) -> Record:
    return _payload("issue", ctx.state.update_issue(id, input, ctx.user_id), ctx.state)


def issue_delete(ctx: Context, _src: Any, id: str, **_a: Any) -> Record:
    issue = ctx.state.delete_issue(id, ctx.user_id)
    return {"success": True, "entity": issue, "lastSyncId": 0.0}


def comment_create(ctx: Context, _src: Any, input: Record) -> Record:
    return _payload("comment", ctx.state.create_comment(input, ctx.user_id), ctx.state)


def label_create(ctx: Context, _src: Any, input: Record, **_a: Any) -> Record:
    return _payload("issueLabel", ctx.state.create_label(input), ctx.state)


def webhook_create(ctx: Context, _src: Any, input: Record) -> Record:
    return _payload("webhook", ctx.state.create_webhook(input, ctx.user_id), ctx.state)


RESOLVERS: dict[tuple[str, str], Callable[..., Any]] = {
    ("Query", "issues"): _many("Issue"), ("Query", "issue"): _one("Issue"), ("Query", "searchIssues"): search_issues,
    ("Query", "comments"): _many("Comment"), ("Query", "comment"): lambda ctx, s, id=None, **a: _one("Comment")(
        ctx, s, id),
    ("Query", "teams"): _teams, ("Query", "team"): _one("Team"),
    ("Query", "users"): _many("User"), ("Query", "user"): _one("User"),
    ("Query", "workflowStates"): _many("WorkflowState"), ("Query", "workflowState"): _one("WorkflowState"),
    ("Query", "issueLabels"): _many("IssueLabel"), ("Query", "issueLabel"): _one("IssueLabel"),
    ("Query", "webhooks"): _many("Webhook"), ("Query", "webhook"): _one("Webhook"),
    ("Query", "viewer"): lambda ctx, _s, **a: ctx.state.users[ctx.user_id],
    ("Query", "organization"): lambda ctx, _s, **a: ctx.state.org,
    ("Mutation", "issueCreate"): issue_create, ("Mutation", "issueUpdate"): issue_update,
    ("Mutation", "issueDelete"): issue_delete, ("Mutation", "commentCreate"): comment_create,
    ("Mutation", "webhookCreate"): webhook_create, ("Mutation", "issueLabelCreate"): label_create,
    ("Issue", "team"): _ref("Team", "teamId"), ("Issue", "state"): _ref("WorkflowState", "stateId"),
    ("Issue", "assignee"): _ref("User", "assigneeId"), ("Issue", "creator"): _ref("User", "creatorId"),
    ("Issue", "labels"): lambda ctx, src, **args: listing(ctx, "IssueLabel", args,
                                                          lambda r: r["id"] in src["labelIds"]),
    ("Issue", "comments"): _children("Comment", "issueId"),
    ("Issue", "organization"): lambda ctx, _s, **a: ctx.state.org,
    ("Comment", "issue"): _ref("Issue", "issueId"), ("Comment", "user"): _ref("User", "userId"),
    ("Team", "states"): _children("WorkflowState", "teamId"), ("Team", "issues"): _children("Issue", "teamId"),
    ("Team", "labels"): _children("IssueLabel", "teamId"),
    ("Team", "members"): lambda ctx, _s, **args: listing(ctx, "User", args),
    ("Team", "organization"): lambda ctx, _s, **a: ctx.state.org,
    ("WorkflowState", "team"): _ref("Team", "teamId"), ("IssueLabel", "team"): _ref("Team", "teamId"),
    ("User", "assignedIssues"): _children("Issue", "assigneeId"),
    ("User", "organization"): lambda ctx, _s, **a: ctx.state.org,
    ("Webhook", "team"): _ref("Team", "teamId"), ("Webhook", "creator"): _ref("User", "creatorId"),
}

RESOLVERS |= {("IssueSearchResult", field): fn for (kind, field), fn in list(RESOLVERS.items()) if kind == "Issue"}


def empty(gtype: Any, source: Any) -> Any:
    """The value of a field nothing models: None where it may be null, else the type's empty value."""
    if not isinstance(gtype, GraphQLNonNull):
        return None
    inner = gtype.of_type
    if isinstance(inner, GraphQLList):
        return []
    if isinstance(inner, GraphQLEnumType):
        return next(iter(inner.values))
    if isinstance(inner, GraphQLScalarType):
        if inner.name == "DateTime" and isinstance(source, dict) and source.get("createdAt"):
            return source["createdAt"]
        return EMPTY.get(inner.name, "")
    if isinstance(inner, GraphQLObjectType) and inner.name.endswith("Connection"):
        return connection([], {})
    return {}


def resolve(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """The field resolver of every field of Linear's schema (see the module's docstring)."""
    fn = RESOLVERS.get((info.parent_type.name, info.field_name))
    if fn is not None:
        found = fn(info.context, source, **args)
        return empty(info.return_type, source) if found is None else found
    if isinstance(source, dict) and info.field_name in source and source[info.field_name] is not None:
        return source[info.field_name]
    return empty(info.return_type, source)
