"""Hard rules configured per account (issue 7), beside the built-in ones of ``rules``.

Account settings read here (all optional):

- ``vip_organizations``: organisation ids or names (``Ticket.requester.organization_id`` or the
  ticket's ``organization_id`` in ``Ticket.raw``); ``vip_tags``: ticket tags;
  ``vip_fields``: ``field=value`` pairs matched against ``Ticket.raw["custom_fields"]``
  (``[{id, value}]``) or top-level raw keys;
- ``extra_legal_terms``: more legal / security-incident wording;
- ``supported_languages``: ISO 639-1 codes (default ``en``); other languages go to a human
  (``langdetect``, which ships its language profiles in the package; seeded, so deterministic);
- ``disabled_rules``: names of rules of this module that the account turns off.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from deskhand.ai.language import detect_language
from deskhand.model import Ticket

LEGAL_TERMS = (
    r"lawyers?", r"attorneys?", r"legal action", r"lawsuit", r"sue", r"suing", r"subpoena", r"court order",
    r"gdpr", r"data protection (?:request|authority|officer)", r"right to (?:erasure|be forgotten)",
    r"subject access request", r"dsar", r"cease and desist", r"litigation",
    r"security (?:incident|breach|vulnerability)", r"vulnerability", r"unauthori[sz]ed access", r"compromised",
    r"phishing", r"ransomware", r"data (?:breach|leak)", r"leaked", r"cve-\d{4}-\d+",
)


def _items(settings: Mapping[str, Any], key: str) -> list[str]:
    raw = settings.get(key) or []
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return [str(x).strip() for x in items if str(x).strip()]


def vip_requester(ticket: Ticket, text: str, settings: Mapping[str, Any]) -> str | None:
    orgs = {o.lower() for o in _items(settings, "vip_organizations")}
    org = (ticket.requester.organization_id if ticket.requester else None) or ticket.raw.get("organization_id")
    org_name = ticket.raw.get("organization_name") or ""
    if orgs and (str(org or "").lower() in orgs or str(org_name).lower() in orgs):
        return f"enterprise/VIP organisation {org or org_name}"
    tags = {t.lower() for t in _items(settings, "vip_tags")}
    hit = sorted(tags & {t.lower() for t in ticket.tags})
    if hit:
        return f"enterprise/VIP tag {hit[0]!r}"
    fields = dict(pair.split("=", 1) for pair in _items(settings, "vip_fields") if "=" in pair)
    values = {str(f.get("id")): f.get("value") for f in ticket.raw.get("custom_fields") or [] if isinstance(f, dict)}
    for name, wanted in fields.items():
        value = values.get(name.strip(), ticket.raw.get(name.strip()))
        if value is not None and str(value).strip().lower() == wanted.strip().lower():
            return f"enterprise/VIP field {name.strip()}={value}"
    return None


def legal_or_security(ticket: Ticket, text: str, settings: Mapping[str, Any]) -> str | None:
    terms = LEGAL_TERMS + tuple(re.escape(t) for t in _items(settings, "extra_legal_terms"))
    for term in terms:
        m = re.search(rf"\b{term}\b", text, re.IGNORECASE)
        if m:
            return f"legal / security wording: {m.group(0)!r}"
    return None


def unsupported_language(ticket: Ticket, text: str, settings: Mapping[str, Any]) -> str | None:
    supported = [code.lower() for code in _items(settings, "supported_languages")] or ["en"]
    language = detect_language(text)
    if language and language.split("-")[0] not in supported:
        return f"language {language} is not supported (supported: {', '.join(supported)})"
    return None


AccountRule = Callable[[Ticket, str, Mapping[str, Any]], str | None]
ACCOUNT_RULES: dict[str, AccountRule] = {
    "vip_requester": vip_requester,
    "legal_or_security": legal_or_security,
    "unsupported_language": unsupported_language,
}


def fire_account_rules(ticket: Ticket, text: str, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    off = set(_items(settings, "disabled_rules"))
    fired = []
    for name, rule in ACCOUNT_RULES.items():
        if name not in off and (reason := rule(ticket, text, settings)):
            fired.append((name, reason))
    return fired
