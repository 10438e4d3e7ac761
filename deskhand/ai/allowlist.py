"""What a public reply may carry, and what knowledge may say (issue 14, finding 3).

- **The tenant's allow-list** (`tenant_domains`): the account setting ``allowed_domains`` (comma
  separated, ``deskhand connect … --setting allowed_domains=help.acme.com,acme.com``) plus, always,
  the helpdesk's own host and the hosts of the tenant's knowledge-base article URLs. A domain allows
  itself and its subdomains.
- **Links and contacts** (`outside_links`): every URL, bare host, e-mail address and phone number of
  a public reply must be on that list (phones: the ones the tenant's own knowledge base publishes).
- **Asking for secrets or money** (`asks_for_secrets`): an instruction to the reader to give, send,
  confirm or enter a password, a code, card details or a payment is never sent automatically.
- **Text that addresses an assistant** (`injection_reason`): knowledge ("ignore previous
  instructions", "assistant instruction", "system:" role markers …) is flagged at ingest and kept
  out of retrieval.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from deskhand.ai.generalise import host_allowed

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\"'\]]+", re.IGNORECASE)
_HOST = re.compile(
    r"(?<![\w@/.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:com|net|org|io|co|app|dev|info|biz|me|us|uk|de|fr|"
    r"eu|ai|xyz|online|site|support|help|link|ly|gl|to|cc|ru|cn|tk|top|example|test|local|internal)(?::\d+)?(?![\w-])",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d ().-]{6,}\d(?![\w.])")
_SECRET = (
    r"(?:pass(?:word|code|phrase)s?|pins?|(?:one[- ]time|verification|security|sms|2fa|mfa|login|reset|recovery|"
    r"backup|authentication|auth)\s+codes?|codes?|otps?|credentials?|card (?:number|details)|credit card|cvv|cvc|"
    r"security code|bank (?:details|account)|account number|iban|social security|ssn|api keys?|tokens?|"
    r"payments?|gift cards?|wire transfer|bitcoin|crypto)"
)
_ASK = re.compile(
    rf"\b(?:give|send|share|tell|provide|reply with|respond with|email|text|forward|read out|let us know|include|"
    rf"post|paste|dm)\s+(?:(?:us|me|it to us|them to us|our (?:team|agents?|support))\s+)?(?:with\s+)?"
    rf"(?:your|the|a|an|any|all)\s+(?:[\w'-]+\s+){{0,2}}?{_SECRET}\b"
    rf"|\bwhat(?:'s| is| are)\s+your\s+(?:[\w'-]+\s+){{0,2}}?{_SECRET}\b"
    rf"|\bsend\s+(?:a|the)\s+payment\b|\bpay\s+(?:a|the|an)\s+(?:\w+\s+)?(?:fee|deposit)\b",
    re.IGNORECASE,
)
_NEVER_ASK = re.compile(r"\b(?:never|not|n't|no one|nobody)\b[^.!?\n]{0,40}$", re.IGNORECASE)
_INJECTION = [
    (re.compile(r"\bignore\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier|preceding|other)\b"
                r"[^.\n]{0,40}\b(?:instructions?|rules?|prompts?|messages?|directions?)", re.I),
     "tells the reader to ignore previous instructions"),
    (re.compile(r"\b(?:disregard|forget|override)\b[^.\n]{0,30}\b(?:instructions?|rules?|prompts?|guidelines?)\b",
                re.I), "tells the reader to disregard instructions"),
    (re.compile(r"\b(?:assistant|ai|bot|model|llm|chatbot|gpt)\s+(?:instructions?|note|directive|override)\b", re.I),
     "carries instructions for an assistant"),
    (re.compile(r"\b(?:note|instructions?|message)\s+(?:to|for)\s+(?:the\s+)?(?:assistant|ai|bot|model|llm|chatbot)\b",
                re.I), "carries instructions for an assistant"),
    (re.compile(r"\b(?:you are|act as|pretend to be|you must now)\s+(?:an?\s+)?(?:assistant|ai|chatbot|language "
                r"model|dan)\b", re.I), "tells an assistant who to be"),
    (re.compile(r"(?m)^\s*(?:<\|?)?\s*(?:system|assistant|developer)\s*(?:\|>)?\s*:", re.I), "carries a role marker"),
    (re.compile(r"<\|(?:im_start|im_end|system|endoftext)\|>|\[/?INST\]|<</?SYS>>|</?system>", re.I),
     "carries a role marker"),
    (re.compile(r"\b(?:system prompt|jailbreak|prompt injection)\b", re.I), "talks about the assistant's prompt"),
]


def host_of(url: str | None) -> str | None:
    if not url:
        return None
    full = url if "://" in url else "http://" + url
    try:
        return (urlsplit(full).hostname or "").lower() or None
    except ValueError:
        return None


def tenant_domains(
    settings: Mapping[str, Any], *, helpdesk_roots: Iterable[str | None] = (), kb_urls: Iterable[str | None] = ()
) -> tuple[str, ...]:
    """The allow-list: configured ``allowed_domains`` + the helpdesk's host + the knowledge base's hosts."""
    raw = settings.get("allowed_domains") or ()
    configured = raw.split(",") if isinstance(raw, str) else list(raw)
    hosts = [str(d).strip().lower().lstrip(".") for d in configured if str(d).strip()]
    hosts += [h for h in (host_of(u) for u in [*helpdesk_roots, *kb_urls]) if h]
    return tuple(dict.fromkeys(hosts))


def outside_links(reply: str, allowed_hosts: Iterable[str], *, allowed_phones: Iterable[str] = ()) -> list[str]:
    """Why `reply` may not be sent: each kind of link or contact in it that is not on the allow-list."""
    allowed = list(allowed_hosts)
    reasons = []
    for m in _URL.finditer(reply):
        host = host_of(m.group(0).rstrip(".,;:!?"))
        if not host or not host_allowed(host, allowed):
            reasons.append(f"links to {host or m.group(0)!r}, which is not on the account's allowed_domains")
            break
    for m in _EMAIL.finditer(reply):
        domain = m.group(0).rsplit("@", 1)[1].lower()
        if not host_allowed(domain, allowed):
            reasons.append(f"gives the e-mail address {m.group(0)!r}, whose domain is not on allowed_domains")
            break
    bare = _EMAIL.sub(" ", _URL.sub(" ", reply))
    for m in _HOST.finditer(bare):
        if not host_allowed(m.group(0), allowed):
            reasons.append(f"names the host {m.group(0)!r}, which is not on allowed_domains")
            break
    phones = {re.sub(r"\D", "", p) for p in allowed_phones}
    for m in _PHONE.finditer(bare):
        digits = re.sub(r"\D", "", m.group(0))
        if len(digits) >= 7 and digits not in phones and not re.fullmatch(r"(?:19|20)\d\d-\d\d-\d\d", m.group(0)):
            reasons.append("gives a phone number the account's knowledge base does not publish")
            break
    return reasons


def phones_in(texts: Iterable[str]) -> set[str]:
    return {re.sub(r"\D", "", m.group(0)) for t in texts for m in _PHONE.finditer(t)}


def asks_for_secrets(reply: str) -> list[str]:
    """Why `reply` may not be sent automatically: it asks the reader for a secret or a payment."""
    for m in _ASK.finditer(reply):
        start = max(reply.rfind(".", 0, m.start()), reply.rfind("\n", 0, m.start())) + 1
        if _NEVER_ASK.search(reply[start : m.start()]):
            continue  # "we will never ask you to send your password"
        return [f"asks the reader for a password, a code or a payment: {m.group(0)!r}"]
    return []


def injection_reason(text: str) -> str | None:
    """Why knowledge `text` addresses an assistant rather than a reader (None: it does not)."""
    for pattern, why in _INJECTION:
        m = pattern.search(text)
        if m:
            return f"{why} ({m.group(0).strip()[:60]!r})"
    return None


_PLAIN_NAME = re.compile(r"[^\W\d_][^\W\d_'’.-]*(?:['’-][^\W\d_]+)*", re.UNICODE)


def plain_name(name: str | None) -> str | None:
    """The requester's first name when it is a plain word (a URL, e-mail, phone number or markup in a
    display name must not reach a public greeting: the reply then says just "Hi,")."""
    first = (name or "").strip().split()[0] if (name or "").strip() else ""
    if not first or len(first) > 40 or not _PLAIN_NAME.fullmatch(first.rstrip(",")):
        return None
    if _URL.search(name or "") or _EMAIL.search(name or "") or re.search(r"[<>{}\[\]/\\@:]|\d{3}", name or ""):
        return None
    return first.rstrip(",")
