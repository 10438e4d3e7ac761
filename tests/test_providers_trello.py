"""The Trello definition against the Trello simulator: connect (list map checked against the board),
webhook registration, bad input (wrong credentials, wrong board, helpdesk down, truncated or unsigned
payloads, a card in an unmapped list)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.errors import PayloadError, SignatureError
from deskhand.providers import open_connector
from deskhand.sim.base import SimServer
from deskhand.sim.trello import DEFAULT_KEY, DEFAULT_SECRET, DEFAULT_TOKEN, TrelloSim, start
from deskhand.sim.trello_seed import support_board
from deskhand.sim.trello_spec import overrides
from deskhand.sim.trello_webhooks import signature

runner = CliRunner()


@pytest.fixture
def sim() -> Iterator[TrelloSim]:
    with start(retry_scale=1e-3) as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DESKHAND_SECRET_KEY", Fernet.generate_key().decode())
    return tmp_path


def config(sim: TrelloSim, **extra: str) -> dict[str, str]:
    return {"api_key": DEFAULT_KEY, "token": DEFAULT_TOKEN, "board": support_board(sim.state), "base_url": sim.url,
            "webhook_secret": DEFAULT_SECRET, "callback_url": "https://deskhand.example.com/webhooks/trello/help",
            **extra}


def lists(sim: TrelloSim) -> dict[str, str]:
    return overrides(sim.state)["list"]


def connect_args(sim: TrelloSim, **changes: str) -> list[str]:
    values = {"--api-key": DEFAULT_KEY, "--token": DEFAULT_TOKEN, "--board": support_board(sim.state),
              "--base-url": sim.url, "--webhook-secret": DEFAULT_SECRET, **changes}
    sets = [x for status, lid in lists(sim).items() for x in ("--set", f"list.{status}={lid}")]
    return ["connect", "trello", "--name", "help", *[x for kv in values.items() for x in kv], *sets]


def accounts() -> list[dict]:
    return json.loads(runner.invoke(app, ["accounts", "list", "--json"]).stdout)["accounts"]


# ------------------------------------------------------------------------- deskhand connect


@pytest.mark.parametrize(("change", "extra", "message"), [
    pytest.param({}, [], "connected trello account help", id="connected"),
    pytest.param({"--token": "wrong"}, [], "invalid token", id="wrong-token"),
    pytest.param({"--board": "0123456789abcdef01234567"}, [], "--board", id="unknown-board"),
    pytest.param({"--base-url": "http://127.0.0.1:9"}, [], "cannot connect", id="helpdesk-down"),
    pytest.param({}, ["--set", "list.pending=0123456789abcdef01234567"], "not one of", id="list-not-on-board"),
    pytest.param({}, ["--set", "list.pending=Waiting"], "does not match", id="list-not-an-id"),
    pytest.param({}, ["--set", "list.later=0123456789abcdef01234567"], "is not one of", id="unknown-status"),
])
def test_connect_checks_the_board_and_its_lists_and_stores_only_a_working_account(
        sim: TrelloSim, env: Path, change: dict[str, str], extra: list[str], message: str) -> None:
    result = runner.invoke(app, [*connect_args(sim, **change), *extra])
    assert message in result.output, result.output
    assert (result.exit_code, len(accounts())) == ((0, 1) if not (change or extra) else (2, 0))
    assert DEFAULT_TOKEN not in runner.invoke(app, ["accounts", "list", "--json"]).stdout


def test_connect_registers_the_board_webhook_after_trellos_head_check(sim: TrelloSim, env: Path) -> None:
    heads: list[str] = []

    async def hook(request: Request) -> Response:
        heads.append(request.method)
        return Response(status_code=200)

    with SimServer(Starlette(routes=[Route("/webhooks/trello/help", hook, methods=["HEAD", "POST"])])) as gateway:
        result = runner.invoke(app, [*connect_args(sim), "--register-webhook", gateway.url])
        assert result.exit_code == 0, result.output
    (made,) = sim.state.webhooks.values()
    assert heads == ["HEAD"] and made["idModel"] == support_board(sim.state)
    assert made["callbackURL"] == f"{gateway.url}/webhooks/trello/help"


# ------------------------------------------------------------------------- bad input


def test_a_card_in_an_unmapped_list_names_the_override_to_set(sim: TrelloSim) -> None:
    mapped = lists(sim)
    with open_connector("trello", "acme", config(sim), overrides={"list": {"open": mapped["open"]}}) as conn:
        card = sim.state.create_card({"idList": mapped["new"], "name": "x"}, sim.state.tokens[DEFAULT_TOKEN])
        with pytest.raises(PayloadError, match="has no mapping"):
            conn.get_ticket(card["id"])


def _delivery(sim: TrelloSim) -> tuple[dict[str, str], bytes]:
    body = json.dumps({"action": {"id": "a" * 24, "type": "createCard", "date": "2026-12-01T10:00:00.000Z",
                                  "idMemberCreator": "b" * 24, "data": {"card": {"id": "c" * 24}}}}).encode()
    callback = config(sim)["callback_url"]
    return {"x-trello-webhook": signature(DEFAULT_SECRET, body, callback)}, body


@pytest.mark.parametrize("tamper", [
    pytest.param(lambda h, b: (h, b[:-5]), id="truncated"),
    pytest.param(lambda h, b: ({}, b), id="unsigned"),
    pytest.param(lambda h, b: (h, b.replace(b"createCard", b"deleteCard")), id="altered"),
])
def test_tampered_or_truncated_deliveries_fail_the_signature(sim: TrelloSim, tamper) -> None:  # type: ignore[no-untyped-def]
    headers, body = _delivery(sim)
    with open_connector("trello", "acme", config(sim), overrides={"list": lists(sim)}) as conn:
        conn.verify_webhook(headers, body)
        assert [e.kind.value for e in conn.parse_webhook(headers, body)] == ["ticket_created"]
        bad_headers, bad_body = tamper(headers, body)
        with pytest.raises(SignatureError):
            conn.verify_webhook(bad_headers, bad_body)


def test_a_signed_but_malformed_payload_is_a_payload_error(sim: TrelloSim) -> None:
    body = b'{"action": '
    headers = {"x-trello-webhook": signature(DEFAULT_SECRET, body, config(sim)["callback_url"])}
    with open_connector("trello", "acme", config(sim), overrides={"list": lists(sim)}) as conn:
        conn.verify_webhook(headers, body)
        with pytest.raises(PayloadError):
            conn.parse_webhook(headers, body)
