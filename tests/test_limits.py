"""deskhand.limits: shared budgets (real SQLite), lanes, Retry-After, reasons mapped to scopes by the
definition, record budgets keyed by the call's record argument, deferral."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from deskhand.limits import (
    BACKFILL,
    INTERACTIVE,
    WRITE,
    BudgetBook,
    BudgetLimiter,
    BudgetWait,
    read_headers,
    using_lane,
)
from deskhand.limits.limiter import endpoint_of
from deskhand.providers import load_definition
from deskhand.providers.client import _CALL, _REQUEST
from deskhand.providers.definition import LimitsSpec
from deskhand.queue import SqlQueue
from deskhand.settings import Settings
from deskhand.sim.base import ManualClock
from deskhand.store import Store
from deskhand.store.db import open_engine

ZENDESK = load_definition("zendesk").limits
JIRA = load_definition("jira").limits
KEY = "zendesk:acme"


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    eng = open_engine(f"sqlite:///{tmp_path / 'limits.db'}")
    yield eng
    eng.dispose()


def limiter(engine, clock: ManualClock, spec: LimitsSpec = ZENDESK, account: str = "acme", provider: str = "zendesk",
            **kw):  # type: ignore[no-untyped-def]
    def sleep(s: float) -> None:
        clock.advance(s)

    return BudgetLimiter(BudgetBook(engine), provider, account, spec, clock=clock, sleep=sleep, **kw)


def send(lim: BudgetLimiter, method: str, url: str, headers: dict[str, str] | None = None, *,
         endpoint: str | None = None, record: str | None = None) -> None:
    """One request through the limiter, as ProviderHTTP sends it (the call's declared endpoint and record)."""
    token, call = _REQUEST.set((method, url)), _CALL.set((endpoint, record))
    try:
        lim.before_request()
        lim.observe(headers or {})
    finally:
        _REQUEST.reset(token)
        _CALL.reset(call)


def zendesk_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"x-rate-limit": str(limit), "x-rate-limit-remaining": str(remaining), "ratelimit-reset": str(reset)}


def test_an_unknown_budget_lets_the_first_request_go(engine) -> None:  # type: ignore[no-untyped-def]
    verdict = BudgetBook(engine).acquire(KEY, BACKFILL, 1000.0)
    assert verdict.go and verdict.reason == "no budget known yet"


@pytest.mark.parametrize(
    ("lane", "remaining", "go"),
    [(BACKFILL, 6, True), (BACKFILL, 5, False), (INTERACTIVE, 5, True), (INTERACTIVE, 2, False), (WRITE, 1, True),
     (WRITE, 0, False)],
    ids=["backfill-above-floor", "backfill-at-5pct", "interactive-under-backfill-floor", "interactive-at-2pct",
         "write-takes-the-last", "write-at-zero"],
)
def test_lanes_leave_a_reserve_for_the_lanes_before_them(engine, lane: str, remaining: int, go: bool) -> None:  # type: ignore[no-untyped-def]
    book = BudgetBook(engine)
    book.observe(KEY, 100, remaining, 30, sent_at=1000.0, now=1000.0, window_s=60)
    verdict = book.acquire(KEY, lane, 1001.0)
    assert verdict.go is go
    if not go:
        assert 28 <= verdict.wait_s <= 30 and "floor" in verdict.reason


def test_the_provider_can_only_lower_our_count_within_a_window_and_reset_tightens(engine) -> None:  # type: ignore[no-untyped-def]
    book = BudgetBook(engine)
    book.observe(KEY, 100, 50, 30, sent_at=1000.0, now=1000.0, window_s=60)
    book.observe(KEY, 100, 70, 29, sent_at=1000.0, now=1000.2, window_s=60)  # older view: ignored
    book.observe(KEY, 100, 40, 29, sent_at=1000.5, now=1000.6, window_s=60)
    row = book.get(KEY)
    assert row is not None and row["remaining"] == 40 and row["reset_at"] == pytest.approx(1029.2)


def test_under_ten_percent_reads_are_paced_to_the_window_end(engine) -> None:  # type: ignore[no-untyped-def]
    book = BudgetBook(engine)
    book.observe(KEY, 100, 10, 20, sent_at=1000.0, now=1000.0, window_s=60)
    assert book.acquire(KEY, INTERACTIVE, 1001.0).go  # 9 left: now paced
    second = book.acquire(KEY, INTERACTIVE, 1001.0)
    assert not second.go and second.reason.startswith("pacing") and 2.0 < second.wait_s < 4.0
    assert book.acquire(KEY, WRITE, 1001.0).go  # writes are never paced


def test_a_fresh_window_refills_the_budget_atomically(engine) -> None:  # type: ignore[no-untyped-def]
    book = BudgetBook(engine)
    book.observe(KEY, 10, 0, 5, sent_at=1000.0, now=1000.0, window_s=5)
    assert not book.acquire(KEY, WRITE, 1004.0).go
    verdict = book.acquire(KEY, BACKFILL, 1005.1)
    assert verdict.go and verdict.remaining == 9


def test_budgets_are_shared_by_every_process_on_the_store_without_overspending(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engines = [open_engine(url) for _ in range(4)]
    BudgetBook(engines[0]).observe(KEY, 1000, 60, 600, sent_at=1000.0, now=1000.0, window_s=600)
    granted: list[int] = []
    lock = threading.Lock()

    def spend(engine) -> None:  # type: ignore[no-untyped-def]
        book = BudgetBook(engine)
        for _ in range(40):
            if book.acquire(KEY, WRITE, 1001.0).go:
                with lock:
                    granted.append(1)

    threads = [threading.Thread(target=spend, args=(e,)) for e in engines]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(granted) == 60  # 160 attempts, exactly the 60 the provider allowed
    for e in engines:
        e.dispose()


def test_retry_after_blocks_the_budget_and_is_always_obeyed(engine) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(1000.0)
    with pytest.raises(BudgetWait):  # a worker (5 s patience) defers instead of sleeping 7 s
        lim = limiter(engine, clock)
        send(lim, "GET", "http://z/api/v2/tickets.json", {**zendesk_headers(700, 0, 40), "retry-after": "7"})
        send(lim, "PUT", "http://z/api/v2/tickets/1.json")
    lim = limiter(engine, clock, max_sleep_s={WRITE: 60.0, INTERACTIVE: 60.0, BACKFILL: 60.0})
    start = clock()
    send(lim, "PUT", "http://z/api/v2/tickets/1.json", zendesk_headers(700, 699, 60))
    assert clock() - start == pytest.approx(7.0, abs=0.01)  # even a write waits for Retry-After
    assert lim.stats["waits"] >= 1


def test_an_exhausted_hourly_quota_raises_budget_wait_to_defer_not_park(engine) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(1_767_225_600.0 + 1200)  # 20 minutes into an hour
    lim = limiter(engine, clock, JIRA, provider="jira")
    quota = {"retry-after": "2400", "x-ratelimit-reset": "2026-01-01T01:00:00Z",
             "ratelimit-reason": "jira-quota-tenant-based", "x-ratelimit-limit": "65000", "x-ratelimit-remaining": "0"}
    send(lim, "GET", "http://j/rest/api/3/issue/SUP-1", quota)
    with pytest.raises(BudgetWait) as caught:
        send(lim, "POST", "http://j/rest/api/3/search/jql")  # another endpoint: the quota is account-wide
    assert caught.value.retry_after == pytest.approx(2400, abs=1)
    assert "quota exhausted (jira-quota-tenant-based)" in (caught.value.reason or "")
    assert clock() == 1_767_225_600.0 + 1200  # nobody slept


def test_a_burst_limit_backs_off_that_endpoint_briefly(engine) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(1000.0)
    lim = limiter(engine, clock, JIRA, provider="jira")
    burst = {"retry-after": "1", "ratelimit-reason": "jira-burst-based", "x-ratelimit-limit": "100",
             "x-ratelimit-remaining": "0"}
    send(lim, "GET", "http://j/rest/api/3/issue/SUP-1", burst)
    start = clock()
    send(lim, "POST", "http://j/rest/api/3/search/jql")
    assert clock() - start < 0.1  # other endpoints are not held back
    send(lim, "GET", "http://j/rest/api/3/issue/SUP-2")
    assert 0.9 < clock() - start < 1.2


def test_a_per_issue_write_limit_spaces_writes_to_that_issue_only(engine) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(1000.0)
    lim = limiter(engine, clock, JIRA, provider="jira")
    per_issue = {"retry-after": "2", "ratelimit-reason": "jira-per-issue-on-write"}
    send(lim, "POST", "http://j/rest/api/3/issue/SUP-1/comment", per_issue, record="SUP-1")
    start = clock()
    send(lim, "PUT", "http://j/rest/api/3/issue/SUP-2", record="SUP-2")
    assert clock() - start < 0.2
    send(lim, "POST", "http://j/rest/api/3/issue/SUP-1/transitions", record="SUP-1")  # another path, same issue
    assert clock() - start >= 1.8


def test_static_per_record_limits_space_bursts_of_writes(engine) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(1000.0)
    lim = limiter(engine, clock, JIRA, provider="jira")
    for _ in range(25):
        send(lim, "POST", "http://j/rest/api/3/issue/SUP-9/comment", record="SUP-9")
    assert clock() - 1000.0 >= 2.0  # 20 writes per 2 s on one issue


def test_a_record_budget_is_keyed_by_the_record_argument_not_the_url(engine) -> None:  # type: ignore[no-untyped-def]
    """Zendesk: 30 updates per 10 minutes per ticket, whichever path (/tickets/7, /tickets/7.json,
    /tickets/7/tags.json) the write takes; a POST /graphql names its record only in its arguments."""
    clock = ManualClock(1000.0)
    lim = limiter(engine, clock, max_sleep_s={WRITE: 1.0, INTERACTIVE: 1.0, BACKFILL: 1.0})
    paths = ["/tickets/7", "/tickets/7.json", "/tickets/7/tags.json"]
    for i in range(30):
        send(lim, "PUT", f"http://z/api/v2{paths[i % 3]}", endpoint=f"PUT {paths[i % 3]}", record="7")
    with pytest.raises(BudgetWait) as caught:
        send(lim, "POST", "http://z/graphql", endpoint="POST /graphql", record="7")
    assert 590 <= caught.value.retry_after <= 601
    send(lim, "PUT", "http://z/api/v2/tickets/8.json", record="8")  # another ticket: its own budget
    assert clock() == 1000.0


@pytest.mark.parametrize(
    ("method", "url", "endpoint"),
    [("GET", "http://j/rest/api/3/issue/SUP-1/comment", "GET /rest/api/3/issue/{}/comment"),
     ("PUT", "http://z/api/v2/tickets/12.json", "PUT /api/v2/tickets/{}"),
     ("GET", "http://z/api/v2/users.json", "GET /api/v2/users.json")],
    ids=["jira-issue", "zendesk-ticket", "no-id"],
)
def test_an_undeclared_endpoint_is_named_from_the_url(method: str, url: str, endpoint: str) -> None:
    assert endpoint_of(method, url) == endpoint


def test_headers_are_read_through_the_definition() -> None:
    r = read_headers(ZENDESK, zendesk_headers(700, 12, 41), 0.0)
    requests = r.budgets["requests"]
    assert (requests.limit, requests.remaining, requests.reset_s) == (700, 12, 41)
    assert r.retry_after is None
    iso = read_headers(JIRA, {"x-ratelimit-reset": "1970-01-01T00:01:40Z", "retry-after": "5"}, 40.0)
    assert iso.budgets["burst"].reset_s == 60.0 and iso.retry_after == 5.0


def test_the_worker_defers_a_job_the_budget_holds_back_without_counting_an_attempt(tmp_path: Path) -> None:
    from deskhand.responder import worker as worker_module
    from deskhand.runtime import Runtime

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'q.db'}", secret_key=Fernet.generate_key().decode())
    rt = Runtime(Store.open(settings), settings)
    rt.queue = SqlQueue(rt.store.engine, clock=lambda: 5000.0)
    verdict = BudgetBook(rt.store.engine).acquire("none", WRITE, 0.0)
    held = verdict.__class__(1800.0, "hourly quota exhausted (jira-quota-global-based)", "jira:x", INTERACTIVE)

    def hold(_rt: Runtime, _job: object) -> None:
        raise BudgetWait(held)

    worker_module.HANDLERS["test_budget_hold"] = hold
    try:
        rt.queue.enqueue(None, "test_budget_hold", {})
        assert worker_module.Worker(rt, name="w").run_once()
    finally:
        del worker_module.HANDLERS["test_budget_hold"]
    from sqlalchemy import select

    from deskhand.store.schema import jobs

    with rt.store.engine.connect() as c:
        job = c.execute(select(jobs)).one()
    assert (job.status, job.attempts, job.run_at) == ("queued", 0, 6800.0)
    assert "hourly quota" in job.last_error
    rt.close()


def test_sync_reads_use_the_backfill_lane() -> None:
    from deskhand.limits import current_lane

    assert current_lane("GET") == INTERACTIVE
    with using_lane(BACKFILL):
        assert current_lane("GET") == BACKFILL
        assert current_lane("PUT") == WRITE


# -- the upcoming providers' limits, said as data: headers in -> wait out -------------------------------------
def _spec(text: str) -> LimitsSpec:
    import yaml

    return LimitsSpec.model_validate(yaml.safe_load(text))


LINEAR = _spec("""
window_s: 3600
retry_after: null
budgets:
  requests: {limit: x-ratelimit-requests-limit, remaining: x-ratelimit-requests-remaining,
             reset: x-ratelimit-requests-reset, reset_unit: epoch_ms}
  complexity: {limit: x-ratelimit-complexity-limit, remaining: x-ratelimit-complexity-remaining,
               reset: x-ratelimit-complexity-reset, reset_unit: epoch_ms}
""")
FRONT = _spec("""
budgets: {requests: {limit: x-ratelimit-limit, remaining: x-ratelimit-remaining, reset: x-ratelimit-reset,
                     reset_unit: epoch_s}}
""")
SERVICENOW = _spec("""
window_s: 3600
budgets: {requests: {limit: x-ratelimit-limit, reset: x-ratelimit-reset, reset_unit: epoch_s}}
""")
FRESHDESK = _spec("""
budgets: {requests: {limit: x-ratelimit-total, remaining: x-ratelimit-remaining, cost: x-ratelimit-used-currentrequest}}
""")
TRELLO = _spec("""
window_s: 10
retry_after: null
budgets:
  api_key: {limit: x-rate-limit-api-key-max, remaining: x-rate-limit-api-key-remaining,
            window: x-rate-limit-api-key-interval-ms, window_unit: ms, default_limit: 300}
  api_token: {limit: x-rate-limit-api-token-max, remaining: x-rate-limit-api-token-remaining,
              window: x-rate-limit-api-token-interval-ms, window_unit: ms, default_limit: 100}
""")
T0 = 1_767_225_600.0


@pytest.mark.parametrize(
    ("spec", "answers", "wait"),
    [
        (LINEAR, [{"x-ratelimit-requests-limit": "5000", "x-ratelimit-requests-remaining": "0",
                   "x-ratelimit-requests-reset": str(int((T0 + 30) * 1000)), "x-ratelimit-complexity-limit": "3000000",
                   "x-ratelimit-complexity-remaining": "2000000",
                   "x-ratelimit-complexity-reset": str(int((T0 + 5) * 1000))}], 30.0),
        (LINEAR, [{"x-ratelimit-requests-limit": "5000", "x-ratelimit-requests-remaining": "4000",
                   "x-ratelimit-requests-reset": str(int((T0 + 30) * 1000)), "x-ratelimit-complexity-limit": "3000000",
                   "x-ratelimit-complexity-remaining": "0",
                   "x-ratelimit-complexity-reset": str(int((T0 + 900) * 1000))}], 900.0),
        (FRONT, [{"x-ratelimit-limit": "100", "x-ratelimit-remaining": "3", "x-ratelimit-reset": str(int(T0 + 40)),
                  "retry-after": "20"}], 20.0),
        (SERVICENOW, [{"x-ratelimit-limit": "2", "x-ratelimit-reset": str(int(T0 + 3000))}] * 2, 3000.0),
        (FRESHDESK, [{"x-ratelimit-total": "400", "x-ratelimit-remaining": "0", "x-ratelimit-used-currentrequest": "1",
                      "retry-after": "45"}], 45.0),
        (TRELLO, [{"x-rate-limit-api-key-interval-ms": "10000", "x-rate-limit-api-key-max": "300",
                   "x-rate-limit-api-key-remaining": "250", "x-rate-limit-api-token-interval-ms": "10000",
                   "x-rate-limit-api-token-max": "100", "x-rate-limit-api-token-remaining": "0"}], 10.0),
        (TRELLO, [{}] * 100, 11.0),
    ],
    ids=["linear-requests-exhausted-epoch-ms", "linear-complexity-exhausted", "front-429-retry-after",
         "servicenow-hourly-size-counted-by-us", "freshdesk-429", "trello-token-exhausted",
         "trello-100-per-10s-known-without-headers"],
)
def test_what_each_provider_says_becomes_the_wait_of_the_next_request(  # type: ignore[no-untyped-def]
    engine, spec: LimitsSpec, answers: list[dict[str, str]], wait: float
) -> None:
    clock = ManualClock(T0)
    lim = limiter(engine, clock, spec, provider="p")
    for headers in answers:
        send(lim, "POST", "http://p/api/things", headers)  # writes: never paced, so only the budget holds
    with pytest.raises(BudgetWait) as caught:
        send(lim, "POST", "http://p/api/other")
    assert caught.value.retry_after == pytest.approx(wait, abs=1.5)
    assert clock() - T0 < 1.0  # deferred, not slept (at most a first pacing slot)


def test_a_throttled_answer_without_retry_after_waits_for_the_announced_reset(engine) -> None:  # type: ignore[no-untyped-def]
    """Linear throttles with 400 RATELIMITED and no Retry-After: the client's error carries the wait
    of the budget's reset (epoch ms), so the worker defers the job to then instead of retrying blindly."""
    import httpx

    from deskhand.errors import RateLimited
    from deskhand.providers.client import ProviderHTTP

    clock = ManualClock(T0)
    lim = limiter(engine, clock, FRONT, provider="p")
    reset = {"x-ratelimit-limit": "50", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(T0 + 90))}
    http = ProviderHTTP("http://p", None, limiter=lim, sleep=clock.advance,
                        http=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(429, headers=reset))))
    with pytest.raises(RateLimited) as caught:
        http.request("GET", "/conversations")
    assert caught.value.retry_after == pytest.approx(90, abs=1.5)
    assert "requests budget exhausted" in (caught.value.reason or "")
    assert clock() == T0  # deferred, not slept


@pytest.mark.parametrize(("reset_in", "sent", "waited"), [(90.0, 1, 0.0), (3.0, 2, 3.0)],
                         ids=["long-reset-defers", "short-reset-waits-and-sends-again"])
def test_linear_throttling_waits_for_the_announced_epoch_ms_reset(  # type: ignore[no-untyped-def]
    engine, reset_in: float, sent: int, waited: float
) -> None:
    """Linear throttles with HTTP 400 + extensions.code RATELIMITED and no Retry-After (the definition's
    errors: rules make it RateLimited); the wait is its requests budget's reset, in epoch milliseconds."""
    import httpx

    from deskhand.errors import RateLimited
    from deskhand.providers.client import ProviderHTTP
    from deskhand.providers.definition import ErrorRuleSpec
    from deskhand.providers.error_rules import body_reader

    clock = ManualClock(T0)
    lim = limiter(engine, clock, LINEAR, provider="linear")
    answers: list[float] = []

    def linear(request: httpx.Request) -> httpx.Response:
        answers.append(clock())
        if len(answers) > 1:
            return httpx.Response(200, json={"data": {"viewer": {"id": "u1"}}})
        headers = {"x-ratelimit-requests-limit": "5000", "x-ratelimit-requests-remaining": "0",
                   "x-ratelimit-requests-reset": str(int((T0 + reset_in) * 1000))}
        body = {"errors": [{"message": "Rate limit exceeded", "extensions": {"code": "RATELIMITED"}}]}
        return httpx.Response(400, json=body, headers=headers)

    rules = [ErrorRuleSpec(path="errors", code="extensions.code", message="message",
                           map={"RATELIMITED": "rate_limited"})]
    http = ProviderHTTP("http://linear", None, limiter=lim, sleep=clock.advance, errors=body_reader(rules),
                        http=httpx.Client(transport=httpx.MockTransport(linear)))
    if sent == 1:
        with pytest.raises(RateLimited) as caught:
            http.request("POST", "/graphql", json={"query": "{ viewer { id } }"})
        assert caught.value.retry_after == pytest.approx(reset_in, abs=1.5)
    else:
        http.request("POST", "/graphql", json={"query": "{ viewer { id } }"})
    assert len(answers) == sent
    assert clock() - T0 == pytest.approx(waited, abs=1.5)


SHARED_KEY = _spec("""
window_s: 10
budgets:
  api_key: {default_limit: 3, shared_by: api_key}
  api_token: {default_limit: 2}
""")


def test_a_budget_shared_by_a_connection_value_is_spent_by_every_account_with_it(engine) -> None:  # type: ignore[no-untyped-def]
    """Trello: 300 requests / 10 s per app key, whichever token (account) spends them; 100 per token."""
    clock = ManualClock(T0)
    a = limiter(engine, clock, SHARED_KEY, account="a", provider="trello", values={"api_key": "k-1", "token": "ta"})
    b = limiter(engine, clock, SHARED_KEY, account="b", provider="trello", values={"api_key": "k-1", "token": "tb"})
    other = limiter(engine, clock, SHARED_KEY, account="c", provider="trello", values={"api_key": "k-2"})
    send(a, "POST", "http://t/1/cards")
    send(a, "POST", "http://t/1/cards")
    send(b, "POST", "http://t/1/cards")  # the key's third: b's token has spent one of its two
    with pytest.raises(BudgetWait) as caught:
        send(b, "POST", "http://t/1/cards")
    assert "api_key" in caught.value.verdict.key and "k-1" not in caught.value.verdict.key  # a digest, not the key
    assert caught.value.retry_after == pytest.approx(11, abs=1.5)
    send(other, "POST", "http://t/1/cards")  # another app key: its own budget
    assert clock() == T0


def test_a_budget_with_calls_is_spent_only_by_those_calls(engine) -> None:  # type: ignore[no-untyped-def]
    """Zendesk's incremental export: 10 requests a minute, apart from the account's budget."""
    spec = _spec("""
budgets:
  exports: {default_limit: 2, window_s: 60, calls: ["GET /incremental/tickets/cursor.json"]}
""")
    clock = ManualClock(T0)
    lim = limiter(engine, clock, spec)
    export = "GET /incremental/tickets/cursor.json"
    for _ in range(2):
        send(lim, "GET", "http://z/api/v2/incremental/tickets/cursor.json", endpoint=export)
    for _ in range(5):
        send(lim, "GET", "http://z/api/v2/tickets.json", endpoint="GET /tickets.json")
    with pytest.raises(BudgetWait) as caught:
        send(lim, "GET", "http://z/api/v2/incremental/tickets/cursor.json?cursor=x", endpoint=export)
    assert "exports" in caught.value.verdict.key and caught.value.retry_after == pytest.approx(61, abs=1.5)


@pytest.mark.parametrize(
    ("reason", "held", "free"),
    [("jira-quota-global-based", "http://j/rest/api/3/search/jql", None),
     ("jira-burst-based", "http://j/rest/api/3/issue/SUP-1", "http://j/rest/api/3/search/jql"),
     ("something-new", "http://j/rest/api/3/issue/SUP-1", "http://j/rest/api/3/search/jql")],
    ids=["quota-holds-the-account", "burst-holds-the-endpoint", "unlisted-reason-takes-the-default-scope"],
)
def test_a_reason_holds_the_scope_its_definition_maps_it_to(  # type: ignore[no-untyped-def]
    engine, reason: str, held: str, free: str | None
) -> None:
    clock = ManualClock(T0)
    lim = limiter(engine, clock, JIRA, provider="jira", max_sleep_s={WRITE: 60.0, INTERACTIVE: 60.0, BACKFILL: 60.0})
    send(lim, "GET", "http://j/rest/api/3/issue/SUP-1", {"retry-after": "3", "ratelimit-reason": reason})
    if free:
        send(lim, "POST", free)
        assert clock() - T0 < 0.5
    if reason.startswith("jira-quota"):
        with pytest.raises(BudgetWait):  # a quota is always deferred, even a 3-second one: workers never park
            send(lim, "GET", held)
        assert clock() == T0
    else:
        send(lim, "GET", held)
        assert clock() - T0 == pytest.approx(3.0, abs=0.5)


@pytest.mark.parametrize(("account_left", "reply_waits"), [("500", False), ("0", True)],
                         ids=["export-quota-holds-exports-only", "account-exhausted-holds-everything"])
def test_an_unexplained_throttle_with_account_room_holds_the_calls_own_budget(  # type: ignore[no-untyped-def]
    engine, account_left: str, reply_waits: bool
) -> None:
    """Zendesk answers an 11th incremental export in a minute with 429 + Retry-After while its
    X-Rate-Limit-Remaining still has room: replies must not wait for the export quota."""
    clock = ManualClock(T0)
    lim = limiter(engine, clock, ZENDESK)
    export = "GET /incremental/tickets/cursor.json"
    throttled = {**zendesk_headers(700, int(account_left), 40), "retry-after": "30"}
    send(lim, "GET", "http://z/api/v2/incremental/tickets/cursor.json", throttled, endpoint=export)
    if reply_waits:
        with pytest.raises(BudgetWait):
            send(lim, "PUT", "http://z/api/v2/tickets/1.json", endpoint="PUT /tickets/{ticket_id}.json", record="1")
    else:
        send(lim, "PUT", "http://z/api/v2/tickets/1.json", endpoint="PUT /tickets/{ticket_id}.json", record="1")
        assert clock() == T0
    with pytest.raises(BudgetWait) as caught:
        send(lim, "GET", "http://z/api/v2/incremental/tickets/cursor.json?cursor=c", endpoint=export)
    assert caught.value.retry_after == pytest.approx(30, abs=1.5)


def test_a_hold_on_a_budget_known_without_headers_keeps_its_size(engine) -> None:  # type: ignore[no-untyped-def]
    """A throttle that creates the row of a `default_limit` budget sizes it as declared: after the
    hold, 100 per 10 s again — not unbounded."""
    spec = _spec("budgets: {api_token: {default_limit: 100, window_s: 10}}")
    clock = ManualClock(T0)
    patient = {WRITE: 60.0, INTERACTIVE: 60.0, BACKFILL: 60.0}
    lim = limiter(engine, clock, spec, provider="trello", max_sleep_s=patient)
    token, call = _REQUEST.set(("GET", "http://t/1/boards")), _CALL.set((None, None))
    try:
        lim.observe({"retry-after": "10"})  # the first answer this budget ever saw: a throttle
    finally:
        _REQUEST.reset(token)
        _CALL.reset(call)
    for _ in range(101):
        send(lim, "POST", "http://t/1/cards")
    assert clock() - T0 >= 20.0  # 10 s held, then 100 in the next window, the 101st waits for another


def test_a_throttle_that_says_nothing_holds_the_account_one_window(engine) -> None:  # type: ignore[no-untyped-def]
    """Trello's 429 {"error": "API_TOKEN_LIMIT_EXCEEDED"} with no Retry-After nor budget headers:
    the next attempt waits one window (10 s) instead of hammering at a back-off of half a second."""
    import httpx

    from deskhand.providers.client import ProviderHTTP

    clock = ManualClock(T0)
    lim = limiter(engine, clock, TRELLO, provider="trello", max_sleep_s={WRITE: 30.0, INTERACTIVE: 30.0,
                                                                          BACKFILL: 30.0})
    sent: list[float] = []

    def trello(request: httpx.Request) -> httpx.Response:
        sent.append(clock())
        if len(sent) == 1:
            return httpx.Response(429, json={"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"})
        return httpx.Response(200, json={"id": "c1"})

    http = ProviderHTTP("http://trello", None, limiter=lim, sleep=clock.advance,
                        http=httpx.Client(transport=httpx.MockTransport(trello)))
    http.request("GET", "/1/cards/c1")
    assert len(sent) == 2 and sent[1] - sent[0] >= 10.0


def test_a_declared_window_without_reset_is_paced_to_its_end_with_no_extra_wait(engine) -> None:  # type: ignore[no-untyped-def]
    """Trello announces each budget's size, what is left and the window's length, never when it
    resets: its fixed windows begin at the first request after the last one ended. Backfill reads
    against the simulator's own counting (a simulated clock; 2 to 20 ms each way, one request in twenty
    stalled half a second, so a window's first request may reach the provider later than the next
    window's; and a window opened 4 s before the sync by other requests on the token) keep ≥ 90 % of
    the limit without a single 429: the request that opens the provider's window (remaining = limit -
    1) makes that window ours, so the limiter neither rolls before the provider (then waited a whole
    window more) nor keeps a window of its own beside the provider's."""
    import random

    from deskhand.sim.trello_limits import Limits

    clock = ManualClock(T0)
    spec = load_definition("trello").limits
    lim = BudgetLimiter(BudgetBook(engine), "trello", "board", spec, clock=clock, sleep=clock.advance,
                        values={"api_key": "k", "token": "t"})
    server = Limits(key_max=300, token_max=100, window_s=10.0, clock=clock)
    for _ in range(3):  # connect's checks, 4 s earlier, opened the provider's window: it is not ours
        server.spend("k", "t")
    clock.advance(4.0)
    start = clock()
    refused, waits, rnd = 0, [], random.Random(7)
    with using_lane(BACKFILL):
        for _ in range(400):
            token, call = _REQUEST.set(("GET", "http://t/1/boards/b/cards")), _CALL.set((None, None))
            try:
                before = clock()
                lim.before_request()
                waits.append(clock() - before)
                clock.advance(rnd.uniform(0.002, 0.02) + (0.5 if rnd.random() < 0.05 else 0.0))  # on the way
                error, key_left, token_left = server.spend("k", "t")
                refused += error is not None
                clock.advance(rnd.uniform(0.002, 0.02))  # the answer on its way back
                lim.observe({"x-rate-limit-api-key-interval-ms": "10000", "x-rate-limit-api-key-max": "300",
                             "x-rate-limit-api-key-remaining": str(key_left),
                             "x-rate-limit-api-token-interval-ms": "10000", "x-rate-limit-api-token-max": "100",
                             "x-rate-limit-api-token-remaining": str(token_left)})
            finally:
                _REQUEST.reset(token)
                _CALL.reset(call)
    elapsed = clock() - start
    theoretical = 400 / 100 * 10.0  # what `deskhand bench sync` calls utilisation: theoretical / elapsed
    assert refused == 0
    assert theoretical / elapsed >= 0.90, (elapsed, sorted(waits)[-5:])
    assert max(waits) < 10.0  # never a whole window more


@pytest.mark.parametrize(
    ("error", "waits", "goes"),
    [("API_KEY_LIMIT_EXCEEDED", ["a", "b"], ["c"]), ("API_TOKEN_LIMIT_EXCEEDED", ["a"], ["b", "c"])],
    ids=["the-app-keys-limit-holds-every-account-with-the-key", "a-tokens-limit-holds-that-token-only"],
)
def test_trellos_throttle_reason_is_read_from_the_body_and_holds_its_budget(  # type: ignore[no-untyped-def]
    engine, error: str, waits: list[str], goes: list[str]
) -> None:
    """Trello's 429 says why only in its body ({"error": "API_KEY_LIMIT_EXCEEDED" | "API_TOKEN_LIMIT_EXCEEDED"},
    no Retry-After): the definition's `errors:` rule reads the code and `limits.reason` (body: true)
    holds the budget it names for one window — the app key's (shared by every account with that key)
    or the token's — while accounts the reason does not name go on."""
    import httpx

    from deskhand.errors import RateLimited
    from deskhand.providers.client import ProviderHTTP
    from deskhand.providers.error_rules import body_reader

    trello = load_definition("trello")
    clock = ManualClock(T0)
    accounts = {"a": {"api_key": "k-1", "token": "ta"}, "b": {"api_key": "k-1", "token": "tb"},
                "c": {"api_key": "k-2", "token": "tc"}}
    lims = {n: limiter(engine, clock, trello.limits, account=n, provider="trello", values=v,
                       max_sleep_s={WRITE: 0.5, INTERACTIVE: 0.5, BACKFILL: 0.5}) for n, v in accounts.items()}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": error, "message": "Rate limit exceeded"})

    http = ProviderHTTP("http://trello", None, limiter=lims["a"], sleep=clock.advance, attempts=1,
                        errors=body_reader(trello.errors), http=httpx.Client(transport=httpx.MockTransport(answer)))
    with pytest.raises(RateLimited) as caught:
        http.request("GET", "/1/cards/c1")
    assert caught.value.code == error and caught.value.retry_after == pytest.approx(10.0)
    for name in waits:
        with pytest.raises(BudgetWait) as held:
            send(lims[name], "GET", "http://trello/1/cards/c2")
        assert error in held.value.verdict.reason and held.value.retry_after == pytest.approx(10.0, abs=0.1)
    for name in goes:
        send(lims[name], "GET", "http://trello/1/cards/c2")
    clock.advance(10.0)
    for name in waits:  # one window later, the budget is theirs again
        send(lims[name], "GET", "http://trello/1/cards/c3")
