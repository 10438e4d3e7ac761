"""deskhand.providers.webhooks: signature schemes (vectors computed with openssl), events, ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from deskhand.errors import ConfigError, PayloadError, SignatureError
from deskhand.model import EventKind
from deskhand.providers.definition import VerifySpec, WebhooksSpec
from deskhand.providers.webhooks import (
    describe,
    parse_events,
    parse_timestamp,
    scheme_secrets,
    sign,
    verify,
    verify_any,
)

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


ALSO = WebhooksSpec.model_validate({
    "verify": {"scheme": "hmac_sha256_base64", "signature_header": "x-sig"},
    "type": "type",
    "delivery_id": {"path": "payload.id"},
    "events": {"inbound": [
        {"kind": "comment_added", "ticket_id": "payload.cid", "comment_id": "payload.mid", "also": True},
        {"kind": "ticket_created", "ticket_id": "payload.cid"},
        {"kind": "ticket_updated", "ticket_id": "payload.cid"},
    ]},
})


@pytest.mark.parametrize(("rules", "kinds"), [
    (ALSO, [EventKind.COMMENT_ADDED, EventKind.TICKET_CREATED]),
], ids=["also-then-stop"])
def test_also_gives_the_next_matching_rule_s_event_too_with_its_own_stable_id(
        rules: WebhooksSpec, kinds: list[EventKind]) -> None:
    body = b'{"type": "inbound", "payload": {"id": "evt_1", "cid": "cnv_1", "mid": "msg_1"}}'
    events = parse_events(rules, "x", "a", {}, body)
    assert [e.kind for e in events] == kinds  # the third rule is not reached: the second has no `also`
    assert [e.delivery_id for e in events] == ["evt_1", "evt_1:ticket_created"]
    assert [e.delivery_id for e in parse_events(rules, "x", "a", {}, body)] == ["evt_1", "evt_1:ticket_created"]
    assert events[0].comment_id == "msg_1" and events[1].comment_id is None


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


# -- every scheme as data: valid, wrong secret, missing header, stale timestamp, replay ---------------------
NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
NOW_MS = str(int(NOW.timestamp() * 1000))
BODY = b'{"type":"inbound","id":"evt_1","conversation":{"id":"cnv_1"},"webhookTimestamp":' + NOW_MS.encode() + b"}"
SECRET = "s3cr3t"


def _hmac(algorithm: str, message: bytes, encode: str = "base64", secret: str = SECRET) -> str:
    import base64
    import hashlib
    import hmac

    digest = hmac.new(secret.encode(), message, getattr(hashlib, algorithm)).digest()
    return base64.b64encode(digest).decode() if encode == "base64" else digest.hex()


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


FRONT = VerifySpec(scheme="hmac_sha256_base64", signature_header="x-front-signature",
                   timestamp_header="x-front-request-timestamp", timestamp_unit="ms", signed="{timestamp}:{body}")
FRONT_RULE = VerifySpec(scheme="hmac_sha1_base64", signature_header="x-front-signature")
LINEAR = VerifySpec(scheme="hmac_sha256_hex", signature_header="linear-signature", timestamp="webhookTimestamp",
                    timestamp_unit="ms", tolerance=60)
TRELLO_CB = VerifySpec(scheme="hmac_sha1_base64", signature_header="x-trello-webhook", signed="{body}{callback_url}")
SHARED = VerifySpec(scheme="shared_secret", signature_header="x-deskhand-secret")
BASIC = VerifySpec(scheme="basic", username="{webhook_username}")
CALLBACK = {"callback_url": "https://hooks.example.com/webhooks/trello/acme", "webhook_username": "freshdesk"}

# scheme -> (spec, headers of a valid delivery, a function giving the headers signed with another secret)
SCHEMES = {
    "front-sha256-b64-timestamp-colon-body": (
        FRONT, {"x-front-signature": _hmac("sha256", NOW_MS.encode() + b":" + BODY),
                "x-front-request-timestamp": NOW_MS},
        {"x-front-signature": _hmac("sha256", NOW_MS.encode() + b":" + BODY, secret="other"),
         "x-front-request-timestamp": NOW_MS}),
    "front-rule-sha1-b64-body": (
        FRONT_RULE, {"x-front-signature": _hmac("sha1", BODY)}, {"x-front-signature": _hmac("sha1", BODY, secret="x")}),
    "linear-sha256-hex-body-ms-timestamp": (
        LINEAR, {"linear-signature": _hmac("sha256", BODY, "hex")},
        {"linear-signature": _hmac("sha256", BODY, "hex", secret="other")}),
    "trello-sha1-b64-body-callback": (
        TRELLO_CB, {"x-trello-webhook": _hmac("sha1", BODY + CALLBACK["callback_url"].encode())},
        {"x-trello-webhook": _hmac("sha1", BODY + b"https://elsewhere.example.com/hook")}),
    "shared-secret-header": (SHARED, {"x-deskhand-secret": SECRET}, {"x-deskhand-secret": "s3cr3"}),
    "basic-auth": (BASIC, {"authorization": _basic("freshdesk", SECRET)},
                   {"authorization": _basic("freshdesk", "wrong")}),
}


@pytest.mark.parametrize("scheme", list(SCHEMES), ids=list(SCHEMES))
def test_a_valid_delivery_verifies(scheme: str) -> None:
    spec, good, _ = SCHEMES[scheme]
    verify(spec, SECRET, good, BODY, values=CALLBACK, now=NOW)


@pytest.mark.parametrize("scheme", list(SCHEMES), ids=list(SCHEMES))
def test_a_delivery_signed_with_another_secret_or_url_is_refused(scheme: str) -> None:
    spec, _, forged = SCHEMES[scheme]
    with pytest.raises(SignatureError, match=r"do(es)? not match"):
        verify(spec, SECRET, forged, BODY, values=CALLBACK, now=NOW)


@pytest.mark.parametrize("scheme", list(SCHEMES), ids=list(SCHEMES))
def test_a_delivery_without_its_credentials_is_refused(scheme: str) -> None:
    spec, good, _ = SCHEMES[scheme]
    kept = {k: v for k, v in good.items() if k in ("x-front-request-timestamp",)}  # everything but the credential
    with pytest.raises(SignatureError, match="missing"):
        verify(spec, SECRET, kept, BODY, values=CALLBACK, now=NOW)


@pytest.mark.parametrize(
    ("scheme", "late_s", "default", "refused"),
    [("front-sha256-b64-timestamp-colon-body", 301, 300, True),
     ("front-sha256-b64-timestamp-colon-body", 301, 600, False),  # the gateway's setting is the default ...
     ("linear-sha256-hex-body-ms-timestamp", 61, 600, True),  # ... a definition's tolerance wins
     ("linear-sha256-hex-body-ms-timestamp", -61, 600, True),
     ("linear-sha256-hex-body-ms-timestamp", 59, 600, False)],
    ids=["stale", "within-the-default", "stale-by-the-definition", "from-the-future", "fresh"],
)
def test_the_timestamp_window_is_enforced(scheme: str, late_s: int, default: float, refused: bool) -> None:
    spec, good, _ = SCHEMES[scheme]
    later = NOW + timedelta(seconds=late_s)
    if refused:
        with pytest.raises(SignatureError, match="old"):
            verify(spec, SECRET, good, BODY, values=CALLBACK, now=later, default_tolerance=default)
    else:
        verify(spec, SECRET, good, BODY, values=CALLBACK, now=later, default_tolerance=default)


@pytest.mark.parametrize(
    ("unit", "raw", "ok"),
    [("ms", NOW_MS, True), ("ms", str(int(NOW.timestamp())), False), ("seconds", str(int(NOW.timestamp())), True),
     ("seconds", NOW_MS, False), ("iso8601", "2026-12-03T12:00:00Z", True), ("iso8601", NOW_MS, False)],
    ids=["ms-as-ms", "seconds-declared-ms", "seconds", "ms-declared-seconds", "iso", "number-declared-iso"],
)
def test_a_timestamp_is_read_in_its_declared_unit(unit: str, raw: str, ok: bool) -> None:
    spec = VerifySpec(scheme="shared_secret", signature_header="x-secret", timestamp_header="x-ts",
                      timestamp_unit=unit)  # type: ignore[arg-type]
    headers = {"x-secret": SECRET, "x-ts": raw}
    if ok:
        verify(spec, SECRET, headers, BODY, now=NOW)
    else:
        with pytest.raises(SignatureError):
            verify(spec, SECRET, headers, BODY, now=NOW)


EVENTS = {"inbound": {"kind": "comment_added", "ticket_id": "conversation.id"}}


@pytest.mark.parametrize("scheme", list(SCHEMES), ids=list(SCHEMES))
def test_a_replayed_delivery_has_the_same_id(scheme: str) -> None:
    """Nothing declared: the id is a digest of the signed content, so a replay is a duplicate however
    its unsigned headers were changed."""
    spec, good, _ = SCHEMES[scheme]
    hooks = WebhooksSpec.model_validate({"verify": spec.model_dump(), "type": "type", "events": EVENTS})
    first = parse_events(hooks, "p", "acme", {**good, "x-delivery": "1"}, BODY)[0].delivery_id
    replay = parse_events(hooks, "p", "acme", {**good, "x-delivery": "2", "user-agent": "curl"}, BODY)[0].delivery_id
    assert first == replay


def test_two_events_with_the_same_body_sent_at_different_times_are_two_deliveries() -> None:
    hooks = WebhooksSpec.model_validate({"verify": FRONT.model_dump(), "type": "type", "events": EVENTS})
    one = parse_events(hooks, "p", "a", {"x-front-request-timestamp": NOW_MS}, BODY)[0].delivery_id
    two = parse_events(hooks, "p", "a", {"x-front-request-timestamp": str(int(NOW_MS) + 1)}, BODY)[0].delivery_id
    assert one != two


@pytest.mark.parametrize(
    ("declared", "headers", "expected"),
    [({"header": "linear-delivery"}, {"linear-delivery": "d-7"}, "d-7"),
     ({"path": "id"}, {}, "evt_1")],
    ids=["header", "path"],
)
def test_a_declared_delivery_id_is_used(declared: dict[str, str], headers: dict[str, str], expected: str) -> None:
    hooks = WebhooksSpec.model_validate({"type": "type", "delivery_id": declared, "events": EVENTS})
    assert parse_events(hooks, "p", "a", headers, BODY)[0].delivery_id == expected


@pytest.mark.parametrize(
    ("verify_spec", "match"),
    [({"scheme": "hmac_sha256_hex"}, "signature_header"),
     ({"scheme": "shared_secret"}, "shared secret"),
     ({"scheme": "basic", "signature_header": "x"}, "Authorization"),
     ({"scheme": "hmac_sha1_hex", "signature_header": "x", "username": "u"}, "basic only"),
     ({"scheme": "hmac_sha1_hex", "signature_header": "x", "timestamp": "t", "timestamp_header": "h"}, "not both"),
     ({"scheme": "hmac_sha1_hex", "signature_header": "x", "signed": "{timestamp}"}, "{body}"),
     ({"scheme": "hmac_md5_hex", "signature_header": "x"}, "scheme")],
    ids=["hmac-without-header", "secret-without-header", "basic-with-header", "username-not-basic",
         "two-timestamps", "body-not-signed", "unknown-scheme"],
)
def test_an_incomplete_verify_spec_is_refused_at_load(verify_spec: dict[str, str], match: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=match):
        VerifySpec.model_validate(verify_spec)


def test_basic_auth_without_a_declared_user_name_checks_the_password() -> None:
    spec = VerifySpec(scheme="basic")
    verify(spec, SECRET, {"Authorization": _basic("anyone", SECRET)}, BODY)
    for bad in ("Bearer " + SECRET, "Basic !!!", _basic("anyone", SECRET + "x"), "Basic " + "c2VjcmV0"):
        with pytest.raises(SignatureError):
            verify(spec, SECRET, {"Authorization": bad}, BODY)


SIGNED = VerifySpec(scheme="hmac_sha256_base64", signature_header="x-deskhand-signature")
EITHER = [(SIGNED, SECRET), (BASIC, SECRET)]


@pytest.mark.parametrize(
    "headers",
    [{"x-deskhand-signature": _hmac("sha256", BODY)}, {"authorization": _basic("freshdesk", SECRET)},
     {"x-deskhand-signature": "forged", "authorization": _basic("freshdesk", SECRET)}],
    ids=["the-signature", "basic-auth-instead", "basic-auth-beside-a-bad-signature"],
)
def test_a_delivery_passing_any_configured_scheme_is_accepted(headers: dict[str, str]) -> None:
    passed = verify_any(EITHER, headers, BODY, values=CALLBACK, now=NOW)
    assert passed.scheme == ("basic" if "authorization" in headers else "hmac_sha256_base64")


@pytest.mark.parametrize(
    ("headers", "match"),
    [({}, "missing signature header.*or missing Basic"),
     ({"x-deskhand-signature": _hmac("sha256", BODY, secret="other")}, "does not match.*or missing Basic"),
     ({"authorization": _basic("freshdesk", "wrong")}, "Basic credentials do not match"),
     ({"authorization": _basic("someone-else", SECRET)}, "Basic credentials do not match")],
    ids=["nothing", "bad-signature", "bad-password", "bad-user-name"],
)
def test_a_delivery_passing_no_scheme_is_refused_naming_each(headers: dict[str, str], match: str) -> None:
    with pytest.raises(SignatureError, match=match):
        verify_any(EITHER, headers, BODY, values=CALLBACK, now=NOW)


def test_a_scheme_the_account_gives_no_secret_is_not_accepted() -> None:
    only_signed = [(SIGNED, SECRET), (BASIC, None)]
    with pytest.raises(SignatureError, match="missing signature header"):
        verify_any(only_signed, {"authorization": _basic("freshdesk", SECRET)}, BODY, values=CALLBACK, now=NOW)
    with pytest.raises(ConfigError, match="no webhook_secret"):
        verify_any([(SIGNED, None), (BASIC, "")], {"authorization": _basic("freshdesk", "")}, BODY, now=NOW)


def test_each_scheme_takes_its_own_secret_from_the_account() -> None:
    basic = VerifySpec(scheme="basic", secret="{webhook_password}")
    found = scheme_secrets([SIGNED, basic, VerifySpec(scheme="basic", secret="pre-{missing}")],
                           {"webhook_secret": "a", "webhook_password": "b"})
    assert [secret for _, secret in found] == ["a", "b", None]


@pytest.mark.parametrize(
    ("declared", "schemes"),
    [({"scheme": "basic"}, ["basic"]),
     ([{"scheme": "shared_secret", "signature_header": "x-s"}, {"scheme": "basic"}], ["shared_secret", "basic"]),
     (None, [])],
    ids=["one-scheme", "a-list", "none"],
)
def test_verify_is_one_scheme_or_a_list(declared: object, schemes: list[str]) -> None:
    hooks = WebhooksSpec.model_validate({"verify": declared, "type": "type", "events": EVENTS})
    assert [spec.scheme for spec in hooks.verify] == schemes


def test_a_scheme_listed_twice_is_refused_at_load() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="twice"):
        WebhooksSpec.model_validate({"verify": [{"scheme": "basic"}, {"scheme": "basic", "username": "u"}],
                                     "type": "type", "events": EVENTS})


def test_describe_names_the_secret_by_its_option_and_never_shows_it() -> None:
    assert describe(SHARED, {"webhook_secret": SECRET}) == "the header x-deskhand-secret: <--webhook-secret value>"
    assert describe(BASIC, {"webhook_secret": SECRET, "webhook_username": "fd"}) == (
        "Basic auth (user name fd, password <--webhook-secret value>)")
    assert "any user name" in describe(BASIC, {})
    assert SECRET not in describe(SIGNED, {"webhook_secret": SECRET})
