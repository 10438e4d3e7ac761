"""Knowledge from other customers' solved tickets, generalised rather than quoted (issue 14).

A resolution a human wrote for Bob ("I've reset it to Tmp-4821!", "your workspace acme-prod",
"see https://acme-prod.internal/admin") must not reach Alice's reply. ``generalise`` keeps only the
sentences that carry nothing specific to that customer: a sentence with anything secret-like or
identifying is **dropped whole**, never partly masked (a masked "your password is [x]" still tells
the next reader that a password was handed out, and a mask that misses one character leaks it).

A sentence is dropped when it has any of:

- a credential handed out or named with a value (password / code / PIN / token / key … is|to|: X),
  a temporary or one-time credential of any kind, or a secret-shaped token (API key prefixes,
  JWTs, long hex/base64 runs, mixed letter-digit tokens such as ``Tmp-4821``, 4+ digit codes);
- a URL or host name whose domain is not on the tenant's allow-list;
- an e-mail address, phone number, amount of money, street address, card/IBAN (``deskhand.ai.scrub``);
- an account / workspace / organisation name (a quoted, hyphenated, dotted, digit-bearing or
  capitalised word next to "workspace", "account", "org", "tenant", "subdomain" …);
- a person's name: one we know (requester, agents), or a capitalised word inside the sentence that
  is neither a known interface word (``vocabulary``: the built-in list plus the tenant's knowledge
  base's own capitalised words) nor a label after "click", "open", "go to" ….

Greetings and sign-offs are cut first (they are never useful knowledge). What remains is what a
knowledge-base article would say: the steps, not the case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from deskhand.ai.scrub import scrub

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])|\n+")
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening))\b[^,.!\n]{0,40}[,.!]\s*", re.IGNORECASE
)
_SIGNOFF = re.compile(
    r"(?:\n|^|(?<=[.!?])\s)\s*(?:best(?: regards| wishes)?|kind regards|regards|cheers|thanks(?: again)?|thank you|"
    r"many thanks|sincerely|all the best|--|—)\s*,?\s*(?:\n\s*)?[^\n]{0,40}\s*$",
    re.IGNORECASE,
)
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\"']+", re.IGNORECASE)
_HOST = re.compile(
    r"(?<![\w@/.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,24})(?::\d+)?(?![\w-])|"
    r"\b\d{1,3}(?:\.\d{1,3}){3}\b",
    re.IGNORECASE,
)
_FILE_EXT = frozenset(
    "csv pdf txt png jpg jpeg gif zip json xml html htm md doc docx xls xlsx log exe dmg js css".split()
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_AMOUNT = re.compile(
    r"(?:[$€£¥₹]\s?\d[\d,.]*|\b\d[\d,.]*\s?(?:usd|eur|gbp|dollars?|euros?|pounds?|cents?)\b)", re.IGNORECASE
)
_CREDENTIAL = (
    r"pass(?:word|code|phrase)s?|pwd|pins?|otps?|(?:verification|security|confirmation|reset|recovery|backup|"
    r"login|access|auth(?:entication)?|invite|invitation|promo|discount|coupon|voucher|activation|license|licence)"
    r"\s+(?:codes?|keys?|tokens?|links?)|codes?|tokens?|(?:api|secret|private|access|license|licence)\s+keys?|"
    r"secrets?|credentials?|user\s?names?|logins?"
)
_TEMPORARY = re.compile(
    r"\b(?:temp(?:orary)?|one[- ]time|single[- ]use|interim|provisional)\s+(?:pass(?:word|code)|pin|code|"
    r"login|credentials?|token|key)s?\b|\b(?:otp|2fa code|mfa code)s?\b",
    re.IGNORECASE,
)
_STATED = re.compile(
    rf"\b(?:{_CREDENTIAL})\b[^.!?\n]{{0,30}}?(?:\bis\b|\bwas\b|\bto\b|\bas\b|:|=|\bset to\b|\breset to\b|"
    rf"\bchanged to\b)\s*[\"'`“‘(]?(\S+)",
    re.IGNORECASE,
)
_NOT_A_VALUE = frozenset(
    "a an the your you yours our my its their this that it one something anything nothing whatever "
    "reset change update recover regain access sign log login make be get use open click go continue "
    "expire work the temporary new default from in on under at for with and or of by".split()
)
_SECRET_SHAPES = re.compile(
    r"\b(?:sk|pk|rk)_(?:live|test)_\w+|\bsk-[\w-]{8,}|\bgh[pousr]_\w{8,}|\bxox[abpr]-[\w-]+|\bAKIA[0-9A-Z]{12,}|"
    r"\beyJ[\w-]{8,}\.[\w-]+|\b(?:bearer|basic)\s+[\w.=+/-]{8,}|\b[a-f0-9]{16,}\b|\b[A-Za-z0-9+/_-]{24,}={0,2}",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"[\"“`'‘]([^\"”`'’\n]{2,40})[\"”`'’]")
_MIXED = re.compile(r"(?<![\w.-])(?=[\w!@#$%^&*+=.-]*\d)(?=[\w!@#$%^&*+=.-]*[A-Za-z])[\w!@#$%^&*+=-]{4,}(?![\w-])")
_DIGITS = re.compile(r"(?<![\w.,])#?\d{4,}(?![\w])")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_PLACE = (
    r"workspaces?|accounts?|org(?:ani[sz]ation)?s?|tenants?|sub-?domains?|instances?|sites?|projects?|"
    r"companies|company|teams?|stores?|shops?|spaces?|environments?|boards?|channels?|servers?|databases?|"
    r"user\s?names?|handles?|domains?|profiles?|repos?(?:itory)?"
)
_PLACE_THEN_NAME = re.compile(
    rf"\b(?:{_PLACE})\b\s+(?:(?:called|named|name|id|is|:)\s+)?([\"'“‘`]?[\w][\w.&'’-]*)", re.IGNORECASE
)
_NAME_THEN_PLACE = re.compile(rf"([\"'“‘`]?[\w][\w.&'’-]*)\s+(?=(?:{_PLACE})\b)", re.IGNORECASE)
# names that are values: "your subdomain from blueowl to blueowl-studio", "username: anna"
_NAMED_VALUE = re.compile(
    r"\b(?:sub-?domains?|user\s?names?|handles?|workspaces?|tenants?|instances?|org(?:ani[sz]ation)?s?)\b"
    r"\s+(?:is|was|from|to|called|named|:|=|id)\s+[\"'“‘`]?([\w][\w.&'’-]*)",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z][\w'’-]*")
_UI_VERB = re.compile(
    r"\b(?:click|tap|press|select|choose|open|go to|navigate to|under|in|on|the|via|enable|disable|toggle|"
    r"turn on|turn off|use)\s+$",
    re.IGNORECASE,
)
INTERFACE_WORDS = frozenset(
    """I I'm I've I'll I'd OK API APIs SSO SAML SCIM MFA 2FA URL URLs CSV PDF SMS FAQ UI IP DNS HTTP HTTPS JSON
    Settings Setting Security Billing Account Accounts Admin Administrator Profile Password Passwords Save Sign
    Log Login Logout Forgot Reset Update Delete Remove Export Import Download Upload Invite Invites Team Teams
    Members Member Users User Plan Plans Subscription Subscriptions Invoice Invoices Payment Payments Method
    Methods Two-factor Two-Factor Authentication Authenticator Keys Key Integrations Integration Notifications
    Email Emails Help Support Dashboard Home Menu Apply Confirm Cancel Continue Next Back Submit Send Verify
    Enable Disable Edit Add New Create Manage Change Changes Details Overview General Preferences Privacy
    Organization Organisation Workspace Workspaces Roles Role Permissions Owner Owners Data Reports Report
    Chrome Firefox Safari Edge Windows Mac macOS iOS Android Google Microsoft Apple Outlook Gmail Slack Zoom
    Okta Azure Excel Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April
    May June July August September October November December Pro Business Enterprise Free Starter Basic
    Premium Team's Yes No Done Close Open Refund Refunds Credit Card Cards Checkout Cart Order Orders App
    Apps Web Mobile Desktop Browser Cache Cookies Incognito Private Inbox Spam Junk Trash Folder Folders
    Files File Documents Document Billing's Sources Source Note Step Steps Tip Also If Once When Then After
    Before Please Thanks Sorry Unfortunately However""".split()
)


# hyphenated words a support answer uses; any other hyphenated token ("acme-prod") is taken for a name
_HYPHENATED = re.compile(r"(?<![\w.-])[a-z][a-z0-9]*(?:-[a-z0-9]+)+(?![\w-])", re.IGNORECASE)
COMMON_HYPHENATED = frozenset(
    """two-factor multi-factor sign-in sign-up sign-out log-in log-out e-mail e-mails one-time built-in add-on
    add-ons pop-up pop-ups drop-down re-enter re-send re-run re-ran re-issued re-issue re-invite up-to-date
    self-service double-check follow-up opt-in opt-out read-only real-time third-party single-sign-on time-out
    check-out step-by-step end-to-end set-up sign-ins log-ins re-sync re-login in-app non-profit co-owner
    so-called well-known long-term short-term full-text plain-text auto-renew auto-renewal pre-filled
    first-time day-to-day per-user per-seat on-premise on-premises cross-device right-click left-click
    six-digit 6-digit 4-digit two-step x-axis y-axis anti-virus e-commerce""".split()
)


@dataclass(frozen=True, slots=True)
class Generalised:
    text: str  # the sentences kept, in order
    kept: tuple[str, ...] = ()
    dropped: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (sentence, why)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text or "") if s and s.strip()]


def strip_frame(text: str) -> str:
    """The text without its greeting line and its sign-off."""
    out = _GREETING.sub("", text.strip(), count=1)
    return _SIGNOFF.sub("", out).strip()


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    host = host.lower().strip(".").split(":")[0]
    return any(host == d or host.endswith("." + d) for d in (a.lower().strip(".") for a in allowed) if d)


def why_specific(
    sentence: str,
    *,
    names: Iterable[str] = (),
    allowed_hosts: Iterable[str] = (),
    vocabulary: Iterable[str] = (),
) -> str | None:
    """Why `sentence` is specific to one customer (None: it is general)."""
    allowed = list(allowed_hosts)
    if _TEMPORARY.search(sentence):
        return "a temporary or one-time credential"
    for m in _STATED.finditer(sentence):
        value = m.group(1).strip("\"'`”’).,;:!?").lower()
        if value and value not in _NOT_A_VALUE:
            return "a credential with its value"
    if _SECRET_SHAPES.search(sentence):
        return "a key or token"
    for m in _URL.finditer(sentence):
        url = m.group(0) if "://" in m.group(0) else "http://" + m.group(0)
        if not host_allowed(urlsplit(url).hostname or "", allowed):
            return "a link outside the allow-list"
    for m in _HOST.finditer(_URL.sub(" ", _EMAIL.sub(" ", sentence))):
        host = m.group(0)
        if host.rsplit(".", 1)[-1].lower() in _FILE_EXT or re.fullmatch(r"v?\d+(?:\.\d+){1,2}", host):
            continue
        if not host_allowed(host, allowed):
            return "a host name outside the allow-list"
    if _EMAIL.search(sentence):
        return "an e-mail address"
    if _AMOUNT.search(sentence):
        return "an amount of money"
    if scrub(sentence, names) != sentence:
        return "personal data (name, phone, number, address, card)"
    if _MIXED.search(sentence):
        return "a code or identifier"
    if any(not _YEAR.match(d.group(0)) for d in _DIGITS.finditer(sentence)):
        return "a number (code, id or reference)"
    if _QUOTED.search(sentence) and re.search(rf"\b(?:{_CREDENTIAL}|{_PLACE})\b", sentence, re.IGNORECASE):
        return "a quoted name or value"
    for m in _PLACE_THEN_NAME.finditer(sentence):
        if _names_a_place(m.group(1).strip("\"'“‘`”’"), vocabulary, capitals=True):
            return "an account or workspace name"
    for m in _NAME_THEN_PLACE.finditer(sentence):
        if _names_a_place(m.group(1).strip("\"'“‘`”’"), vocabulary, capitals=m.start() > 0):
            return "an account or workspace name"
    for m in _NAMED_VALUE.finditer(sentence):
        if m.group(1).lower() not in _NOT_A_VALUE:
            return "an account or workspace name"
    for m in _HYPHENATED.finditer(sentence):
        word = m.group(0).lower()
        if word not in COMMON_HYPHENATED and word not in vocabulary and m.group(0) not in vocabulary:
            return "an identifier (account, workspace or host name)"
    if proper := _proper_noun(sentence, vocabulary):
        return f"a name ({proper[:1]}…)"
    return None


def _names_a_place(word: str, vocabulary: Iterable[str], *, capitals: bool) -> bool:
    word = word.strip("-.,;:!?")
    if not word:
        return False
    if re.search(r"[\d_.&-]", word) and not re.fullmatch(r"(?:two|multi|single|sign|log|e|sub)-\w+", word, re.I):
        return True
    return capitals and word[:1].isupper() and word not in INTERFACE_WORDS and word not in set(vocabulary)


def _proper_noun(sentence: str, vocabulary: Iterable[str]) -> str | None:
    """A capitalised word inside the sentence that is no interface word (a person's or company's name)."""
    known = INTERFACE_WORDS | set(vocabulary)
    for m in _WORD.finditer(sentence):
        word = m.group(0).rstrip("'’s").rstrip("'’")
        if m.start() == 0 or not word[:1].isupper() or word.isupper() or word in known:
            continue
        before = sentence[: m.start()]
        if re.search(r"(?:^|[.!?:>\"“‘(\-*•]|\d[.)])\s*$", before):  # a new sentence, list item, label, quote
            continue
        if _UI_VERB.search(before) or re.search(r"\b(?:[A-Z][\w-]*)\s+$", before):  # a label ("Click Save Now")
            continue
        return word
    return None


def generalise(
    text: str,
    *,
    names: Iterable[str] = (),
    allowed_hosts: Iterable[str] = (),
    vocabulary: Iterable[str] = (),
) -> Generalised:
    """`text` without its frame and without every sentence specific to its customer."""
    names, allowed, vocab = list(names), list(allowed_hosts), frozenset(vocabulary)
    kept: list[str] = []
    dropped: list[tuple[str, str]] = []
    for sentence in split_sentences(strip_frame(text)):
        why = why_specific(sentence, names=names, allowed_hosts=allowed, vocabulary=vocab)
        if why is None:
            kept.append(sentence)
        else:
            dropped.append((sentence, why))
    return Generalised(" ".join(kept), tuple(kept), tuple(dropped))


def vocabulary_of(texts: Iterable[str]) -> frozenset[str]:
    """Capitalised and hyphenated words of a tenant's own knowledge base (its product's own words)."""
    texts = list(texts)
    capitals = {w for t in texts for w in _WORD.findall(t) if w[:1].isupper()}
    return frozenset(capitals | {w.lower() for t in texts for w in _HYPHENATED.findall(t)})
