"""Dead letters and jobs by state: `deskhand jobs list|retry|drop` over the queue (deskhand.queue.letters)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.queue import SqlQueue
from deskhand.queue.letters import JobStateError, drop_job, list_jobs, retry_job
from deskhand.settings import Settings
from deskhand.sim.base import ManualClock
from deskhand.store import Store

runner = CliRunner()


def _dead(queue: SqlQueue) -> int:
    jid = queue.enqueue(None, "handle_event", {"event_id": 7}, max_attempts=1)
    job = queue.claim("w")
    assert job is not None and jid is not None
    assert queue.retry(job, "w", "ConnectionFailed('cannot connect')") == "dead"
    return jid


def test_a_dead_job_is_retried_with_fresh_attempts_and_runs_again(store: Store) -> None:
    clock = ManualClock()
    queue = SqlQueue(store.engine, clock=clock)
    jid = _dead(queue)
    assert [j["id"] for j in list_jobs(store.engine, state="dead")] == [jid]
    retry_job(store.engine, jid, clock)
    job = queue.claim("w")
    assert job is not None and job.id == jid and job.attempts == 1


@pytest.mark.parametrize(("op", "state", "message"), [
    (retry_job, "running", "job 1 is running: only dead, dropped or queued jobs can be retried"),
    (drop_job, "running", "job 1 is running: only dead or queued jobs can be dropped"),
    (drop_job, "dropped", "job 1 is dropped: only dead or queued jobs can be dropped"),
], ids=["retry-running", "drop-running", "drop-twice"])
def test_a_job_in_the_wrong_state_is_refused_and_unchanged(store: Store, op, state: str, message: str) -> None:
    clock = ManualClock()
    queue = SqlQueue(store.engine, clock=clock)
    queue.enqueue(None, "handle_event", {"event_id": 1})
    if state == "running":
        assert queue.claim("w") is not None
    else:
        drop_job(store.engine, 1, clock)
    with pytest.raises(JobStateError) as got:
        op(store.engine, 1, clock)
    assert str(got.value) == message
    assert list_jobs(store.engine)[0]["status"] == state


def test_a_dropped_job_is_kept_not_run_and_its_dedupe_key_stays_taken(store: Store) -> None:
    clock = ManualClock()
    queue = SqlQueue(store.engine, clock=clock)
    queue.enqueue(None, "handle_event", {"event_id": 1}, dedupe_key="event:1")
    drop_job(store.engine, 1, clock)
    assert queue.claim("w") is None
    assert queue.enqueue(None, "handle_event", {"event_id": 1}, dedupe_key="event:1") is None
    assert queue.counts() == {"dropped": 1}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("DESKHAND_DATABASE_URL", url)
    monkeypatch.setenv("DESKHAND_SECRET_KEY", key)
    return Settings(database_url=url, secret_key=key)


def test_jobs_cli_lists_dead_letters_retries_and_drops_them(env: Settings) -> None:
    store = Store.open(env)
    queue = SqlQueue(store.engine)
    jid = _dead(queue)
    got = runner.invoke(app, ["jobs", "list", "--state", "dead", "--json"])
    assert got.exit_code == 0, got.output
    listed = json.loads(got.stdout)
    assert [j["id"] for j in listed["jobs"]] == [jid] and "cannot connect" in listed["jobs"][0]["last_error"]
    got = runner.invoke(app, ["jobs", "retry", str(jid)])
    assert got.exit_code == 0 and f"job {jid} (handle_event) was dead: queued" in got.stdout
    got = runner.invoke(app, ["jobs", "drop", str(jid)])
    assert got.exit_code == 0 and "dropped" in got.stdout
    assert queue.counts() == {"dropped": 1}
    store.engine.dispose()


@pytest.mark.parametrize(("args", "message"), [
    (["jobs", "retry", "999"], "no job 999: see `deskhand jobs list`"),
    (["jobs", "drop", "999"], "no job 999: see `deskhand jobs list`"),
    (["jobs", "list", "--state", "deadd"], "unknown job state 'deadd'"),
], ids=["retry-unknown", "drop-unknown", "unknown-state"])
def test_jobs_cli_names_what_is_wrong_in_one_line(env: Settings, args: list[str], message: str) -> None:
    got = runner.invoke(app, args)
    assert got.exit_code == 2
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], got.stderr


def test_jobs_breakers_shows_an_open_breaker(env: Settings) -> None:
    from deskhand.queue.breaker import THRESHOLD, Breakers

    store = Store.open(env)
    breakers = Breakers(store.engine, clock=ManualClock())
    for _ in range(THRESHOLD):
        breakers.failure("acme", "ConnectionFailed('cannot connect')")
    got = runner.invoke(app, ["jobs", "breakers", "--json"])
    assert got.exit_code == 0, got.output
    (row,) = json.loads(got.stdout)["breakers"]
    assert (row["account"], row["state"], row["failures"]) == ("acme", "open", THRESHOLD)
    store.engine.dispose()
