"""How a provider's webhook deliveries are authenticated, identified and registered (the `webhooks:`
section of a definition, beside its event mapping; interpreted by deskhand.providers.webhooks)::

    webhooks:
      verify:                                # one scheme, or a list: a delivery passes when one configured
                                             #   scheme passes (e.g. an HMAC header, or Basic auth instead)
        scheme: hmac_sha256_base64 | hmac_sha256_hex | hmac_sha1_base64 | hmac_sha1_hex
              | shared_secret      # the secret itself, in `signature_header` (Freshdesk, ServiceNow rules)
              | basic              # HTTP Basic auth: `username` (optional) and the secret as password
        secret: "{webhook_secret}"           # a template over the connection values
        signature_header: x-hub-signature    # hmac: the signature; shared_secret: the secret
        prefix: "sha256="                    # what the header's value starts with (e.g. "Bearer " for a secret)
        signed: "{timestamp}:{body}"         # hmac: what was signed: {body} (raw bytes), {timestamp},
                                             #   {callback_url} (the connection value, else the URL the
                                             #   delivery came to), or any connection value
        username: "{webhook_username}"       # basic only; absent: any user name, the password decides
        timestamp_header: x-front-request-timestamp   # the delivery's send time, in a header ...
        timestamp: webhookTimestamp          # ... or at a body path
        timestamp_unit: auto | seconds | ms | iso8601 # (auto: ISO 8601, or unix s / ms by size)
        tolerance: 300                       # seconds either way; absent: DESKHAND_WEBHOOK_TOLERANCE_S
      delivery_id: {path: id} | {header: x-delivery}   # else derived from the signed content
      handshake:
        check: [HEAD, GET]                   # answer 200 to these methods on the callback URL (Trello)
        challenge:                           # a request carrying a challenge to echo (Front)
          header: x-front-challenge          # where the challenge is: a header ...
          path: challenge                    # ... or a body path
          reply: [json, header]              # echo as {"<field>": value}, as the same header, or as text
          field: challenge

A scheme is *configured* for an account when its `secret` fills to a non-empty value from the
account's connection values; the others are skipped. In a list, each scheme is tried in turn and every
comparison is constant-time; the delivery is refused (nothing recorded) unless one passes.

A delivery id should be signed: a body path (the body is signed) or, when none is declared, a digest
of the signed content (the body, and the timestamp when it is signed), so a replayed body is a
duplicate. A header id is not signed: declare one only with a freshness window (`timestamp`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

HMAC_SCHEMES = ("hmac_sha256_base64", "hmac_sha256_hex", "hmac_sha1_base64", "hmac_sha1_hex")
Scheme = Literal["hmac_sha256_base64", "hmac_sha256_hex", "hmac_sha1_base64", "hmac_sha1_hex", "shared_secret",
                 "basic"]


Reply = Literal["json", "header", "text"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class VerifySpec(_Strict):
    scheme: Scheme
    secret: str = "{webhook_secret}"
    signature_header: str | None = None
    prefix: str = ""
    signed: str = "{body}"
    username: str | None = None
    timestamp_header: str | None = None
    timestamp: str | None = None
    timestamp_unit: Literal["auto", "seconds", "ms", "iso8601"] = "auto"
    tolerance: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> VerifySpec:
        if self.scheme != "basic" and not self.signature_header:
            what = "the signature" if self.scheme in HMAC_SCHEMES else "the shared secret"
            raise ValueError(f"scheme {self.scheme} needs `signature_header` (the header carrying {what})")
        if self.scheme == "basic" and self.signature_header:
            raise ValueError("scheme basic reads the Authorization header: drop `signature_header`")
        if self.username is not None and self.scheme != "basic":
            raise ValueError("`username` is for scheme basic only")
        if self.timestamp_header and self.timestamp:
            raise ValueError("declare `timestamp_header` or `timestamp` (a body path), not both")
        if "{body}" not in self.signed and self.scheme in HMAC_SCHEMES:
            raise ValueError("`signed` must contain {body}")
        return self

    @property
    def signs_timestamp(self) -> bool:
        """The timestamp is covered by the signature (in the signed template, or inside the body)."""
        return bool(self.timestamp) or (self.scheme in HMAC_SCHEMES and "{timestamp}" in self.signed)


class DeliveryIdSpec(_Strict):
    header: str | None = None
    path: str | None = None


class ChallengeSpec(_Strict):
    header: str | None = None
    path: str | None = None
    reply: list[Reply] = Field(default_factory=lambda: list[Reply](["json"]), min_length=1)
    field: str = "challenge"

    @model_validator(mode="after")
    def _somewhere(self) -> ChallengeSpec:
        if bool(self.header) == bool(self.path):
            raise ValueError("a challenge is in a `header` or at a body `path` (one of them)")
        if "header" in self.reply and not self.header:
            raise ValueError("reply `header` echoes the challenge's header: declare `header`")
        return self


class HandshakeSpec(_Strict):
    check: list[Literal["HEAD", "GET"]] = Field(default_factory=list)
    challenge: ChallengeSpec | None = None
