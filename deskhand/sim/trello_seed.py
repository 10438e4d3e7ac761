"""The Trello simulator's default board and realistic seeded support cards with comments.

The default state: member "Dana Admin" (the token deskhand uses), agents "Sam Agent" and "Lee Agent",
a customer-side member "Intake" (a board observer: an email-to-board channel raising cards with
its own token), and a
board "Support" with lists New / In progress / Waiting on customer / Done and labels of the usual
support topics.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from deskhand.sim.trello_state import TrelloState

INTAKE_TOKEN = "deskhand-sim-intake-token"
LISTS = ("New", "In progress", "Waiting on customer", "On hold", "Done")
LABELS = (("billing", "green"), ("bug", "red"), ("how-to", "blue"), ("account", "purple"), ("urgent", "orange"))
SUBJECTS = (
    ("How do I reset my password?", "I forgot my password and the reset email never arrives. Can you help?"),
    ("Invoice shows the wrong amount", "Our March invoice charges 12 seats but we only have 9 users."),
    ("Export to CSV fails", "Exporting the monthly report to CSV gives an error 500 since yesterday."),
    ("Add a teammate to our workspace", "How can I invite a new colleague and give them admin rights?"),
    ("App crashes on login", "The mobile app closes as soon as I tap Sign in (Android 14, app 5.2.1)."),
    ("Change billing email", "Please send invoices to accounts@example.test from now on."),
    ("Two-factor codes rejected", "My authenticator codes are always rejected, I am locked out."),
    ("Where is the API documentation?", "I would like to integrate with your API. Where can I find the docs?"),
)
FOLLOW_UPS = ("Any update on this?", "Thanks, that worked!", "I attached a screenshot of the error.",
              "It happens again this morning.", "Could you call me back tomorrow?")
ANSWERS = ("Thanks for reaching out, we are looking into it.", "Could you tell us which browser you use?",
           "This is fixed now; please try again.", "I have forwarded this to our billing team.")


def default_state(token: str, clock: Callable[[], float] = time.time) -> TrelloState:
    state = TrelloState(clock=clock)
    admin = state.add_member("Dana Admin", "danaadmin", token)
    board = state.add_board("Support", admin["id"], "Customer support requests")
    for name in ("Sam Agent", "Lee Agent"):
        state.add_board_member(board["id"], state.add_member(name, name.lower().replace(" ", ""))["id"])
    # an observer may read and comment but not edit: the customer side
    state.add_board_member(board["id"], state.add_member("Intake", "intake", INTAKE_TOKEN)["id"], "observer")
    for name in LISTS:
        state.add_list(board["id"], name)
    for name, color in LABELS:
        state.add_label(board["id"], name, color)
    return state


def support_board(state: TrelloState) -> str:
    return next(b["id"] for b in state.boards.values() if b["name"] == "Support")


def seed_cards(state: TrelloState, count: int, rng: random.Random) -> list[str]:
    """``count`` cards on the Support board, spread over its lists, with labels, members and comments."""
    board = support_board(state)
    lists = [lst["id"] for lst in state.lists.values() if lst["idBoard"] == board]
    labels = [lb["id"] for lb in state.labels.values() if lb["idBoard"] == board]
    intake = state.tokens[INTAKE_TOKEN]
    agents = [m for m in state.board_members[board] if m != intake][1:]
    made = []
    for n in range(count):
        subject, desc = SUBJECTS[n % len(SUBJECTS)]
        card = state.create_card({"idList": lists[0], "name": f"{subject} (#{n + 1})",
                                  "desc": f"{desc}\n\nFrom: customer{n + 1}@example.test",
                                  "idLabels": rng.sample(labels, rng.randint(0, 2))}, intake)
        for _ in range(rng.randint(0, 3)):
            if rng.random() < 0.5:
                state.comment(card["id"], rng.choice(FOLLOW_UPS), intake)
            else:
                state.comment(card["id"], rng.choice(ANSWERS), rng.choice(agents))
        if rng.random() < 0.4:
            state.add_to(card["id"], "idMembers", rng.choice(agents), agents[0])
        target = rng.choice(lists)
        if target != lists[0]:
            state.update_card(card["id"], {"idList": target}, agents[0])
        made.append(card["id"])
    return made
