"""The API's public shapes (pydantic): what routes return and accept, and what OpenAPI describes.

The MCP server and the console use these same models; a field added here appears in all of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field, StringConstraints

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` as `cursor` for the next (None: this was the last)."""

    data: list[T]
    next_cursor: str | None = None


class DecisionAction(BaseModel):
    kind: str
    status: str
    key: str
    result: dict[str, Any] | None = None
    error: str | None = None


class Decision(BaseModel):
    """Why a ticket event got its route: triage, rules, evidence and the reply (if any)."""

    id: int
    account: str
    ticket_id: str
    event_id: int
    route: Literal["auto_reply", "draft", "human", "ignore"] | str
    category: str | None = None
    urgency: str | None = None
    confidence: float
    rules: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    evidence: dict[str, Any] = Field(default_factory=dict)
    reply: str | None = None
    created_at: datetime
    actions: list[DecisionAction] | None = None  # in GET /v1/decisions/{id}


class ApiKeyInfo(BaseModel):
    id: str
    tenant_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None = None


# -- the unified ticketing objects ------------------------------------------------------------
# Every object: `id` (unified, "<account>:<remote id>", stable), `remote_id` (the helpdesk's own),
# `account`, `provider`, timestamps (None where the helpdesk has none), `remote_data` on request
# (`?remote_data=true`: the helpdesk's own record, read live).

TagName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Status = Literal["new", "open", "pending", "on_hold", "solved", "closed"]
PriorityName = Literal["urgent", "high", "normal", "low"]


class Remote(BaseModel):
    id: str
    remote_id: str
    account: str
    provider: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    remote_data: dict[str, Any] | None = None


class Ticket(Remote):
    subject: str
    description: str
    status: Status
    raw_status: str  # the helpdesk's own status name
    priority: PriorityName | None = None
    requester_id: str | None = None
    assignee_id: str | None = None
    team_id: str | None = None
    tags: list[str] = Field(default_factory=list)
    url: str | None = None


class Comment(Remote):
    ticket_id: str  # the ticket's unified id
    body: str
    visibility: Literal["public", "internal"]
    author_id: str | None = None


class Person(Remote):
    """A contact (customer) or a user (agent/admin) of one helpdesk account."""

    name: str | None = None
    email: str | None = None
    role: Literal["end_user", "agent", "admin", "unknown"] = "unknown"


class Team(Remote):
    name: str


class Tag(BaseModel):
    name: str
    account: str
    provider: str
    tickets: int  # tickets in the replica carrying it


class TicketCreate(BaseModel):
    account: str = Field(max_length=64)
    subject: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=65_536)
    requester_name: str | None = Field(default=None, max_length=300)
    requester_email: str | None = Field(default=None, max_length=300)
    tags: list[TagName] = Field(default_factory=list, max_length=50)
    priority: PriorityName | None = None


class TicketUpdate(BaseModel):
    """What changes; each through the helpdesk's own mechanism (a Jira status through its transitions)."""

    status: Status | None = None
    priority: PriorityName | None = None
    assignee_id: str | None = Field(default=None, max_length=200)
    team_id: str | None = Field(default=None, max_length=200)
    add_tags: list[TagName] = Field(default_factory=list, max_length=50)


class CommentCreate(BaseModel):
    body: str = Field(min_length=1, max_length=65_536)
    visibility: Literal["public", "internal"] = "internal"  # internal is the safe default


# -- the review queue -------------------------------------------------------------------------


class ReviewVerdict(BaseModel):
    decision_id: int
    verdict: Literal["approved", "rejected"]
    body: str | None = None  # what was posted as the public reply
    edit_distance: float | None = None  # normalised, draft → posted
    reason: str | None = None
    reviewer: str
    result: dict[str, Any] | None = None  # the helpdesk's answer (comment id …)


class Draft(BaseModel):
    """A draft reply waiting for a human, with the evidence it rests on."""

    decision_id: int
    account: str
    ticket_id: str  # the ticket's unified id
    remote_ticket_id: str
    subject: str | None = None
    reply: str
    category: str | None = None
    urgency: str | None = None
    confidence: float
    reasons: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    sources: list[dict[str, Any]] = Field(default_factory=list)
    triage_scores: dict[str, float] = Field(default_factory=dict)
    guardrails: dict[str, Any] | None = None
    outcome: str | None = None  # the ledger's verdict so far (pending until reviewed or answered)
    verdict: ReviewVerdict | None = None
    created_at: datetime


class Approval(BaseModel):
    body: str | None = Field(default=None, min_length=1, max_length=65_536,
                             description="the reply to post instead of the draft (an edit); omit to post the draft")


class Rejection(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


# -- outbound webhooks --------------------------------------------------------------------------

EventType = Literal["ticket.created", "ticket.updated", "comment.created", "ticket.deleted", "decision.made",
                    "action.performed", "account.needs_reauth", "endpoint.disabled"]


class WebhookEndpointCreate(BaseModel):
    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://[^\s]+$")
    events: list[EventType] = Field(min_length=1, max_length=20)


class WebhookEndpoint(BaseModel):
    id: str
    url: str
    events: list[str]
    status: Literal["active", "disabled"]
    failing_since: datetime | None = None
    disabled_reason: str | None = None
    created_at: datetime


class WebhookEndpointCreated(WebhookEndpoint):
    secret: str  # whsec_…: shown once; verify deliveries with any Standard Webhooks library


class WebhookMessage(BaseModel):
    id: str  # the webhook-id header, the same on every attempt
    endpoint_id: str
    event_type: str
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    last_status: int | None = None
    last_error: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None
