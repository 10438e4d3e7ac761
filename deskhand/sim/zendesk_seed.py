"""Realistic seed data for the Zendesk simulator: customers, tickets with conversations, spread in time.

Deterministic for a given ``random.Random``; no webhooks are fired while seeding.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deskhand.sim.zendesk_state import ZendeskState

FIRST = ("Ada", "Ben", "Chloé", "Dev", "Elif", "Femi", "Gus", "Hana", "Ivan", "Jia", "Kofi", "Lena",
         "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Vera", "Wei", "Yusuf")
LAST = ("Okafor", "Müller", "Silva", "Tanaka", "Kowalski", "Nguyen", "Haddad", "Larsen", "Rossi", "Patel")
# (subject, first message, tags, group)
TOPICS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("Charged twice for my subscription", "I was billed twice this month for the Pro plan. Please refund "
     "the duplicate charge.", ("billing", "refund"), "Billing"),
    ("Can't log in after password reset", "I reset my password but the login page keeps saying my "
     "credentials are invalid.", ("login", "account"), "Support"),
    ("How do I export my data to CSV?", "Is there a way to export all my projects to a CSV file?",
     ("how_to", "export"), "Support"),
    ("API returns 500 on /v1/orders", "Since this morning every call to /v1/orders fails with a 500 "
     "error. Our checkout is down.", ("api", "outage"), "Engineering"),
    ("Invoice missing VAT number", "Our invoices don't show our VAT number, which we need for "
     "accounting.", ("billing", "invoice"), "Billing"),
    ("Please cancel my account", "I would like to cancel my account and delete my data.",
     ("cancellation", "account"), "Support"),
    ("Two-factor codes not arriving", "I am not receiving the SMS codes for two-factor "
     "authentication.", ("login", "2fa"), "Support"),
    ("Urgent: data missing from dashboard", "All of last week's data disappeared from our dashboard. "
     "This is urgent for our board meeting.", ("data", "urgent"), "Escalations"),
    ("Feature request: dark mode", "It would be great to have a dark mode in the web app.",
     ("feature_request",), "Support"),
    ("Webhook deliveries failing", "Our webhook endpoint stopped receiving events yesterday.",
     ("api", "webhooks"), "Engineering"),
)
REPLIES = ("Thanks for reaching out! We're looking into this now.",
           "Could you send us a screenshot of the error?",
           "This should be fixed now. Can you confirm on your side?",
           "I've escalated this to our engineering team.")
FOLLOWUPS = ("Here is the screenshot you asked for.", "Yes, it works now, thank you!",
             "Still not working for me, unfortunately.", "Any update on this?")
STATUS_WEIGHTS = {"new": 2, "open": 4, "pending": 2, "hold": 1, "solved": 4, "closed": 2}


def seed_tickets(state: ZendeskState, n: int, rng: random.Random, *, days: float = 90.0) -> list[int]:
    """Create ``n`` tickets (1–4 comments each) created within the last ``days``; returns their ids."""
    now = state.clock()
    customers: list[dict[str, Any]] = []
    ids = []
    for _ in range(n):
        if not customers or rng.random() < 0.6:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first.lower()}.{last.lower()}.{len(customers)}@example.com"
            customers.append(state.create_user({"name": f"{first} {last}", "email": email}))
        customer = rng.choice(customers)
        subject, body, tags, group = rng.choice(TOPICS)
        created = now - rng.uniform(3600, days * 86400)
        priority = rng.choice(("low", "normal", "normal", "high", "urgent" if "urgent" in tags else "high"))
        data = {"subject": subject, "comment": {"body": body}, "requester_id": customer["id"],
                "submitter_id": customer["id"], "tags": list(tags), "priority": priority,
                "type": rng.choice(("question", "incident", "problem", "task", None))}
        ticket, _ = state.create_ticket(data, customer, at=created, notify=False)
        agent = rng.choice(state.agents)
        at = created
        for turn in range(rng.randint(0, 3)):
            at += rng.uniform(600, 86400)
            staff = turn % 2 == 0
            author = agent if staff else customer
            text = rng.choice(REPLIES if staff else FOLLOWUPS)
            update: dict[str, Any] = {"comment": {"body": text, "public": rng.random() > 0.15 or not staff,
                                                  "author_id": author["id"]}}
            if staff and turn == 0:
                update |= {"assignee_id": agent["id"], "group_id": state.find_group(group)[0]}
            state.update_ticket(ticket["id"], update, author, at=min(at, now), notify=False)
        status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
        if status != "new":
            state.update_ticket(ticket["id"], {"status": status, "assignee_id": agent["id"]}, agent,
                                at=min(at + 60, now), notify=False)
        ids.append(ticket["id"])
    return ids
