"""deskhand.providers.webhooks: signature schemes (vectors computed with openssl), events, ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from deskhand.errors import ConfigError, PayloadError, SignatureError
from deskhand.model import EventKind
from deskhand.providers.definition import VerifySpec, WebhooksSpec
from deskhand.providers.webhooks import parse_events, parse_timestamp, sign, verify

ZENDESK = VerifySpec(
    scheme="hmac_sha256_base64",
    signature_header="X-Zendesk-Webhook-Signature",
    timestamp_header="X-Zendesk-Webhook-Signature-Timestamp",
    signed="{timestamp}{body}",
)
HUB = VerifySpec(scheme="hmac_sha256_hex", signature_header="X-Hub-Signature", prefix="sha256=")
TRELLO = VerifySpec(scheme="hmac_sha1_base64", signature_header="X-Trello-Webhook", signed="{body}{callback_url}")

ZD_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="  # Zendesk's static test secret, used as a string
ZD_BODY = b'{"type":"zen:event-type:ticket.created","id":"e1"}'
ZD_TS = "2024-04-17T17:18:10Z"
ZD_NOW = datetime(2024, 4, 17, 17, 18, 40, tzinfo=UTC)
# printf '%s' "$TS$BODY" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64
ZD_SIG = "QeIQGThs1h1g0Us6WrQfV28/DXP8CfUcqv+JioUriDo="
# GitHub's documented X-Hub-Signature-256 example ("Hello, World!", "It's a Secret to Everybody")
HUB_SIG = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
# printf '%s' "$BODY$CALLBACK" | openssl dgst -sha1 -hmac trello-secret -binary | base64
TRELLO_SIG = "M2z6iWosDUlnFyYHf8IA//bVgyA="
TRELLO_BODY = b'{"action":{"type":"commentCard"}}'
TRELLO_URL = "https://example.com/hooks/trello"


@pytest.mark.parametrize(
    ("spec", "secret", "body", "values", "expected"),
    [
        (ZENDESK, ZD_SECRET, ZD_BODY, {"timestamp": ZD_TS}, ZD_SIG),
        (HUB, "It's a Secret to Everybody", b"Hello, World!", {}, HUB_SIG),
        (TRELLO, "trello-secret", TRELLO_BODY, {"callback_url": TRELLO_URL}, TRELLO_SIG),
    ],
    ids=["zendesk-b64-timestamp-body", "hub-hex-prefixed", "trello-sha1-body-callback"],
)
def test_sign_matches_independent_vectors(
    spec: VerifySpec, secret: str, body: bytes, values: dict[str, str], expected: str
) -> None:
    assert sign(spec, secret, body, values) == expected


def zd_headers(**override: str) -> dict[str, str]:
    headers = {"x-zendesk-webhook-signature": ZD_SIG, "X-ZENDESK-WEBHOOK-SIGNATURE-TIMESTAMP": ZD_TS}
    headers.update(override)
    return headers


def test_zendesk_signature_accepted_with_any_header_case() -> None:
    verify(ZENDESK, ZD_SECRET, zd_headers(), ZD_BODY, now=ZD_NOW)


@pytest.mark.parametrize(
    ("headers", "body", "now", "match"),
    [
        ({"X-Zendesk-Webhook-Signature-Timestamp": ZD_TS}, ZD_BODY, ZD_NOW, "missing signature"),
        ({"X-Zendesk-Webhook-Signature": ZD_SIG}, ZD_BODY, ZD_NOW, "missing signature timestamp"),
        (zd_headers(), ZD_BODY + b" ", ZD_NOW, "does not match"),
        (zd_headers(**{"x-zendesk-webhook-signature": "A" + ZD_SIG[1:]}), ZD_BODY, ZD_NOW, "does not match"),
        (zd_headers(), ZD_BODY, ZD_NOW + timedelta(seconds=301), "old"),
        (zd_headers(), ZD_BODY, ZD_NOW - timedelta(seconds=400), "old"),
        (zd_headers(**{"x-zendesk-webhook-signature-timestamp": "yesterday"}), ZD_BODY, ZD_NOW, "unreadable"),
    ],
    ids=["no-signature", "no-timestamp", "body-changed", "signature-changed", "stale", "future", "bad-timestamp"],
)
def test_zendesk_signature_rejections(headers: dict[str, str], body: bytes, now: datetime, match: str) -> None:
    with pytest.raises(SignatureError, match=match):
        verify(ZENDESK, ZD_SECRET, headers, body, now=now)


def test_tolerance_can_be_overridden() -> None:
    verify(ZENDESK, ZD_SECRET, zd_headers(), ZD_BODY, now=ZD_NOW + timedelta(seconds=900), tolerance=1000)


def test_hub_and_trello_schemes_verify() -> None:
    verify(HUB, "It's a Secret to Everybody", {"x-hub-signature": HUB_SIG}, b"Hello, World!")
    verify(TRELLO, "trello-secret", {"X-Trello-Webhook": TRELLO_SIG}, TRELLO_BODY, values={"callback_url": TRELLO_URL})
    with pytest.raises(SignatureError):
        verify(HUB, "wrong", {"x-hub-signature": HUB_SIG}, b"Hello, World!")


def test_no_secret_configured_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="webhook_secret"):
        verify(ZENDESK, None, zd_headers(), ZD_BODY, now=ZD_NOW)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-04-17T17:18:10Z", datetime(2024, 4, 17, 17, 18, 10, tzinfo=UTC)),
        (1713374290, datetime(2024, 4, 17, 17, 18, 10, tzinfo=UTC)),
        ("1713374290000", datetime(2024, 4, 17, 17, 18, 10, tzinfo=UTC)),
    ],
    ids=["iso", "unix-seconds", "unix-millis"],
)
def test_parse_timestamp(raw: object, expected: datetime) -> None:
    assert parse_timestamp(raw) == expected


HOOKS = WebhooksSpec.model_validate(
    {
        "type": "webhookEvent",
        "delivery_id": {"header": "X-Atlassian-Webhook-Identifier"},
        "occurred_at": "timestamp",
        "events": {
            "jira:issue_created": {"kind": "ticket_created", "ticket_id": "issue.key"},
            "comment_created": {
                "kind": "comment_added",
                "ticket_id": "issue.key",
                "comment_id": "comment.id",
                "author_id": "comment.author.accountId",
            },
            "jira:issue_updated": [
                {
                    "kind": "comment_added",
                    "ticket_id": "issue.key",
                    "when": {"issue_event_type_name": "issue_commented"},
                },
                {"kind": "ticket_updated", "ticket_id": "issue.key"},
            ],
        },
    }
)


def test_event_mapping_reads_ids_and_time() -> None:
    body = json.dumps(
        {
            "webhookEvent": "comment_created",
            "timestamp": 1713374290000,
            "issue": {"key": "SUP-1"},
            "comment": {"id": "10001", "author": {"accountId": "abc"}},
        }
    ).encode()
    [event] = parse_events(HOOKS, "x", "acme", {"x-atlassian-webhook-identifier": "d-1"}, body)
    assert (event.kind, event.ticket_id, event.comment_id, event.author_id, event.delivery_id) == (
        EventKind.COMMENT_ADDED,
        "SUP-1",
        "10001",
        "abc",
        "d-1",
    )
    assert event.occurred_at == datetime(2024, 4, 17, 17, 18, 10, tzinfo=UTC)
    assert (event.provider, event.account) == ("x", "acme")


def test_when_picks_the_first_matching_rule() -> None:
    def kind(name: str) -> EventKind:
        body = json.dumps(
            {"webhookEvent": "jira:issue_updated", "issue_event_type_name": name, "issue": {"key": "S-1"}}
        ).encode()
        return parse_events(HOOKS, "x", "a", {}, body)[0].kind

    assert kind("issue_commented") is EventKind.COMMENT_ADDED
    assert kind("issue_generic") is EventKind.TICKET_UPDATED


def test_unknown_event_type_is_ignored() -> None:
    assert parse_events(HOOKS, "x", "a", {}, b'{"webhookEvent": "worklog_created"}') == []


def test_delivery_id_falls_back_to_a_stable_content_hash() -> None:
    body = b'{"webhookEvent": "jira:issue_created", "issue": {"key": "S-9"}}'
    first = parse_events(HOOKS, "x", "a", {}, body)[0].delivery_id
    again = parse_events(HOOKS, "x", "a", {"x-other": "1"}, body)[0].delivery_id
    assert first == again and first.startswith("sha256:") and len(first) == 7 + 64


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"webhookEvent": "jira:issue_created", "issue": {}}', "no ticket id"),
    ],
    ids=["not-json", "not-object", "no-ticket-id"],
)
def test_bad_payloads_raise_payload_error(body: bytes, match: str) -> None:
    with pytest.raises(PayloadError, match=match):
        parse_events(HOOKS, "x", "a", {}, body)
