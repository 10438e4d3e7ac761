"""Realistic seed conversations for the Front simulator: customers write in, teammates answer and comment.

Deterministic for a given ``random.Random``; no webhook fires while seeding (listeners are held back)
and the clock is moved back so conversations spread over the last ``days``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from deskhand.sim.freshdesk_seed import FOLLOWUPS, NOTES, REPLIES
from deskhand.sim.zendesk_seed import FIRST, LAST, TOPICS

if TYPE_CHECKING:
    from deskhand.sim.front_state import FrontState


def seed_conversations(state: FrontState, n: int, rng: random.Random, *, days: float = 30.0) -> list[str]:
    """Create ``n`` conversations (an inbound message, then 0–4 replies, comments and answers); their ids."""
    real_clock, listeners, delay = state.clock, state.listeners, state.send_delay_s
    end = real_clock()
    made: list[str] = []
    state.listeners, state.send_delay_s = [], 0.0
    try:
        for i in range(n):
            at = end - days * 86400 * (n - i) / max(n, 1)
            state.clock = lambda at=at: at  # type: ignore[misc]
            first, last = rng.choice(FIRST), rng.choice(LAST)
            topic = rng.choice(TOPICS)
            subject, text = str(topic[0]), str(topic[1])
            handle = f"{first}.{last}{i}@example.test".lower()
            state.accept_message(None, {"sender": {"handle": handle, "name": f"{first} {last}"},
                                        "subject": subject, "body": text, "metadata": {"thread_ref": f"seed-{i}"}},
                                 inbound=True, author_id=None, channel_id=state.channel["id"])
            cid = max(state.conversations, key=lambda c: int(c[4:], 16))
            made.append(cid)
            for step in range(rng.randint(0, 4)):
                at += 600
                state.clock = lambda at=at: at  # type: ignore[misc]
                if step % 2 == 0 and rng.random() < 0.3:
                    state.comment(cid, {"body": rng.choice(NOTES)}, state.admin["id"])
                elif step % 2 == 0:
                    state.accept_message(cid, {"body": rng.choice(REPLIES)}, inbound=False, author_id=state.admin["id"])
                else:
                    state.accept_message(None, {"sender": {"handle": handle}, "body": rng.choice(FOLLOWUPS),
                                                "metadata": {"thread_ref": f"seed-{i}"}},
                                         inbound=True, author_id=None, channel_id=state.channel["id"])
            roll = rng.random()
            if roll < 0.3:
                state.update(cid, {"status": "archived"})
            elif roll < 0.45 and state.ticketing:
                state.update(cid, {"status_id": state.status_of_category("waiting")})
            if rng.random() < 0.4:
                state.update(cid, {"tag_ids": [state.tag_named(rng.choice(("billing", "bug", "vip")))["id"]]})
    finally:
        state.clock, state.listeners, state.send_delay_s = real_clock, listeners, delay
    return made
