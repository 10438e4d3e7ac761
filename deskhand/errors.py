"""One exception tree. Messages name what was wrong and what to do about it."""

from __future__ import annotations

from typing import Any


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
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.body = body
        self.reason = reason

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500

    @classmethod
    def from_response(cls, response: Any) -> ProviderError:
        """The only HTTP response → error map (works on any httpx-like response)."""
        status = int(response.status_code)
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:500]
        retry_after = _retry_after_seconds(response.headers.get("retry-after"))
        method = getattr(getattr(response, "request", None), "method", "?")
        url = getattr(getattr(response, "request", None), "url", "?")
        kind = cls
        if status == 429:
            kind = RateLimited
        elif status in (401, 403):
            kind = AuthError
        elif status == 404:
            kind = ResourceNotFound
        return kind(
            f"{method} {url} -> HTTP {status}: {_short(body)}",
            status=status,
            retry_after=retry_after,
            body=body,
        )  # a throttle's reason is read by the limiter, through the definition's limits.reason


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
        return True


class TransitionError(ProviderError):
    """A status cannot be reached through the workflow's transitions; nothing was changed."""

    @property
    def retryable(self) -> bool:
        return False


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        from datetime import UTC, datetime

        return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _short(body: Any) -> str:
    text = str(body)
    return text if len(text) <= 300 else text[:300] + "…"
