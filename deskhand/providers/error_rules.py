"""Errors as data: a definition's `errors:` rules read the error a response body carries.

A rule names where errors live (``path``); the value found there is

- a list: each element is one error (an empty list: no error) — GraphQL ``errors``;
- an object: one error (an empty object: no error) — ``{"error": {"code": …, "message": …}}``;
- a string or number: one error whose code and message it is — ``{"error": "maintenance"}``;
- absent, null, false or "": no error.

``code`` and ``message`` are paths inside one error; ``map`` gives a code its meaning
(rate_limited, auth, not_found, retryable, permanent), ``default`` the meaning of any other code
(none: as the HTTP status says; a 2xx with an error is then retryable). The first rule that finds
an error wins; of several errors, the first whose code is mapped (else the first) gives the meaning,
and up to three messages are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from deskhand.errors import BodyError, BodyReader, Meaning
from deskhand.providers.fields import get_path, map_key

GRAPHQL_ERRORS: dict[str, Any] = {"path": "errors", "code": "extensions.code", "message": "message"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ErrorRuleSpec(_Strict):
    """Where a body carries errors and what they mean (see deskhand.providers.error_rules)."""

    path: str = Field(min_length=1)  # e.g. errors (GraphQL), error, errorMessages
    code: str | None = None  # path inside one error, e.g. extensions.code
    message: str | None = None  # path inside one error, e.g. message
    map: dict[str, Meaning] = Field(default_factory=dict)  # provider code -> meaning
    default: Meaning | None = None  # meaning of an unmapped code; none: as the HTTP status says

    @field_validator("map", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        return {map_key(k): v for k, v in value.items()} if isinstance(value, dict) else value


def _errors_at(body: Any, path: str) -> list[Any]:
    found = get_path(body, path)
    if found in (None, False, "") or found == {} or found == []:
        return []
    return found if isinstance(found, list) else [found]


def _code(error: Any, rule: ErrorRuleSpec) -> str | None:
    if not isinstance(error, dict):
        return str(error)
    value = get_path(error, rule.code) if rule.code else None
    return None if value in (None, "") else map_key(value)


def _message(error: Any, rule: ErrorRuleSpec) -> str:
    if not isinstance(error, dict):
        return str(error)
    value = get_path(error, rule.message) if rule.message else None
    return str(value) if value not in (None, "") else str(error)[:200]


def read_error(rules: Sequence[ErrorRuleSpec], body: Any) -> BodyError | None:
    for rule in rules:
        errors = _errors_at(body, rule.path)
        if not errors:
            continue
        codes = [_code(e, rule) for e in errors]
        mapped = [i for i, c in enumerate(codes) if c is not None and c in rule.map]
        first = mapped[0] if mapped else 0
        code = codes[first]
        meaning = rule.map.get(code, rule.default) if code is not None else rule.default
        messages = [_message(e, rule) for e in errors]
        ordered = [messages[first], *(m for i, m in enumerate(messages) if i != first)]
        more = f" (+{len(messages) - 3} more)" if len(messages) > 3 else ""
        return BodyError("; ".join(ordered[:3]) + more, code, meaning)
    return None


def body_reader(rules: Sequence[ErrorRuleSpec]) -> BodyReader | None:
    """The reader the HTTP client applies to every response (None when there are no rules)."""
    if not rules:
        return None
    kept = tuple(rules)
    return lambda body: read_error(kept, body)
