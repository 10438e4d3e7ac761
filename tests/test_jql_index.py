"""JQL index: the same answers as `jql.search`, kept per snapshot, stale after any change to the state."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deskhand.sim.jira import JiraSimServer, RateLimits, start
from deskhand.sim.jira_adf import text_to_adf
from deskhand.sim.jira_seed import seed_issues
from deskhand.sim.jira_state import DEFAULT_EMAIL, DEFAULT_TOKEN, JiraState, User
from deskhand.sim.jql import Context, parse, search
from deskhand.sim.jql_index import Index
from tests.test_jql import CASES, CTX, ISSUES

SEED_NOW = 1_760_000_000.0
NOW = datetime.fromtimestamp(SEED_NOW, UTC)


@pytest.mark.parametrize("jql", [jql for jql, _ in CASES.values()], ids=CASES.keys())
def test_index_answers_every_jql_case_like_the_plain_evaluator(jql: str) -> None:
    index = Index(ISSUES, lambda i: i)
    query = parse(jql)
    expected = search(query, ISSUES, lambda i: i, CTX)
    assert index.search(query, CTX) == expected
    assert index.search(query, CTX) == expected  # second time from the kept result


@pytest.fixture(scope="module")
def seeded() -> JiraState:
    state = JiraState.default()
    state.add_user(User("557058:second-agent", "Second Agent", "second@deskhand.test"))
    seed_issues(state, 400, random.Random(7), now=SEED_NOW)
    return state


def _random_clause(rng: random.Random) -> str:
    day = (NOW - timedelta(days=rng.uniform(0, 95))).strftime("%Y-%m-%d %H:%M")
    return rng.choice([
        "project = SUP", "project != SUP", f'status = "{rng.choice(["Open", "In Progress", "Resolved", "Closed"])}"',
        "statusCategory in (done, new)", f"labels = {rng.choice(['billing', 'login', 'urgent', 'nope'])}",
        "labels is EMPTY", f"priority in ({rng.choice(['High', 'Low'])}, Medium)", "assignee is not EMPTY",
        "assignee = currentUser()", f'updated >= "{day}"', f'updated < "{day}"', f'created > "{day}"',
        f"created <= -{rng.randint(1, 90)}d", f"updated > -{rng.randint(1, 2000)}h", "resolved is EMPTY",
        f"key > SUP-{rng.randint(1, 400)}", f"id <= {10001 + rng.randint(0, 400)}", 'text ~ "password"',
        "summary ~ refund*", f"updated = \"{day}\"", f"created != \"{day}\"",
    ])


def _random_jql(rng: random.Random, depth: int = 0) -> str:
    if depth > 1 or rng.random() < 0.4:
        return _random_clause(rng)
    left, right = _random_jql(rng, depth + 1), _random_jql(rng, depth + 1)
    shape = rng.choice(["{} AND {}", "{} OR {}", "NOT ({}) AND {}", "({} OR {}) AND project = SUP"])
    return shape.format(left, right)


ORDERS = ["", " ORDER BY updated ASC", " ORDER BY created DESC", " ORDER BY key", " ORDER BY priority, updated DESC",
          " ORDER BY status DESC, key DESC", " ORDER BY resolved"]


@pytest.mark.parametrize("seed", range(6))
def test_random_queries_over_seeded_issues_match_the_plain_evaluator(seeded: JiraState, seed: int) -> None:
    rng = random.Random(seed)
    ctx = Context(now=NOW, current_user=next(iter(seeded.users)))
    for _ in range(40):
        query = parse(_random_jql(rng) + rng.choice(ORDERS))
        expected = search(query, list(seeded.issues.values()), seeded._build_facts, ctx)
        assert [i.key for i in seeded.search(query, ctx)] == [i.key for i in expected], query


def _first(state: JiraState) -> Any:
    return next(iter(state.issues.values()))


CHANGES: dict[str, Callable[[JiraState], None]] = {
    "comment_added": lambda s: s.add_comment(_first(s), author=next(iter(s.users)), body=text_to_adf("password"),
                                             now=NOW + timedelta(days=5)),
    "change_recorded": lambda s: s.record_change(_first(s), next(iter(s.users)), NOW + timedelta(days=6), []),
    "status_set_directly": lambda s: setattr(_first(s), "status", "6"),
    "updated_set_directly": lambda s: setattr(_first(s), "updated", NOW + timedelta(days=9)),
    "label_appended_in_place": lambda s: _first(s).labels.append("billing"),
    "labels_cleared_in_place": lambda s: _first(s).labels.clear(),
    "issue_deleted": lambda s: s.issues.pop(_first(s).id),
    "issue_created": lambda s: s.create_issue(s.projects["SUP"], summary="new password", issuetype=("10001", "Task"),
                                              reporter=next(iter(s.users)), now=NOW),
    "reporter_renamed": lambda s: setattr(s.users[_first(s).reporter], "display_name", "Zed Renamed"),
    "comment_body_edited": lambda s: setattr(
        next(i for i in s.issues.values() if i.comments).comments[0], "body", text_to_adf("billing password")),
}
WATCH = ['project = SUP AND updated >= "2020-01-01" ORDER BY updated ASC', "status = Closed ORDER BY key",
         "labels = billing", 'reporter = "Zed Renamed"', 'text ~ "password" ORDER BY key', "comment ~ billing"]


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_search_sees_every_kind_of_change_made_after_it_was_cached(change: Callable[[JiraState], None]) -> None:
    state = JiraState.default()
    seed_issues(state, 60, random.Random(3), now=SEED_NOW)
    ctx = Context(now=NOW, current_user=None)
    queries = [parse(jql) for jql in WATCH]
    for query in queries:
        state.search(query, ctx)  # warm every cache
    change(state)
    for query in queries:
        expected = search(query, list(state.issues.values()), state._build_facts, ctx)
        assert [i.key for i in state.search(query, ctx)] == [i.key for i in expected], query


def test_sync_shaped_queries_scan_no_issue_after_the_first(seeded: JiraState) -> None:
    ctx = Context(now=NOW)
    index = seeded.index()
    scans = index.stats["clause_scans"]
    for hours in range(0, 24 * 90, 24):
        since = (NOW - timedelta(days=91) + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M")
        seeded.search(parse(f'project = SUP AND updated >= "{since}" ORDER BY updated ASC'), ctx)
    assert seeded.index() is index  # nothing changed: the same snapshot
    assert index.stats["clause_scans"] - scans <= 1  # `project = SUP` once; `updated >=` is a bisect


@pytest.fixture()
def sim() -> Iterator[tuple[JiraSimServer, httpx.Client]]:
    server = start(rate_limits=RateLimits.off())
    seed_issues(server.state, 1200, random.Random(11), now=time.time())
    with httpx.Client(base_url=f"{server.url}/rest/api/3", auth=(DEFAULT_EMAIL, DEFAULT_TOKEN)) as client:
        yield server, client
    server.stop()


def _pages(client: httpx.Client, jql: str, size: int) -> list[str]:
    keys: list[str] = []
    token = None
    while True:
        body = {"jql": jql, "fields": ["updated"], "maxResults": size, **({"nextPageToken": token} if token else {})}
        page = client.post("/search/jql", json=body).raise_for_status().json()
        keys += [i["key"] for i in page["issues"]]
        if page["isLast"]:
            return keys
        token = page["nextPageToken"]


def test_paging_over_http_evaluates_the_query_once(sim: tuple[JiraSimServer, httpx.Client]) -> None:
    server, client = sim
    jql = 'project = SUP AND updated >= "2000-01-01 00:00" ORDER BY updated ASC'
    keys = _pages(client, jql, 100)
    state = server.state
    expected = search(parse(jql), list(state.issues.values()), state._build_facts, Context(now=server.sim.now()))
    assert keys == [i.key for i in expected]
    stats = state.index().stats
    assert (stats["searches"], stats["result_hits"]) == (12, 11)


def test_a_write_between_pages_is_seen_by_the_next_page(sim: tuple[JiraSimServer, httpx.Client]) -> None:
    server, client = sim
    jql = "project = SUP ORDER BY updated DESC"
    first = client.post("/search/jql", json={"jql": jql, "fields": ["updated"], "maxResults": 5}).json()
    oldest = min(server.state.issues.values(), key=lambda i: i.updated)
    client.post(f"/issue/{oldest.key}/comment", json={"body": text_to_adf("bump")}).raise_for_status()
    again = client.post("/search/jql", json={"jql": jql, "fields": ["updated"], "maxResults": 5}).json()
    assert again["issues"][0]["key"] == oldest.key != first["issues"][0]["key"]
