"""Realistic seed data for the Freshdesk simulator: contacts, tickets with conversations, spread in time.

Deterministic for a given ``random.Random``; no automation rule fires while seeding. Conversations
alternate agent replies (sometimes a private note instead) and customer replies, as a helpdesk's do.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from deskhand.sim.zendesk_seed import FIRST, LAST, TOPICS

if TYPE_CHECKING:
    from deskhand.sim.freshdesk_state import FreshdeskState

REPLIES = ("Thanks for reaching out! We're looking into this now.",
           "Could you send us a screenshot of the error?",
           "This should be fixed now. Can you confirm on your side?",
           "I've escalated this to our engineering team.")
NOTES = ("Customer is on the Pro plan, checked billing history.", "Looks like the known issue from last week.",
         "Waiting on engineering before we answer.")
FOLLOWUPS = ("Here is the screenshot you asked for.", "Yes, it works now, thank you!",
             "Still not working for me, unfortunately.", "Any update on this?")
STATUS_WEIGHTS = {2: 5, 3: 2, 4: 4, 5: 2}
TYPES = {"billing": "Refund", "outage": "Incident", "api": "Problem", "feature_request": "Feature Request"}
SOURCES = (1, 1, 1, 2, 2, 3, 7)


def _type_for(tags: tuple[str, ...], rng: random.Random) -> str | None:
    for tag in tags:
        if tag in TYPES:
            return TYPES[tag]
    return rng.choice(("Question", "Question", None))


def seed_tickets(state: FreshdeskState, n: int, rng: random.Random, *, days: float = 90.0) -> list[int]:
    """Create ``n`` tickets (0–4 conversations each) created within the last ``days``; returns their ids."""
    now = state.clock()
    customers: list[dict[str, Any]] = []
    ids = []
    people = state.people
    for _ in range(n):
        if not customers or rng.random() < 0.6:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first.lower()}.{last.lower()}.{len(customers)}@example.com"
            customers.append(people.create_contact({"name": f"{first} {last}", "email": email}))
        customer = rng.choice(customers)
        subject, body, tags, group = rng.choice(TOPICS)
        created = now - rng.uniform(3600, days * 86400)
        priority = 4 if "urgent" in tags or "outage" in tags else rng.choice((1, 1, 2, 2, 3))
        data = {"subject": subject, "description": body, "requester_id": customer["id"], "tags": list(tags),
                "priority": priority, "type": _type_for(tags, rng), "source": rng.choice(SOURCES)}
        ticket = state.create_ticket(data, customer["id"], at=created, notify=False)
        agent = rng.choice(people.staff)
        at = created
        for turn in range(rng.randint(0, 4)):
            at = min(at + rng.uniform(600, 86400), now)
            if turn % 2 == 0:
                if turn == 0:
                    assign = {"responder_id": agent["id"], "group_id": people.group_by_name(group)["id"]}
                    state.update_ticket(ticket["id"], assign, agent["id"], at=at, notify=False)
                if rng.random() < 0.2:
                    state.note(ticket["id"], {"body": rng.choice(NOTES)}, agent["id"], at=at, notify=False)
                else:
                    state.reply(ticket["id"], {"body": rng.choice(REPLIES)}, agent["id"], at=at, notify=False)
            else:
                state.reply(ticket["id"], {"body": rng.choice(FOLLOWUPS), "user_id": customer["id"]},
                            customer["id"], at=at, notify=False)
        status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
        if status != 2:
            state.update_ticket(ticket["id"], {"status": status, "responder_id": agent["id"]}, agent["id"],
                                at=min(at + 60, now), notify=False)
        ids.append(ticket["id"])
    _seed_ratings(state, ids, random.Random(f"ratings-{n}-{days}"))
    return ids


def _seed_ratings(state: FreshdeskState, ids: list[int], rng: random.Random) -> None:
    """About a third of the resolved and closed tickets carry the requester's survey answer (its own
    random stream, so the tickets themselves are what they were before ratings were seeded)."""
    for tid in ids:
        ticket = state.tickets[tid]
        if ticket["status"] in (4, 5) and rng.random() < 0.35:
            answer = rng.choices((103, 102, 101, 100, -101, -102, -103), weights=(30, 25, 15, 10, 8, 7, 5))[0]
            state.rate(tid, {"ratings": {"default_question": answer}},
                       at=min(state.clock(), ticket["_updated"] + 3600 * rng.uniform(1, 48)))
