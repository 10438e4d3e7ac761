"""The unified vocabulary: plain typed values, no I/O.

Every provider is translated into these values at the edge (the provider engine) and every
later step (queue, responder, store, surfaces) speaks only this language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

DEFAULT_TENANT = "default"


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"  # waiting on the customer
    ON_HOLD = "on_hold"
    SOLVED = "solved"
    CLOSED = "closed"


class Visibility(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Urgency(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Category(StrEnum):
    """The seed taxonomy; an account may bring its own (categories are plain strings elsewhere)."""

    BILLING = "billing"
    BUG_REPORT = "bug_report"
    FEATURE_REQUEST = "feature_request"
    HOW_TO = "how_to"
    ACCOUNT_ACCESS = "account_access"
    OUTAGE_REPORT = "outage_report"
    OTHER = "other"


class EventKind(StrEnum):
    TICKET_CREATED = "ticket_created"
    TICKET_UPDATED = "ticket_updated"
    COMMENT_ADDED = "comment_added"
    TICKET_DELETED = "ticket_deleted"


class ActionKind(StrEnum):
    REPLY = "reply"
    NOTE = "note"
    SET_STATUS = "set_status"
    ADD_TAGS = "add_tags"
    ASSIGN = "assign"
    SET_PRIORITY = "set_priority"
    ESCALATE = "escalate"


class Route(StrEnum):
    AUTO_REPLY = "auto_reply"
    DRAFT = "draft"
    HUMAN = "human"
    IGNORE = "ignore"


class Role(StrEnum):
    END_USER = "end_user"
    AGENT = "agent"
    ADMIN = "admin"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Contact:
    """A customer (requester) as the helpdesk knows them."""

    id: str
    name: str | None = None
    email: str | None = None
    organization_id: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    """An agent or admin of the helpdesk (or an end user, when a provider mixes them)."""

    id: str
    name: str | None = None
    email: str | None = None
    role: Role = Role.UNKNOWN


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Comment:
    id: str
    ticket_id: str
    body: str
    visibility: Visibility
    author_id: str | None = None
    created_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def public(self) -> bool:
        return self.visibility is Visibility.PUBLIC


@dataclass(frozen=True, slots=True)
class Ticket:
    id: str
    subject: str
    description: str
    status: Status
    raw_status: str
    priority: Priority | None = None
    requester: Contact | None = None
    assignee_id: str | None = None
    team_id: str | None = None
    tags: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    comments: tuple[Comment, ...] = ()
    url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def text(self) -> str:
        """Subject and description together: what triage and retrieval read."""
        return f"{self.subject}\n\n{self.description}".strip()


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened in a helpdesk, normalised. `delivery_id` dedupes re-deliveries."""

    provider: str
    account: str
    kind: EventKind
    ticket_id: str
    delivery_id: str
    occurred_at: datetime | None = None
    comment_id: str | None = None
    author_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Triage:
    category: str
    urgency: Urgency
    confidence: float  # of the category, in [0, 1]
    sentiment: float | None = 0.0  # compound score in [-1, 1]; None: not assessed (see `language`)
    scores: dict[str, float] = field(default_factory=dict)
    language: str | None = None  # ISO 639-1 of the message, when detected


@dataclass(frozen=True, slots=True)
class Source:
    """One piece of evidence retrieved for a reply."""

    id: str
    title: str
    text: str
    score: float
    kind: str = "knowledge_base"  # knowledge_base | resolved_ticket
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """One effect on the helpdesk. `key` makes it idempotent: the same key is performed once.

    A helpdesk that accepts a write asynchronously (Front's 202 + ``message_uid``) tells
    `on_accepted` what identifies the accepted write *before* waiting for it to land, so that it is
    recorded durably; a retry passes it back as `accepted`, and the hook then waits for that write
    instead of sending it again."""

    kind: ActionKind
    ticket_id: str
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    accepted: dict[str, Any] | None = None
    on_accepted: Callable[[dict[str, Any]], None] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the responder decided for one event, and why. Stored; its actions are planned from it."""

    route: Route
    triage: Triage | None
    confidence: float
    rules: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ()
    reply: str | None = None
