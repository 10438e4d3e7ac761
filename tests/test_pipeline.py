"""End to end over loopback: the Zendesk simulator → signed webhook → gateway → queue → worker →
write-back read from the simulator. Real SQLite, real HTTP, the real offline models."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from deskhand.providers.connector import Connector
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.testing.loop import drain, sim_loop, wait_for_event

pytestmark = pytest.mark.every_backend


@dataclass
class Env:
    rt: Runtime
    sim: Any
    customer: Connector
    settings: Settings


@pytest.fixture
def env(store: Store, settings: Settings) -> Iterator[Env]:
    with sim_loop("zendesk", store, settings, mode="auto") as loop:  # new accounts start in draft
        yield Env(loop.rt, loop.sim, loop.customer, settings)


def _create(env: Env, subject: str, body: str) -> str:
    ticket = env.customer.create_ticket(
        subject=subject, body=body, requester_name="Ann Example", requester_email="ann@example.com"
    )
    wait_for_event(env.rt, ticket.id)
    return ticket.id


def _wait_for_event(env: Env, ticket_id: str, kind: str = "ticket_created") -> None:
    wait_for_event(env.rt, ticket_id, kind)


def _drain(env: Env) -> None:
    drain(env.rt, lease_s=2)


def _decision(env: Env, ticket_id: str) -> dict[str, Any]:
    (d,) = [d for d in env.rt.store.list_decisions(ticket_id=ticket_id) if d["route"] != "ignore"]
    return d


def _our_comments(env: Env, ticket_id: str) -> list[Any]:
    me = env.rt.identity(env.rt.store.get_account("acme")).own_id
    return [c for c in env.customer.list_comments(ticket_id)[1:] if c.author_id == me]


def test_a_how_to_question_is_answered_publicly_and_set_pending(env: Env) -> None:
    tid = _create(env, "How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")
    _drain(env)
    d = _decision(env, tid)
    assert d["route"] == "auto_reply", d
    assert d["evidence"]["sources"][0]["id"].startswith("kb/reset-password.md")
    (reply,) = _our_comments(env, tid)
    assert reply.visibility.value == "public" and "Forgot password" in reply.body
    assert env.customer.get_ticket(tid, with_comments=False).raw_status == "pending"


def test_an_outage_goes_to_the_escalation_team_with_an_internal_note(env: Env) -> None:
    tid = _create(env, "Everything is down", "The app is down for everyone, all requests fail with 503.")
    _drain(env)
    d = _decision(env, tid)
    assert d["route"] == "human" and "outage_wording" in d["rules"]
    ticket = env.customer.get_ticket(tid)
    teams = {t.name: t.id for t in env.customer.list_teams()}
    assert ticket.team_id == teams["Escalations"]
    assert "deskhand_escalated" in ticket.tags
    (note,) = _our_comments(env, tid)
    assert note.visibility.value == "internal" and "outage" in note.body


def test_our_own_reply_echo_is_ignored(env: Env) -> None:
    tid = _create(env, "How do I reset my password?", "I forgot my password. How do I reset it?")
    _drain(env)
    _wait_for_event(env, tid, kind="comment_added")
    _drain(env)
    routes = sorted(d["route"] for d in env.rt.store.list_decisions(ticket_id=tid))
    assert "ignore" in routes and routes.count("auto_reply") == 1
    assert len(_our_comments(env, tid)) == 1


def test_a_redelivered_apply_job_posts_nothing_twice(env: Env) -> None:
    from deskhand.responder.effects import apply_decision

    tid = _create(env, "How do I reset my password?", "Forgot my password, how do I reset it?")
    _drain(env)
    apply_decision(env.rt, _decision(env, tid)["id"])
    assert len(_our_comments(env, tid)) == 1


def test_a_worker_killed_after_the_provider_call_posts_no_second_reply(env: Env) -> None:
    tid = _create(env, "How do I reset my password?", "I forgot my password and cannot sign in. How do I reset it?")
    child_env = {
        **os.environ,
        "DESKHAND_DATABASE_URL": env.settings.database_url,
        "DESKHAND_SECRET_KEY": env.settings.secret_key or "",
        "DESKHAND_CRASH_AT": "after_provider_call",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "deskhand.cli", "worker", "--lease-s", "1"],
        env=child_env,
        timeout=120,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 137, proc.stderr[-2000:]
    d = _decision(env, tid)
    statuses = [a.status for a in env.rt.store.actions_for(d["id"])]
    assert statuses[0] == "started"  # the reply was posted, its completion never recorded
    assert len(_our_comments(env, tid)) == 1
    time.sleep(1.2)  # the dead worker's lease runs out
    _drain(env)
    assert [a.status for a in env.rt.store.actions_for(d["id"])] == ["done"] * len(statuses)
    assert len(_our_comments(env, tid)) == 1
    assert env.rt.queue.counts().get("queued", 0) == 0
