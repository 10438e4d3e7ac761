"""Personal data out of past tickets before anything is embedded, and tickets → problem/resolution pairs.

``scrub`` replaces, in this order: e-mail addresses ``[email]``, URLs with a query string (tokens,
reset links) ``[url]``, IBANs ``[account]``, payment card numbers (13–19 digits passing the Luhn
check) ``[card]``, phone numbers ``[phone]``, account/order/customer numbers named as such and any
other run of 6+ digits ``[number]``, street addresses (house number + street words + a street type)
and postcodes after a city/state ``[address]``, and names: the ones we know (requester, agents —
``names=``), names after a greeting or a sign-off, and after "my name is" ``[name]``. It is regular
expressions, no statistical model (none that runs offline ships on PyPI without a model download):
it removes what it can recognise and says nothing about what it cannot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from deskhand.model import Status, Ticket

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL_QUERY = re.compile(r"https?://\S+\?\S+")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?!\w)")
_DATE = re.compile(r"(?:19|20)\d\d[-./]\d\d?[-./]\d\d?|\d\d?[-./]\d\d?[-./](?:19|20)?\d\d")
_NAMED_NUMBER = re.compile(
    r"\b((?:account|acct|order|customer|member|policy|invoice|reference|ref|ssn|social security)"
    r"\b(?:\s+(?:no\.?|number|id|#))?\s*[:#]?\s*)((?=[A-Z-]*\d)[A-Z0-9][A-Z0-9-]{3,})",
    re.IGNORECASE,
)
_LONG_NUMBER = re.compile(r"\b\d{6,}\b")
_STREET = re.compile(
    r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][\w'.-]*\s+){1,4}"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Close|"
    r"Square|Sq|Highway|Hwy|Parkway|Pkwy|Crescent|Strasse|Straße)\b\.?(?:,?\s*(?:Apt|Suite|Unit|#)\s*\w+)?"
)
_POSTCODE = re.compile(
    r"\b(?:[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}"  # UK
    r"|[A-Z][a-z]+,?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?)\b"  # City, ST 12345 (US)
)
_NAME_WORD = r"[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?"
_PERSON = rf"({_NAME_WORD}(?:\s+{_NAME_WORD})?)"
_GREETING = re.compile(rf"\b((?:Hi|Hello|Hey|Dear|Thanks|Thank you|Cheers|Regards|Best|Sincerely),?\s+){_PERSON}")
_MY_NAME = re.compile(rf"\b((?:my name is|this is)\s+){_PERSON}")
_SIGNOFF = re.compile(rf"(\n\s*(?:--|—|Best|Regards|Thanks|Cheers|Sincerely)[^\n]*\n\s*){_PERSON}\s*$")
_NOT_NAMES = frozenset({"Team", "Support", "There", "All", "Everyone", "Again", "So", "For", "In", "Advance"})


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and luhn(digits) else m.group(0)


def _phone(m: re.Match[str]) -> str:
    found = m.group(0)
    if _DATE.fullmatch(found.strip()) or len(re.sub(r"\D", "", found)) < 7:
        return found
    return "[phone]"


def _name(m: re.Match[str]) -> str:
    first = m.group(2).split()[0]
    return m.group(0) if first in _NOT_NAMES else f"{m.group(1)}[name]"


def scrub(text: str, names: Iterable[str] = ()) -> str:
    """``text`` with the personal data described above replaced by placeholders."""
    out = _EMAIL.sub("[email]", text)
    out = _URL_QUERY.sub("[url]", out)
    out = _IBAN.sub("[account]", out)
    out = _CARD.sub(_card, out)
    out = _STREET.sub("[address]", out)
    out = _POSTCODE.sub("[address]", out)
    out = _PHONE.sub(_phone, out)
    out = _NAMED_NUMBER.sub(lambda m: f"{m.group(1)}[number]", out)
    out = _LONG_NUMBER.sub("[number]", out)
    for name in sorted({n.strip() for n in names if n and len(n.strip()) > 1}, key=len, reverse=True):
        parts = [re.escape(p) for p in name.split() if len(p) > 1]
        for pattern in ([r"\s+".join(parts)] if len(parts) > 1 else []) + parts:
            out = re.sub(rf"\b{pattern}\b", "[name]", out, flags=re.IGNORECASE)
    out = _GREETING.sub(_name, out)
    out = _MY_NAME.sub(_name, out)
    return _SIGNOFF.sub(_name, out)


@dataclass(frozen=True, slots=True)
class ResolvedPair:
    ticket_id: str
    title: str  # scrubbed subject
    problem: str  # scrubbed: subject, description, the customer's comments before the first answer
    resolution: str  # scrubbed: the human agents' public answers
    url: str | None = None

    @property
    def text(self) -> str:
        return f"Problem: {self.problem}\n\nResolution: {self.resolution}"


def resolved_pair(
    ticket: Ticket,
    *,
    staff_ids: Iterable[str],
    bot_ids: Iterable[str] = (),
    names: Iterable[str] = (),
    allowed_hosts: Iterable[str] = (),
    vocabulary: Iterable[str] = (),
) -> ResolvedPair | None:
    """The problem → resolution pair of a solved/closed ticket (None: not solved, no human agent
    answered in public, or nothing general is left). Internal notes and bot answers (``bot_ids``, e.g.
    our own API user) are left out. Problem and resolution are generalised: every sentence specific to
    this customer is dropped whole (``deskhand.ai.generalise``), then what is left is scrubbed again."""
    from deskhand.ai.generalise import generalise

    if ticket.status not in (Status.SOLVED, Status.CLOSED):
        return None
    staff, bots = set(staff_ids), set(bot_ids)
    known = [*names, *([ticket.requester.name] if ticket.requester and ticket.requester.name else [])]
    problem = [ticket.subject, ticket.description]
    answers: list[str] = []
    for c in ticket.comments:  # in thread order
        if not c.public or c.author_id in bots or not c.body.strip():
            continue
        if c.author_id in staff:
            answers.append(c.body.strip())
        elif not answers and c.body.strip() != ticket.description.strip():
            problem.append(c.body.strip())
    if not answers:
        return None
    hosts, vocab = list(allowed_hosts), frozenset(vocabulary)

    def general(text: str) -> str:
        kept = generalise(text, names=known, allowed_hosts=hosts, vocabulary=vocab).text
        return scrub(kept, known)

    resolution = general("\n\n".join(answers))
    question = general("\n\n".join(p.strip() for p in problem if p.strip()))
    if not resolution:
        return None
    return ResolvedPair(
        ticket_id=ticket.id,
        title=general(ticket.subject) or "Solved ticket",
        problem=question or "(the customer's own details were removed)",
        resolution=resolution,
        url=ticket.url,
    )
