"""The review queue, end to end on every registered simulator: a real draft from the responder is listed
with its evidence, approved (edited) as the public reply exactly once, or rejected with a reason;
the outcome ledger settles each; another tenant's key sees none of it; the CLI does the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from deskhand.api.keys import create_key
from deskhand.cli import app as cli_app
from deskhand.gateway.app import create_app
from deskhand.responder.outcomes import entries
from deskhand.settings import Settings
from deskhand.sim import registry
from deskhand.store import Store
from deskhand.testing.loop import Loop, sim_loop


@pytest.fixture(params=registry.slugs())
def loop(request: pytest.FixtureRequest, store: Store, settings: Settings) -> Iterator[Loop]:
    with sim_loop(request.param, store, settings, mode="draft") as running:
        yield running


def _draft(loop: Loop, subject: str) -> tuple[str, int]:
    tid = loop.create(subject, f"{subject} I forgot my password. How do I reset it?")
    loop.drain()
    (decision,) = [d for d in loop.decisions(tid) if d["route"] == "draft"]
    return tid, int(decision["id"])


def _public_bodies(loop: Loop, tid: str) -> list[str]:
    return [c.body.strip() for c in loop.customer.list_comments(tid) if c.public]


@pytest.fixture
def api(loop: Loop, store: Store) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    _, key = create_key(store.engine, "default", ["decisions:read", "review:write"])
    _, other = create_key(store.engine, "elsewhere", ["admin"])
    with TestClient(create_app(loop.rt)) as client:
        yield client, {"Authorization": f"Bearer {key}"}, {"Authorization": f"Bearer {other}"}


def _ledger(store: Store, decision_id: int) -> dict[str, Any]:
    return next(e for e in entries(store) if e["decision_id"] == decision_id)


def test_an_edited_approval_is_posted_once_and_the_ledger_learns_the_edit(loop: Loop, store: Store, api) -> None:
    client, auth, _other = api
    tid, decision_id = _draft(loop, "How do I reset my password?")
    waiting = client.get("/v1/review", headers=auth).json()["data"]
    (item,) = [d for d in waiting if d["decision_id"] == decision_id]
    assert item["reply"] and item["sources"] and item["ticket_id"] == f"acme:{tid}" and item["outcome"] == "pending"
    shown = client.get(f"/v1/review/{decision_id}", headers=auth).json()
    assert shown["reasons"] and shown["triage_scores"]

    edited = item["reply"] + "\n\nBest regards, Sam from Support"
    before = _public_bodies(loop, tid)
    first = client.post(f"/v1/review/{decision_id}/approve", headers=auth, json={"body": edited})
    assert first.status_code == 200, first.text
    again = client.post(f"/v1/review/{decision_id}/approve", headers=auth, json={"body": edited})
    assert again.status_code == 200 and again.json() == first.json()
    after = _public_bodies(loop, tid)
    assert after.count(edited.strip()) == 1 and len(after) == len(before) + 1

    verdict = first.json()
    assert verdict["verdict"] == "approved" and 0 < verdict["edit_distance"] <= 0.5
    entry = _ledger(store, decision_id)
    assert entry["outcome"] in ("accepted", "edited") and entry["edit_distance"] == verdict["edit_distance"]
    assert decision_id not in [d["decision_id"] for d in client.get("/v1/review", headers=auth).json()["data"]]
    changed = client.post(f"/v1/review/{decision_id}/approve", headers=auth, json={"body": "something else"})
    assert changed.status_code == 409 and changed.json()["code"] == "review_conflict"


@pytest.mark.parametrize("loop", [registry.default_slug()], indirect=True)  # provider-neutral: one simulator
def test_a_rejection_posts_nothing_and_settles_the_draft(loop: Loop, store: Store, api) -> None:
    client, auth, _ = api
    tid, decision_id = _draft(loop, "Password reset please")
    before = _public_bodies(loop, tid)
    r = client.post(f"/v1/review/{decision_id}/reject", headers=auth, json={"reason": "wrong product"})
    assert r.status_code == 200 and r.json()["reason"] == "wrong product"
    assert _public_bodies(loop, tid) == before
    entry = _ledger(store, decision_id)
    assert entry["outcome"] == "rejected" and "wrong product" in entry["signal"]
    late = client.post(f"/v1/review/{decision_id}/approve", headers=auth)
    assert late.status_code == 409


@pytest.mark.parametrize("loop", [registry.default_slug()], indirect=True)  # provider-neutral: one simulator
def test_another_tenants_key_sees_no_draft(loop: Loop, api) -> None:
    client, _, other = api
    _, decision_id = _draft(loop, "Reset my password")
    assert client.get("/v1/review", headers=other).json()["data"] == []
    calls = [client.get(f"/v1/review/{decision_id}", headers=other),
             client.post(f"/v1/review/{decision_id}/approve", headers=other),
             client.post(f"/v1/review/{decision_id}/reject", headers=other, json={"reason": "x"})]
    assert [c.status_code for c in calls] == [404, 404, 404]


@pytest.mark.parametrize("loop", [registry.default_slug()], indirect=True)  # provider-neutral: one simulator
def test_the_cli_lists_shows_and_approves_drafts(loop: Loop, settings: Settings,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DESKHAND_SECRET_KEY", settings.secret_key or "")
    _tid, decision_id = _draft(loop, "Forgot my password")
    runner = CliRunner()
    listed = runner.invoke(cli_app, ["review", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert decision_id in [d["decision_id"] for d in json.loads(listed.stdout)["drafts"]]
    shown = runner.invoke(cli_app, ["review", "show", str(decision_id)])
    assert shown.exit_code == 0 and "proposed reply" in shown.stdout
    approved = runner.invoke(cli_app, ["review", "approve", str(decision_id), "--json"])
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.stdout)["edit_distance"] == 0.0
    rejected = runner.invoke(cli_app, ["review", "reject", str(decision_id), "--reason", "changed my mind"])
    assert rejected.exit_code == 2 and "already approved" in rejected.output
