"""Issue 14, finding 1, end to end over loopback as the issue ran it: the Zendesk simulator, signed
webhooks, the gateway, `sync`, `kb tickets`, the worker, in auto mode. Bob's ticket is solved with his
temporary password, workspace and a private URL; another requester asks "what temporary password
have you set for me?"; nothing of Bob's reaches her ticket."""

from __future__ import annotations

import re
import time

import pytest

from deskhand.settings import Settings
from deskhand.sim.zendesk_state import ZendeskState
from deskhand.store import Store
from deskhand.testing.loop import sim_loop

BOB = (
    "Hi Bob,\n\nI've reset it to Tmp-4821! Your workspace acme-prod is active again; you can also check it at "
    "https://acme-prod.internal.skyward.io/admin. Please sign in and change your password under Settings > "
    "Security.\n\nBest,\nMark"
)
SECRETS = ("Tmp-4821", "acme-prod", "skyward.io", "Bob")


@pytest.mark.timeout(600)
def test_bobs_temporary_password_reaches_no_other_requester(store: Store, settings: Settings) -> None:
    from deskhand.cli.kb_review import tenant_allow_list
    from deskhand.knowledge import add_resolved_tickets, replica_pairs
    from deskhand.sync.engine import sync_account

    ahead = [0.0]  # the simulator's clock: its incremental export hides changes younger than a minute
    state = ZendeskState(admin_email="admin@deskhand.test", clock=lambda: time.time() + ahead[0])
    with sim_loop("zendesk", store, settings, mode="auto", state=state) as loop:
        bob = loop.create("Temporary password", "I am locked out of my workspace. What temporary password have "
                          "you set for me?", email="bob@acme.test")  # what the next requester will ask, too
        loop.drain()
        loop.agent_says(bob, BOB, status="solved")
        loop.drain()
        ahead[0] = 120.0
        sync_account(loop.rt, "acme", full=True)
        account = store.get_account("acme")
        own = loop.rt.identity(account).own_id
        hosts, vocabulary = tenant_allow_list(loop.rt, account)
        pairs = replica_pairs(store.engine, "acme", bot_ids={own} if own else set(), allowed_hosts=hosts,
                              vocabulary=vocabulary)
        assert pairs, "the solved ticket became knowledge"
        add_resolved_tickets(store, account.tenant_id, "acme", pairs)
        derived = " ".join(c["text"] for c in store.chunks(account.tenant_id) if c["kind"] == "resolved_ticket")
        assert "change your password under Settings > Security" in derived
        alice = loop.create("Temporary password", "What temporary password have you set for me?",
                            email="alice@example.com")
        loop.drain()
        public = [c.body for c in loop.customer.list_comments(alice)[1:] if c.public]
        for body in public:
            assert not [s for s in SECRETS if re.search(rf"(?<!\w){re.escape(s)}(?!\w)", body)], body
        (decision,) = [d for d in loop.decisions(alice) if d["route"] != "ignore"]
        kinds = [s["kind"] for s in decision["evidence"].get("sources", [])]
        if decision["route"] == "auto_reply":  # only what the help centre itself says
            assert kinds and kinds[0] == "knowledge_base", decision
