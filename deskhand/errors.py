"""One exception tree. Messages name what was wrong and what to do about it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Meaning = Literal["rate_limited", "auth", "not_found", "retryable", "permanent"]
MEANINGS: tuple[str, ...] = ("rate_limited", "auth", "not_found", "retryable", "permanent")


class DeskhandError(Exception):
    """Base of every error deskhand raises on purpose."""


class ConfigError(DeskhandError):
    """Invalid configuration or definition (a provider YAML, a URL, an account setting)."""


class NotFoundError(DeskhandError):
    """A named thing (account, tenant, decision, ticket) does not exist."""


class SignatureError(DeskhandError):
    """A webhook's signature is missing, wrong or outside the tolerance window."""


class PayloadError(DeskhandError):
    """A (validly signed) payload that cannot be understood."""


class ProviderError(DeskhandError):
    """A helpdesk answered with an error. `retry_after` is set when it asked us to wait."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        body: Any = None,
        reason: str | None = None,
        meaning: Meaning | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.body = body
        self.reason = reason
        self.meaning = meaning  # what the definition's `errors:` rules said the body's error means
        self.code = code  # the provider's own error code, when its body carries one

    @property
    def retryable(self) -> bool:
        if self.meaning is not None:
            return self.meaning in ("rate_limited", "retryable")
        return self.status is None or self.status == 429 or self.status >= 500

    @classmethod
    def from_response(cls, response: Any, read_body: BodyReader | None = None) -> ProviderError:
        """The only HTTP response → error map (works on any httpx-like response): the status picks
        the kind, unless the body carries an error the definition's `errors:` rules give a meaning
        (`read_body`: Linear's 400 + ``RATELIMITED`` is rate limited; a 200 + GraphQL ``errors`` is
        an error at all)."""
        status = int(response.status_code)
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:500]
        retry_after = _retry_after_seconds(response.headers.get("retry-after"))
        method = getattr(getattr(response, "request", None), "method", "?")
        url = getattr(getattr(response, "request", None), "url", "?")
        found = read_body(body) if read_body is not None and isinstance(body, dict | list) else None
        kind: type[ProviderError] = cls
        if found is not None and found.meaning is not None:
            kind = _BY_MEANING.get(found.meaning, BadResponse if 200 <= status < 300 else cls)
        elif 200 <= status < 300:
            kind = BadResponse
        elif status == 429:
            kind = RateLimited
        elif status in (401, 403):
            kind = AuthError
        elif status == 404:
            kind = ResourceNotFound
        said = _short(body)
        if found is not None:
            said = found.message if found.code in (None, found.message) else f"{found.code}: {found.message}"
        return kind(
            f"{method} {url} -> HTTP {status}: {said}",
            status=status,
            retry_after=retry_after,
            body=body,
            meaning=found.meaning if found else None,
            code=found.code if found else None,
        )


@dataclass(frozen=True, slots=True)
class BodyError:
    """An error a response body carries, as the definition's `errors:` rules read it."""

    message: str
    code: str | None = None
    meaning: Meaning | None = None  # None: as the HTTP status says (a 2xx: retryable)


BodyReader = Callable[[Any], BodyError | None]


def response_error(response: Any, read_body: BodyReader | None = None) -> ProviderError | None:
    """The error a response is (None: a 2xx whose body declares no error): every non-2xx, and a 2xx
    whose JSON body carries an error by the definition's rules."""
    status = int(response.status_code)
    if not 200 <= status < 300:
        return ProviderError.from_response(response, read_body)
    if read_body is None or not response.content:
        return None
    try:
        body = response.json()
    except ValueError:
        return None  # not JSON: the caller that needs JSON says so (BadResponse)
    if not isinstance(body, dict | list) or read_body(body) is None:
        return None
    return ProviderError.from_response(response, read_body)


class RateLimited(ProviderError):
    """HTTP 429 (or a provider's equivalent)."""


class AuthError(ProviderError):
    """Credentials rejected: check the account's token (deskhand connect … again)."""

    @property
    def retryable(self) -> bool:
        return False


class ResourceNotFound(ProviderError):
    @property
    def retryable(self) -> bool:
        return False


class BadResponse(ProviderError, PayloadError):
    """A 2xx answer that is not what was asked for: no list where a listing expected one, an error
    body (``{"error": "maintenance"}``, GraphQL ``errors``), an HTML page. Never read as an empty
    page (that would end a listing early and a full sync would tombstone what it did not see);
    retryable: the same request usually works once the helpdesk is itself again."""

    @property
    def retryable(self) -> bool:
        return self.meaning != "permanent"


class TransitionError(ProviderError):
    """A status cannot be reached through the workflow's transitions; nothing was changed."""

    @property
    def retryable(self) -> bool:
        return False


_BY_MEANING: dict[str, type[ProviderError]] = {
    "rate_limited": RateLimited,
    "auth": AuthError,
    "not_found": ResourceNotFound,
}


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from datetime import UTC, datetime

        from deskhand.timestamps import to_datetime

        when = to_datetime(value, "http_date")
        return None if when is None else max(0.0, (when - datetime.now(UTC)).total_seconds())


def _short(body: Any) -> str:
    text = str(body)
    return text if len(text) <= 300 else text[:300] + "…"
