"""Realistic seed data for the ServiceNow simulator: people, groups, incidents with comments and work notes.

Deterministic for a given ``random.Random``; the webhook business rule does not fire while seeding.
Incidents are spread over the past ``days``; their journals alternate agent comments (sometimes a
work note instead) and the caller's comments.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

from deskhand.sim.servicenow_state import Record, ServiceNowState
from deskhand.sim.zendesk_seed import FIRST, LAST, TOPICS

AGENTS = (("beth.agent", "Beth Anders", "beth.anders@acme.test"), ("itil", "ITIL User", "itil@acme.test"))
GROUPS = ("Service Desk", "Billing", "Network", "Software", "Escalations")
COMMENTS = ("Thanks for reporting this, we are looking into it now.",
            "Could you attach a screenshot of the error?",
            "This should be fixed now. Can you confirm on your side?",
            "I have passed this to the second-line team.")
NOTES = ("Checked the CMDB: the caller's laptop is on the old image.", "Looks like the known issue from last week.",
         "Waiting on the network team before we answer.")
FOLLOWUPS = ("Here is the screenshot you asked for.", "Yes, it works now, thank you!",
             "Still not working for me, unfortunately.", "Any update on this?")
FINAL_STATES = {"1": 2, "2": 4, "3": 2, "6": 3, "7": 2}


@contextmanager
def at(state: ServiceNowState, when: float) -> Iterator[None]:
    """Write as if the clock said `when`, without telling the listeners (no webhooks while seeding)."""
    clock, listeners = state.clock, state.listeners
    state.clock, state.listeners = (lambda: when), []
    try:
        yield
    finally:
        state.clock, state.listeners = clock, listeners


def seed_people(state: ServiceNowState) -> tuple[list[Record], list[Record]]:
    """The agents (with a password each: their user name) and the assignment groups."""
    agents = [state.user(u) or state.add_user(u, n, e, password=u, roles="itil") for u, n, e in AGENTS]
    known = {g["name"]: g for g in state.tables["sys_user_group"].values()}
    groups = [known.get(name) or state.add_group(name, agents) for name in GROUPS]
    return agents, groups


def seed_incidents(state: ServiceNowState, n: int, rng: random.Random, *, days: float = 90.0) -> list[str]:
    """Create `n` incidents (0–4 journal entries each) opened within the last `days`; their sys_ids."""
    agents, groups = seed_people(state)
    now = state.clock()
    callers: list[Record] = []
    ids = []
    for _ in range(n):
        if not callers or rng.random() < 0.6:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            user_name = f"{first.lower()}.{last.lower()}.{len(callers)}"
            with at(state, now - days * 86400):
                callers.append(state.add_user(user_name, f"{first} {last}", f"{user_name}@example.com",
                                              password=user_name))
        caller = rng.choice(callers)
        subject, body, tags, _group = rng.choice(TOPICS)
        when = now - rng.uniform(3600, days * 86400)
        urgent = "urgent" in tags or "outage" in tags
        with at(state, when):
            row = state.create_incident({"short_description": subject, "description": body,
                                         "caller_id": caller["sys_id"], "impact": "1" if urgent else rng.choice("23"),
                                         "urgency": "1" if urgent else rng.choice("233")}, caller["user_name"])
        agent = rng.choice(agents)
        for turn in range(rng.randint(0, 4)):
            when = min(when + rng.uniform(600, 86400), now)
            with at(state, when):
                if turn % 2:
                    state.update_incident(row["sys_id"], {"comments": rng.choice(FOLLOWUPS)}, caller["user_name"])
                elif rng.random() < 0.25:
                    state.update_incident(row["sys_id"], {"work_notes": rng.choice(NOTES)}, agent["user_name"])
                else:
                    state.update_incident(row["sys_id"], {"comments": rng.choice(COMMENTS), "state": "2",
                                                          "assigned_to": agent["sys_id"],
                                                          "assignment_group": rng.choice(groups)["sys_id"]},
                                          agent["user_name"])
        final = rng.choices(list(FINAL_STATES), weights=list(FINAL_STATES.values()))[0]
        if final != "1":
            extra = {"3": {"hold_reason": "1"},
                     "6": {"close_code": "Solved (Permanently)", "close_notes": "Fixed; confirmed with the caller."},
                     "7": {"close_code": "Solved (Permanently)", "close_notes": "Fixed; confirmed with the caller."}}
            with at(state, min(when + 60, now)):
                state.update_incident(row["sys_id"], {"state": final, **extra.get(final, {})}, agent["user_name"])
        ids.append(row["sys_id"])
    return ids
