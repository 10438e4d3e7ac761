"""Realistic seed data for the Jira simulator: customers and issues with conversations, spread in time.

Deterministic for a given ``random.Random``; no webhooks are fired (the state is written directly).
Topics and replies are the Zendesk seed's, so both simulators tell the same stories.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from deskhand.sim.jira_adf import text_to_adf
from deskhand.sim.jira_state import JiraState, User
from deskhand.sim.zendesk_seed import FIRST, FOLLOWUPS, LAST, REPLIES, TOPICS

PRIORITY_NAMES = ("Low", "Medium", "Medium", "High", "Highest")


def seed_issues(state: JiraState, n: int, rng: random.Random, *, now: float, days: float = 90.0,
                project: str = "SUP") -> list[str]:
    """Create ``n`` issues (0–3 follow-up comments each) created within the last ``days``; their keys."""
    proj = state.project(project)
    if proj is None:
        raise ValueError(f"no project {project!r} in the simulator")
    agents = [u for u in state.users.values() if u.account_type == "atlassian"]
    customers: list[User] = []
    statuses = [s.id for s in proj.workflow.statuses]
    keys = []
    with state.lock:
        for _ in range(n):
            if not customers or rng.random() < 0.6:
                first, last = rng.choice(FIRST), rng.choice(LAST)
                email = f"{first.lower()}.{last.lower()}.{len(customers)}@example.com"
                customers.append(state.add_user(User(f"qm:seed-{len(customers):06d}", f"{first} {last}", email,
                                                     "customer")))
            customer = rng.choice(customers)
            subject, body, tags, _group = rng.choice(TOPICS)
            created_s = now - rng.uniform(3600, days * 86400)
            created = datetime.fromtimestamp(created_s, UTC)
            issue = state.create_issue(
                proj, summary=subject, issuetype=proj.issue_types[0], reporter=customer.account_id, now=created,
                description=text_to_adf(body), priority=rng.choice(PRIORITY_NAMES), labels=list(tags),
            )
            at = created_s
            agent = rng.choice(agents)
            for turn in range(rng.randint(0, 3)):
                at = min(at + rng.uniform(600, 86400), now)
                staff = turn % 2 == 0
                text = rng.choice(REPLIES if staff else FOLLOWUPS)
                state.add_comment(issue, author=agent.account_id if staff else customer.account_id,
                                  body=text_to_adf(text), now=datetime.fromtimestamp(at, UTC),
                                  internal=staff and rng.random() < 0.15)
            issue.status = rng.choice(statuses)
            if issue.status != proj.workflow.initial:
                issue.assignee = agent.account_id
            keys.append(issue.key)
    return keys
