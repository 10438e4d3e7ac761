"""Provider records → unified model values, driven by a resource's field rules (times through
:func:`deskhand.timestamps.to_datetime`: ISO 8601, unix seconds or milliseconds)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from deskhand.errors import ConfigError, PayloadError
from deskhand.model import Comment, Contact, Priority, Role, Status, Team, Ticket, User, Visibility
from deskhand.providers.definition import RESOURCE_FIELDS, FieldRuleSpec, ResourceSpec
from deskhand.providers.fields import Rule, fill, parse_pairs
from deskhand.timestamps import to_datetime


class RecordReader:
    """Reads one resource kind (ticket, comment, user, team) from provider records."""

    def __init__(
        self,
        provider: str,
        resource: str,
        spec: ResourceSpec,
        hooks: Mapping[str, Callable[[Any], Any]],
        values: Mapping[str, Any] | None = None,
    ) -> None:
        self.provider = provider
        self.resource = resource
        self.spec = spec
        self.rules = {
            name: _rule(rule, hooks, _overrides(provider, resource, name, rule, values or {}))
            for name, rule in spec.fields.items()
        }

    def values(self, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise PayloadError(f"{self.provider} {self.resource}: expected an object, got {type(record).__name__}")
        return {name: rule.read(record) for name, rule in self.rules.items()}

    def raw(self, record: Any, name: str) -> Any:
        rule = self.spec.fields.get(name)
        if rule is None or rule.path is None:
            return None
        return Rule(rule.path).read(record)

    def required(self, values: Mapping[str, Any], name: str, record: Any) -> Any:
        value = values.get(name)
        if value is None or value == "":
            raise PayloadError(f"{self.provider} {self.resource} has no {name}: {str(record)[:200]}")
        return value


def _rule(
    spec: FieldRuleSpec, hooks: Mapping[str, Callable[[Any], Any]], overrides: Mapping[str, dict[str, str]]
) -> Rule:
    hook = hooks[spec.hook] if spec.hook else None
    fallback = _rule(spec.fallback, hooks, overrides) if spec.fallback else None
    mapping = spec.map
    if spec.overrides and overrides.get(spec.overrides):
        mapping = {**(mapping or {}), **overrides[spec.overrides]}
    if spec.reverse_overrides and overrides.get(spec.reverse_overrides):  # value=raw entries, read raw -> value
        mapping = {**(mapping or {}), **{raw: value for value, raw in overrides[spec.reverse_overrides].items()}}
    return Rule(
        spec.path,
        map=mapping,
        default=spec.default,
        each=spec.each,
        value=spec.value,
        hook=hook,
        ignore_case=spec.ignore_case,
        fallback=fallback,
    )


def _overrides(
    provider: str, resource: str, name: str, spec: FieldRuleSpec, values: Mapping[str, Any]
) -> dict[str, dict[str, str]]:
    """Per-account value maps named by `overrides:` (checked against the field's vocabulary)."""
    found: dict[str, dict[str, str]] = {}
    kind = RESOURCE_FIELDS[resource].get(name)
    allowed = {k.value for k in kind} if kind is not None else None
    for rule in spec.rules():
        for source, reverse in ((rule.overrides, False), (rule.reverse_overrides, True)):
            if not source or values.get(source) in (None, "", {}):
                continue
            try:
                pairs = parse_pairs(values[source])
            except ValueError as exc:
                raise ConfigError(f"{provider} {source}: {exc}") from exc
            bad = sorted(v for v in (pairs if reverse else pairs.values()) if allowed is not None and v not in allowed)
            if bad:
                raise ConfigError(f"{provider} {source}: {bad} not in {sorted(allowed or ())}")
            found[source] = pairs
    return found


def _id(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _enum(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        return None


def read_ticket(
    reader: RecordReader,
    record: Any,
    *,
    comments: Sequence[Comment] = (),
    url_values: Mapping[str, Any] | None = None,
) -> Ticket:
    v = reader.values(record)
    ticket_id = str(reader.required(v, "id", record))
    raw_status = v.get("raw_status") or reader.raw(record, "status")
    status = _enum(Status, v.get("status"))
    if status is None:
        raise PayloadError(f"{reader.provider} ticket {ticket_id}: status {raw_status!r} has no mapping"
                           + _status_hint(reader, raw_status, record))
    requester = None
    if v.get("requester_id") or v.get("requester_email"):
        requester = Contact(
            id=str(v.get("requester_id") or v.get("requester_email")),
            name=v.get("requester_name"),
            email=v.get("requester_email"),
            organization_id=_id(v.get("requester_organization_id")),
        )
    description = v.get("description") or ""
    if not description and comments:
        description = comments[0].body
    url = v.get("url")
    if reader.spec.web_url:
        url = fill(reader.spec.web_url, {**(url_values or {}), "id": ticket_id})
    return Ticket(
        id=ticket_id,
        subject=str(v.get("subject") or ""),
        description=str(description),
        status=status,
        raw_status=str(raw_status or ""),
        priority=_enum(Priority, v.get("priority")),
        requester=requester,
        assignee_id=_id(v.get("assignee_id")),
        team_id=_id(v.get("team_id")),
        tags=tuple(str(t) for t in v.get("tags") or ()),
        created_at=to_datetime(v.get("created_at")),
        updated_at=to_datetime(v.get("updated_at")),
        comments=tuple(comments),
        url=url,
        raw=record,
    )


def _status_hint(reader: RecordReader, raw_status: Any, record: Any) -> str:
    """How to map an unknown status, when the definition lets an account do it (``overrides:`` pairs,
    or ``reverse_overrides:`` pins such as Linear's ``status.<name>=<state id>``)."""
    rule = reader.spec.fields.get("status")
    pins = [r.reverse_overrides for r in rule.rules() if r.reverse_overrides] if rule else []
    if pins:
        return (f"; pin it for this account: deskhand accounts set <account> {pins[0]}.<status>="
                f"{reader.raw(record, 'status')} (status: new, open, pending, on_hold, solved or closed)")
    names = [r.overrides for r in rule.rules() if r.overrides] if rule else []
    if not names:
        return ""
    flag = "--" + names[0].replace("_", "-")
    return (f"; map it for this account: deskhand connect {reader.provider} --name <account> --update "
            f"{flag} \"{raw_status}=open\" (or pending, on_hold, solved, closed)")


def read_comment(reader: RecordReader, record: Any, ticket_id: str) -> Comment:
    v = reader.values(record)
    visibility = _enum(Visibility, v.get("visibility")) or Visibility.INTERNAL  # internal: the safe default
    return Comment(
        id=str(reader.required(v, "id", record)),
        ticket_id=ticket_id,
        body=str(v.get("body") or ""),
        visibility=visibility,
        author_id=_id(v.get("author_id")),
        created_at=to_datetime(v.get("created_at")),
        raw=record,
    )


def read_user(reader: RecordReader, record: Any) -> User:
    v = reader.values(record)
    return User(
        id=str(reader.required(v, "id", record)),
        name=v.get("name"),
        email=v.get("email"),
        role=_enum(Role, v.get("role")) or Role.UNKNOWN,
    )


def read_team(reader: RecordReader, record: Any) -> Team:
    v = reader.values(record)
    return Team(id=str(reader.required(v, "id", record)), name=str(v.get("name") or ""))
