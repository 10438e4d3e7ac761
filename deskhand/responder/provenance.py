"""Last checks before a reply goes out on its own (issue 14): where its knowledge came from, and
what it points the reader to. Only an `auto_reply` is screened; a failing one becomes a draft.

- **Derived knowledge needs a second voice.** A source made from another customer's solved ticket
  (`resolved_ticket`) supports an automatic reply only when a person approved that article once
  (`deskhand kb approve`) or when the tenant's own knowledge (knowledge-base articles and approved
  derived articles) supports every sentence of the reply as well.
- **Only allowed links and contacts.** URLs, hosts and e-mail addresses must be on the account's
  allow-list (`allowed_domains` + the helpdesk's and knowledge base's own hosts); phone numbers must
  be ones the knowledge base itself publishes.
- **No asking for secrets.** A reply asking the reader for a password, a code or a payment is never
  sent automatically.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from deskhand.ai.allowlist import asks_for_secrets, outside_links, phones_in, tenant_domains
from deskhand.ai.guardrails import GROUNDING_THRESHOLD, content_sentences, similarity_support
from deskhand.model import Decision, Route, Source
from deskhand.runtime import Runtime
from deskhand.store import AccountRecord

DERIVED = "resolved_ticket"


def article_of(source: Source) -> str:
    return source.id.rsplit("#", 1)[0]


def allowed_hosts(rt: Runtime, account: AccountRecord) -> tuple[str, ...]:
    root = rt.connector(account).values.get("root")
    urls = [a["url"] for a in rt.store.list_articles(account.tenant_id)]
    return tenant_domains(account.settings, helpdesk_roots=[root], kb_urls=urls)


def derived_problem(reply: str, sources: Sequence[Source], approved: set[str]) -> str | None:
    """Why the reply rests on unreviewed derived knowledge alone (None: it does not)."""
    unreviewed = [s for s in sources if s.kind == DERIVED and article_of(s) not in approved]
    if not unreviewed:
        return None
    trusted = [s for s in sources if s.kind != DERIVED or article_of(s) in approved]
    sentences = content_sentences(reply)
    if trusted and sentences:
        scores = similarity_support(sentences, trusted, None)
        if all(score >= GROUNDING_THRESHOLD for score in scores):
            return None  # the knowledge base says the same: the derived article only agrees with it
    return (
        f"rests on {len(unreviewed)} article(s) derived from other customers' solved tickets "
        f"({', '.join(sorted({article_of(s) for s in unreviewed})[:3])}) that no knowledge-base article confirms "
        "and no one has approved (deskhand kb review / kb approve)"
    )


def screen(
    rt: Runtime, account: AccountRecord, decision: Decision, sources: Sequence[Source]
) -> tuple[Decision, dict[str, Any]]:
    """`decision`, demoted to a draft when its automatic reply fails a check; and what was found."""
    if decision.route is not Route.AUTO_REPLY or not decision.reply:
        return decision, {}
    from deskhand.knowledge_reviews import approved_ids

    reply = decision.reply
    reasons: list[str] = []
    used = list(decision.sources) or list(sources)
    if any(s.kind == DERIVED for s in used):
        why = derived_problem(reply, used, approved_ids(rt.store, account.tenant_id))
        if why:
            reasons.append(why)
    published = phones_in(s.text for s in used if s.kind != DERIVED)
    reasons += outside_links(reply, allowed_hosts(rt, account), allowed_phones=published)
    reasons += asks_for_secrets(reply)
    if not reasons:
        return decision, {"passed": True}
    demoted = dataclasses.replace(
        decision, route=Route.DRAFT, reasons=(*decision.reasons, *(f"not sent automatically: {r}" for r in reasons))
    )
    return demoted, {"passed": False, "reasons": reasons}
