"""Webhooks as data: verification (HMAC, shared secret, Basic auth; constant-time), freshness,
registration handshakes, delivery ids and event mapping, all read from the definition
(deskhand.providers.spec_webhooks says the syntax)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from deskhand.errors import ConfigError, PayloadError, SignatureError
from deskhand.model import Event
from deskhand.providers.definition import EventRuleSpec, VerifySpec, WebhooksSpec
from deskhand.providers.fields import fill, get_path, map_key
from deskhand.timestamps import parse_timestamp

_PART = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_TOLERANCE_S = 300.0


def _hmac(algorithm: str, encode: Callable[[bytes], str]) -> Callable[[bytes, bytes], str]:
    def sign(secret: bytes, message: bytes) -> str:
        return encode(hmac.new(secret, message, algorithm).digest())

    return sign


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _hex(digest: bytes) -> str:
    return digest.hex()


SCHEMES: dict[str, Callable[[bytes, bytes], str]] = {
    "hmac_sha256_base64": _hmac("sha256", _b64),
    "hmac_sha256_hex": _hmac("sha256", _hex),
    "hmac_sha1_base64": _hmac("sha1", _b64),
    "hmac_sha1_hex": _hmac("sha1", _hex),
}


class Headers:
    """Case-insensitive view of request headers."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._h = {k.lower(): v for k, v in headers.items()}

    def get(self, name: str) -> str | None:
        return self._h.get(name.lower())


def signed_message(template: str, body: bytes, values: Mapping[str, str]) -> bytes:
    """The exact bytes that were signed: the template with {body} as raw bytes, the rest UTF-8."""
    out = bytearray()
    position = 0
    for match in _PART.finditer(template):
        out += template[position : match.start()].encode()
        name = match.group(1)
        if name == "body":
            out += body
        else:
            if values.get(name) is None:
                raise ConfigError(f"webhook signature needs {{{name}}}, which has no value")
            out += str(values[name]).encode()
        position = match.end()
    out += template[position:].encode()
    return bytes(out)


def sign(spec: VerifySpec, secret: str, body: bytes, values: Mapping[str, str]) -> str:
    """The header value a correct sender puts (prefix included): used by verify and simulators."""
    digest = SCHEMES[spec.scheme](secret.encode(), signed_message(spec.signed, body, values))
    return spec.prefix + digest


def read_timestamp(value: Any, unit: str) -> datetime:
    """A delivery's timestamp in its declared unit (``auto``: ISO 8601, or unix seconds / ms by size)."""
    return parse_timestamp(value, unit)


def verify(
    spec: VerifySpec,
    secret: str | None,
    headers: Mapping[str, str],
    body: bytes,
    *,
    values: Mapping[str, str] | None = None,
    now: datetime | None = None,
    tolerance: float | None = None,
    default_tolerance: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Raise SignatureError unless the delivery carries `secret` as `spec` says and is recent enough.

    `tolerance` overrides everything (tests); else the definition's `tolerance`, else `default_tolerance`
    (the gateway passes DESKHAND_WEBHOOK_TOLERANCE_S). Every comparison is constant-time."""
    if not secret:
        raise ConfigError("no webhook_secret is configured for this account: deskhand connect … --webhook-secret …")
    h = Headers(headers)
    context = dict(values or {})
    if spec.timestamp_header or spec.timestamp:
        window = tolerance if tolerance is not None else spec.tolerance or default_tolerance
        context["timestamp"] = _fresh(spec, h, body, now or datetime.now(UTC), window)
    if spec.scheme == "basic":
        _check_basic(spec, secret, h.get("authorization"), context)
        return
    assert spec.signature_header is not None  # checked at load
    given = h.get(spec.signature_header)
    if not given:
        raise SignatureError(f"missing signature header {spec.signature_header}")
    if spec.scheme == "shared_secret":
        if not hmac.compare_digest(given.strip().encode(), (spec.prefix + secret).encode()):
            raise SignatureError(f"the secret in {spec.signature_header} does not match")
        return
    expected = sign(spec, secret, body, context)
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise SignatureError(f"signature in {spec.signature_header} does not match")


def verify_any(
    schemes: Sequence[tuple[VerifySpec, str | None]],
    headers: Mapping[str, str],
    body: bytes,
    *,
    values: Mapping[str, str] | None = None,
    now: datetime | None = None,
    tolerance: float | None = None,
    default_tolerance: float = DEFAULT_TOLERANCE_S,
) -> VerifySpec:
    """The first of `schemes` (each with the secret the account configures for it) that the delivery
    passes; SignatureError naming what each one found wrong when none does. A scheme without a secret
    is not configured and is skipped; with none configured, ConfigError. Each check is `verify`'s
    (constant-time comparisons); which scheme passed is not a secret, so they are tried in order."""
    configured = [(spec, secret) for spec, secret in schemes if secret]
    if not configured:
        raise ConfigError("no webhook_secret is configured for this account: deskhand connect … --webhook-secret …")
    problems: list[str] = []
    for spec, secret in configured:
        try:
            verify(spec, secret, headers, body, values=values, now=now, tolerance=tolerance,
                   default_tolerance=default_tolerance)
        except SignatureError as exc:
            problems.append(str(exc))
        else:
            return spec
    if len(problems) == 1:
        raise SignatureError(problems[0])
    raise SignatureError("no accepted credentials: " + "; or ".join(problems))


def scheme_secrets(specs: Sequence[VerifySpec], values: Mapping[str, Any]) -> list[tuple[VerifySpec, str | None]]:
    """Each scheme with the secret `values` (an account's connection values) give it; None when they
    give none, so the scheme is not configured for that account."""
    found: list[tuple[VerifySpec, str | None]] = []
    for spec in specs:
        try:
            secret = fill(spec.secret, values)
        except KeyError:  # a placeholder inside a longer template with no value
            secret = None
        found.append((spec, None if secret in (None, "") else str(secret)))
    return found


def describe(spec: VerifySpec, values: Mapping[str, str] | None = None) -> str:
    """What a sender must put on each delivery for `spec`, in words (``deskhand connect`` prints it):
    secrets are named by their connect option, never shown; a user name is shown as configured."""
    secret = _PART.sub(lambda m: f"<--{m.group(1).replace('_', '-')} value>", spec.secret)
    if spec.scheme == "basic":
        user = _filled(spec.username, values or {})
        return f"Basic auth ({'user name ' + user if user else 'any user name'}, password {secret})"
    if spec.scheme == "shared_secret":
        return f"the header {spec.signature_header}: {spec.prefix}{secret}"
    algorithm, encoding = spec.scheme.removeprefix("hmac_").split("_")
    signed = f"HMAC-{algorithm.upper()}({secret}, {spec.signed})"
    return f"the header {spec.signature_header}: {spec.prefix}{encoding}({signed})"


def _fresh(spec: VerifySpec, h: Headers, body: bytes, now: datetime, window: float) -> str:
    """The delivery's timestamp as sent (for the signed template), after checking it is within `window`."""
    raw = h.get(spec.timestamp_header) if spec.timestamp_header else _body_path(body, spec.timestamp)
    where = spec.timestamp_header or spec.timestamp
    if raw in (None, "") and not spec.timestamp_header and not _is_json(body):
        raise SignatureError(f"the body is not JSON (truncated?), so its signature timestamp {where} cannot be read")
    if raw in (None, ""):
        raise SignatureError(f"missing signature timestamp {where}")
    try:
        sent_at = read_timestamp(raw, spec.timestamp_unit)
    except (ValueError, OverflowError, OSError) as exc:
        raise SignatureError(f"unreadable signature timestamp {raw!r} at {where} ({spec.timestamp_unit})") from exc
    age = (now - sent_at).total_seconds()
    if abs(age) > window:
        raise SignatureError(f"signature timestamp {raw} is {age:.0f} s old (tolerance {window:.0f} s): a replay?")
    return str(raw)


def _check_basic(spec: VerifySpec, secret: str, authorization: str | None, values: Mapping[str, str]) -> None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        raise SignatureError("missing Basic credentials in the Authorization header")
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError) as exc:
        raise SignatureError("unreadable Basic credentials in the Authorization header") from exc
    expected_user = _filled(spec.username, values)
    user_ok = hmac.compare_digest(user.encode(), expected_user.encode()) if expected_user else True
    password_ok = hmac.compare_digest(password.encode(), secret.encode())  # both compared, always
    if not (sep and user_ok and password_ok):
        raise SignatureError("the Basic credentials do not match")


def _filled(template: str | None, values: Mapping[str, str]) -> str | None:
    if not template:
        return None
    try:
        return _PART.sub(lambda m: str(values[m.group(1)]), template)
    except KeyError:
        return None


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return False
    return True


def _body_path(body: bytes, path: str | None) -> Any:
    try:
        return get_path(json.loads(body), path)
    except (ValueError, RecursionError):
        return None


MAX_JSON_DEPTH = 64  # real deliveries nest < 10 deep; deeper ones cannot be stored and read back safely


def content_id(specs: Sequence[VerifySpec], headers: Mapping[str, str], body: bytes) -> str:
    """A delivery id derived from what the sender signed: the body, and the timestamp when a
    signature covers it. A replayed body is the same delivery; two events sent at different times
    are not."""
    digest = hashlib.sha256()
    for spec in specs:
        if spec.timestamp_header and spec.signs_timestamp:
            digest.update((Headers(headers).get(spec.timestamp_header) or "").encode() + b"\n")
            break
    digest.update(body)
    return "sha256:" + digest.hexdigest()


def check_method(spec: WebhooksSpec, method: str) -> bool:
    """Whether the callback URL answers `method` (a registration check such as Trello's HEAD)."""
    return method.upper() in spec.handshake.check


@dataclass(frozen=True, slots=True)
class Challenge:
    """A registration challenge to echo: `value`, in the `reply` forms the definition declares."""

    value: str
    reply: tuple[str, ...]
    field: str
    header: str | None


def challenge(spec: WebhooksSpec, headers: Mapping[str, str], body: bytes) -> Challenge | None:
    """The challenge a (verified) delivery carries when it is a registration handshake, else None."""
    declared = spec.handshake.challenge
    if declared is None:
        return None
    value = Headers(headers).get(declared.header) if declared.header else _body_path(body, declared.path)
    if value in (None, "") or isinstance(value, dict | list):
        return None
    return Challenge(str(value), tuple(declared.reply), declared.field, declared.header)


def load_body(body: bytes) -> Any:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"webhook body is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise PayloadError(f"webhook body is JSON nested more than {MAX_JSON_DEPTH} deep") from exc
    if _deeper_than(document, MAX_JSON_DEPTH):
        raise PayloadError(f"webhook body is JSON nested more than {MAX_JSON_DEPTH} deep")
    return document


def _deeper_than(document: Any, limit: int) -> bool:
    """True when objects/arrays nest more than `limit` levels (walked without recursion)."""
    stack = [(document, 1)] if isinstance(document, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def parse_events(
    spec: WebhooksSpec, provider: str, account: str, headers: Mapping[str, str], body: bytes
) -> list[Event]:
    """Events of one delivery. Unknown event types give [] (acknowledged and ignored)."""
    document = load_body(body)
    records = get_path(document, spec.items) if spec.items else [document]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise PayloadError(f"{provider} webhook body is not an object (or a list of objects at {spec.items})")
    header_id = Headers(headers).get(spec.delivery_id.header) if spec.delivery_id.header else None
    events: list[Event] = []
    for index, record in enumerate(records):
        for nth, rule in enumerate(_rules_for(spec, record)):
            if rule.ignore or rule.kind is None:
                continue
            ticket_id = get_path(record, rule.ticket_id)
            if ticket_id in (None, ""):
                kind = get_path(record, spec.type)
                raise PayloadError(f"{provider} webhook {kind!r} has no ticket id at {rule.ticket_id}")
            delivery = _delivery_id(spec, record, header_id, headers, body, index, len(records))
            if nth:  # a further event of the same record (`also`): its own id, stable across retries
                delivery = f"{delivery}:{rule.kind.value}"
            events.append(
                Event(
                    provider=provider,
                    account=account,
                    kind=rule.kind,
                    ticket_id=str(ticket_id),
                    delivery_id=delivery,
                    occurred_at=_occurred_at(record, spec.occurred_at),
                    comment_id=_text(get_path(record, rule.comment_id) if rule.comment_id else None),
                    author_id=_text(get_path(record, rule.author_id) if rule.author_id else None),
                    payload=record,
                )
            )
    return events


def _rules_for(spec: WebhooksSpec, record: dict[str, Any]) -> list[EventRuleSpec]:
    """The first rule whose `when` matches the record, and the next matching ones while a rule says `also`."""
    rules = spec.events.get(str(get_path(record, spec.type)))
    found: list[EventRuleSpec] = []
    for rule in [] if rules is None else rules if isinstance(rules, list) else [rules]:
        if all(map_key(get_path(record, p)) == map_key(v) for p, v in rule.when.items()):
            found.append(rule)
            if not rule.also:
                break
    return found


def _delivery_id(
    spec: WebhooksSpec, record: dict[str, Any], header_id: str | None, headers: Mapping[str, str], body: bytes,
    index: int, count: int,
) -> str:
    suffix = f":{index}" if count > 1 else ""
    if spec.delivery_id.path:
        value = get_path(record, spec.delivery_id.path)
        if value not in (None, ""):
            return str(value)
    if header_id:
        return header_id + suffix
    return content_id(spec.verify, headers, body) + suffix


def _occurred_at(record: dict[str, Any], path: str | None) -> datetime | None:
    raw = get_path(record, path) if path else None
    if raw is None:
        return None
    try:
        return parse_timestamp(raw)
    except (ValueError, OverflowError):
        return None


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
