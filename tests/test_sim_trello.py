"""The Trello simulator driven by the real py-trello client and raw HTTP over loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import threading
from typing import Any

import httpx
import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from trello import TrelloClient
from trello.exceptions import ResourceUnavailable, Unauthorized

from deskhand.sim.base import ManualClock, SimServer
from deskhand.sim.trello import DEFAULT_KEY, DEFAULT_SECRET, DEFAULT_TOKEN, TrelloSim, start
from deskhand.sim.trello_seed import INTAKE_TOKEN, default_state, seed_cards, support_board
from deskhand.sim.trello_webhooks import signature

HEADER = {"Authorization": f'OAuth oauth_consumer_key="{DEFAULT_KEY}", oauth_token="{DEFAULT_TOKEN}"'}


class Rewrite:
    """py-trello's ``http_service`` seam (FACTS.md §7.5): its hard-coded hosts go to the simulator."""

    def __init__(self, url: str):
        self.url, self.session = url, requests.Session()

    def _to_sim(self, url: str) -> str:
        return url.replace("https://api.trello.com", self.url).replace("https://trello.com", self.url)

    def request(self, method: str, url: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self._to_sim(url), **kw)

    def post(self, url: str, **kw: Any) -> requests.Response:
        return self.session.post(self._to_sim(url), **kw)


@pytest.fixture
def sim():
    with start(retry_scale=1e-3) as server:
        yield server


def client_for(sim: TrelloSim, token: str = DEFAULT_TOKEN, key: str = DEFAULT_KEY) -> TrelloClient:
    """py-trello, unchanged, in its key + token (query) form."""
    return TrelloClient(key, api_secret=token, http_service=Rewrite(sim.url))


@pytest.fixture
def client(sim: TrelloSim) -> TrelloClient:
    return client_for(sim)


class Receiver:
    """A webhook receiver over loopback: answers HEAD with `head_status`, records POSTs."""

    def __init__(self, head_status: int = 200, post_status: int = 200):
        self.head_status, self.post_status = head_status, post_status
        self.bodies: list[tuple[bytes, dict[str, str]]] = []
        self.arrived = threading.Condition()

        async def hook(request: Request) -> Response:
            if request.method == "HEAD":
                return Response(status_code=self.head_status)
            body = await request.body()
            with self.arrived:
                self.bodies.append((body, dict(request.headers)))
                self.arrived.notify_all()
            return Response(status_code=self.post_status)

        self.server = SimServer(Starlette(routes=[Route("/hook", hook, methods=["HEAD", "POST"])]))

    def __enter__(self) -> Receiver:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def wait_for(self, count: int) -> list[tuple[bytes, dict[str, str]]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.bodies) >= count, timeout=60), self.bodies
            return list(self.bodies)


# ----------------------------------------------------------------------------- the real client


def test_client_lists_boards_lists_labels_and_members_of_the_support_board(sim, client) -> None:
    boards = client.list_boards()
    assert [b.name for b in boards] == ["Support"]
    board = client.get_board(boards[0].id)
    assert [lst.name for lst in board.list_lists()] == ["New", "In progress", "Waiting on customer", "On hold", "Done"]
    assert {lb.name for lb in board.get_labels()} == {"billing", "bug", "how-to", "account", "urgent"}
    assert {m.full_name for m in board.get_members()} == {"Dana Admin", "Sam Agent", "Lee Agent", "Intake"}


def test_client_creates_moves_labels_assigns_comments_and_archives_a_card(sim, client) -> None:
    board = client.list_boards()[0]
    new, waiting = board.list_lists()[0], board.list_lists()[2]
    label = next(lb for lb in board.get_labels() if lb.name == "billing")
    agent = next(m for m in board.get_members() if m.full_name == "Sam Agent")
    card = new.add_card("Invoice wrong", desc="Charged twice", labels=[label])
    assert card.idList == new.id and card.idLabels == [label.id]

    card.change_list(waiting.id)
    card.add_member(agent)
    card.comment("We are on it.")
    card.set_closed(True)

    again = client.get_card(card.id)
    assert (again.idList, again.closed, again.member_ids) == (waiting.id, True, [agent.id])
    assert [c["data"]["text"] for c in again.get_comments()] == ["We are on it."]
    assert card.id not in [c.id for c in waiting.list_cards()]  # archived cards leave the open filter
    assert card.id in [c.id for c in waiting.list_cards(card_filter="closed")]
    card.remove_label(label)
    assert client.get_card(card.id).idLabels == []


def test_client_edits_and_deletes_its_comment_and_deletes_a_card(sim, client) -> None:
    card = client.list_boards()[0].list_lists()[0].add_card("Export fails")
    made = card.comment("first")
    card.update_comment(made["id"], "edited")
    assert [c["data"]["text"] for c in card.get_comments()] == ["edited"]
    card.delete_comment(made)
    assert card.get_comments() == []
    card.delete()
    with pytest.raises(ResourceUnavailable):
        client.get_card(card.id)
    assert card.id in sim.state.deleted


def test_client_pages_a_list_of_many_cards_newest_first_without_looping(sim, client) -> None:
    made = seed_cards(sim.state, 0, random.Random(0))
    first = client.list_boards()[0].list_lists()[0]
    for n in range(25):
        made.append(first.add_card(f"Card {n}").id)
    seen = [c.id for c in first.list_cards_iter(batch=10)]
    assert sorted(seen) == sorted(made) and len(seen) == 25
    assert seen == sorted(seen, reverse=True)


def test_client_fetches_a_card_eagerly_with_its_comments(sim, client) -> None:
    seed_cards(sim.state, 8, random.Random(3))
    commented = next(c for c in sim.state.cards.values() if sim.state.comments(c["id"]))
    card = client.get_card(commented["id"])
    card.fetch()
    assert len(card.comments) == len(sim.state.comments(commented["id"]))


def test_client_board_actions_since_a_date_and_before_an_action(sim, client) -> None:
    board = client.list_boards()[0]
    card = board.list_lists()[0].add_card("Two-factor codes rejected")
    card.comment("hello")
    actions = board.fetch_actions("createCard,commentCard", action_limit=10)
    assert [a["type"] for a in actions[:2]] == ["commentCard", "createCard"]
    older = board.fetch_actions("all", before=actions[0]["id"])
    assert actions[0]["id"] not in [a["id"] for a in older] and actions[1]["id"] in [a["id"] for a in older]
    assert board.fetch_actions("all", since="2999-01-01T00:00:00.000Z") == []


def test_client_with_wrong_token_or_key_is_unauthorized_and_changes_nothing(sim) -> None:
    before = len(sim.state.cards)
    for bad in (client_for(sim, token="nope"), client_for(sim, key="nope")):
        with pytest.raises(Unauthorized):
            bad.list_boards()
    assert len(sim.state.cards) == before


def test_client_posts_answer_200_as_py_trello_requires(sim) -> None:
    board = support_board(sim.state)
    lst = next(iter(sim.state.lists))
    answer = httpx.post(f"{sim.url}/1/cards", headers=HEADER,
                        json={"idList": lst, "name": "x", "due": "null", "idLabels": "", "idMembers": ""})
    assert answer.status_code == 200 and answer.json()["idBoard"] == board


# ----------------------------------------------------------------------------- auth, errors, limits


@pytest.mark.parametrize(("headers", "params", "status", "text"), [
    pytest.param(HEADER, {}, 200, None, id="oauth-header"),
    pytest.param({}, {"key": DEFAULT_KEY, "token": DEFAULT_TOKEN}, 200, None, id="query-form"),
    pytest.param({}, {}, 401, "invalid key", id="nothing"),
    pytest.param({}, {"key": DEFAULT_KEY}, 401, "unauthorized permission requested", id="no-token"),
    pytest.param({}, {"key": DEFAULT_KEY, "token": "x"}, 401, "invalid token", id="unknown-token"),
    pytest.param({"Authorization": 'OAuth oauth_consumer_key="k", oauth_token="t"'}, {}, 401, "invalid key",
                 id="unknown-key-header"),
])
def test_auth_accepts_the_oauth_header_and_the_query_form(sim, headers, params, status, text) -> None:
    answer = httpx.get(f"{sim.url}/1/members/me", headers=headers, params=params)
    assert answer.status_code == status
    if text:
        assert answer.text == text


@pytest.mark.parametrize(("path", "status"), [
    pytest.param("/1/cards/0123456789abcdef01234567", 404, id="unknown-card"),
    pytest.param("/1/cards/nope", 404, id="malformed-id"),
    pytest.param("/1/lists/0123456789abcdef01234567/cards", 404, id="unknown-list"),
])
def test_unknown_things_are_404_in_plain_text(sim, path, status) -> None:
    answer = httpx.get(sim.url + path, headers=HEADER)
    assert answer.status_code == status and answer.headers["content-type"].startswith("text/plain")


def test_bad_card_input_is_400_and_stores_nothing(sim) -> None:
    before = len(sim.state.cards)
    for body in ({"name": "x"}, {"idList": next(iter(sim.state.lists)), "idLabels": "ffffffffffffffffffffffff"}):
        assert httpx.post(f"{sim.url}/1/cards", headers=HEADER, json=body).status_code in (400, 404)
    assert httpx.post(f"{sim.url}/1/cards", headers={**HEADER, "content-type": "application/json"},
                      content=b"{trunc").status_code == 400
    assert len(sim.state.cards) == before


def test_token_budget_answers_429_with_trellos_body_and_headers_then_resets() -> None:
    clock = ManualClock()
    with (start(default_state(DEFAULT_TOKEN), clock=clock, token_max=5, key_max=8) as sim,
          httpx.Client(base_url=sim.url, headers=HEADER) as http):
            answers = [http.get("/1/members/me") for _ in range(6)]
            assert [a.status_code for a in answers] == [200] * 5 + [429]
            assert answers[-1].json() == {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
            assert "retry-after" not in answers[-1].headers
            assert answers[4].headers["x-rate-limit-api-token-remaining"] == "0"
            assert answers[0].headers["x-rate-limit-api-token-interval-ms"] == "10000"
            intake = {"Authorization": f'OAuth oauth_consumer_key="{DEFAULT_KEY}", oauth_token="{INTAKE_TOKEN}"'}
            key_answers = [http.get("/1/members/me", headers=intake) for _ in range(4)]
            assert [a.status_code for a in key_answers] == [200, 200, 200, 429]  # the key's 8 are spent
            assert key_answers[-1].json()["error"] == "API_KEY_LIMIT_EXCEEDED"
            clock.advance(10)
            assert http.get("/1/members/me").status_code == 200


# ----------------------------------------------------------------------------- webhooks


def test_webhook_needs_a_200_head_then_deliveries_are_signed_over_body_and_callback(sim, client) -> None:
    with Receiver() as receiver:
        callback = f"{receiver.server.url}/hook"
        board_id = support_board(sim.state)
        hook = client.create_hook(callback, board_id, desc="deskhand")
        assert [h.id for h in client.list_hooks()] == [hook.id]
        client.get_board(board_id).list_lists()[0].add_card("Printer on fire").comment("smoke!")
        (body1, headers1), (body2, headers2) = receiver.wait_for(2)
        for body, headers in ((body1, headers1), (body2, headers2)):
            expected = base64.b64encode(hmac.new(DEFAULT_SECRET.encode(), body + callback.encode(),
                                                 hashlib.sha1).digest()).decode()
            assert headers["x-trello-webhook"] == expected == signature(DEFAULT_SECRET, body, callback)
        assert b'"createCard"' in body1 and b'"commentCard"' in body2


def test_webhook_refused_when_the_callback_does_not_answer_head_200(sim) -> None:
    with Receiver(head_status=404) as receiver:
        answer = httpx.post(f"{sim.url}/1/webhooks", headers=HEADER,
                            json={"callbackURL": f"{receiver.server.url}/hook", "idModel": support_board(sim.state)})
        assert answer.status_code == 400 and "did not return 200" in answer.text
        assert sim.state.webhooks == {}


def test_failed_deliveries_are_retried_three_times_and_counted(sim) -> None:
    with Receiver(post_status=500) as receiver:
        board = support_board(sim.state)
        made = httpx.post(f"{sim.url}/1/webhooks", headers=HEADER,
                          json={"callbackURL": f"{receiver.server.url}/hook", "idModel": board}).json()
        sim.state.create_card({"idList": next(iter(sim.state.lists)), "name": "x"}, sim.state.tokens[DEFAULT_TOKEN])
        bodies = receiver.wait_for(4)
        assert len({b for b, _ in bodies}) == 1
        assert sim.delivery.drain(60)
        shown = httpx.get(f"{sim.url}/1/webhooks/{made['id']}", headers=HEADER).json()
        assert shown["consecutiveFailures"] == 1
