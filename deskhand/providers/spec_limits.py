"""The `limits:` section of a provider definition: rate budgets as data (read by deskhand.limits).

::

    limits:
      window_s: 60                 # a budget's window when nothing else says (default 60)
      retry_after: retry-after     # header of a throttled answer's wait (seconds or an HTTP date); null: none
      budgets:                     # one entry per budget the provider announces (or that we know of)
        <name>:
          limit: <header>          # the budget's size (every <header> may be `name#key`: one member of a
                                   #   structured header, e.g. zendesk-ratelimit-tickets-index#remaining)
          remaining: <header>      # what is left in the window
          used: <header>           # used so far in the window (remaining = limit - used, when no `remaining`)
          cost: <header>           # what this request cost (informational: logged, read by tests)
          reset: <header>          # when the window resets ...
          reset_unit: seconds | epoch_s | epoch_ms | http_date | iso8601    # ... in this unit (default seconds)
          window: <header>         # the window's length ...
          window_unit: seconds | ms                                         # ... in this unit (default seconds)
          window_s: 3600           # the window when no header says (default: limits.window_s)
          default_limit: 300       # the size when no header says: we count it ourselves (e.g. Trello)
          scope: account | endpoint   # one budget per account, or per account x endpoint (default account)
          spread: false            # a token bucket without reset: send evenly, window / limit apart
          calls: ["PUT /tickets/{ticket_id}.json"]   # only these calls (as declared) spend it (default all)
          shared_by: api_key       # a connection value: every account with the same value shares the
                                   #   budget (Trello's 300 / 10 s per app key; Jira's app-wide pool)
      reason:                      # why a throttled answer was throttled, and what it holds back
        header: ratelimit-reason   # (or a list of headers, first present wins) ...
        body: true                 # ... and/or the code the `errors:` rules read from the throttled
                                   #   answer's body (Trello's {"error": "API_KEY_LIMIT_EXCEEDED"})
        scopes: {<reason value>: account | endpoint | record | quota | <budget name>}
        default: account           # scope of a throttle without a listed reason
      records:                     # budgets per record (e.g. 30 updates / 10 min per ticket)
        arg: ticket_id             # the call argument naming the record
        writes: [[30, 600]]        # [n, per seconds] writes to one record

Scopes of a throttle (a ``Retry-After``, or a budget announced as exhausted): ``account`` holds every
request of the account, ``endpoint`` that endpoint (method + the call's declared path), ``record``
writes to that record (its ``records.arg``), ``quota`` the whole account until the latest announced
reset (a long wait: the job goes back to the queue, a worker never parks); a budget's name holds that
budget only (Trello: the app key's budget, shared by every account with the key, or the token's).
A throttle that says nothing of how long holds its scope one window (the budget's, else `window_s`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ResetUnit = Literal["seconds", "epoch_s", "epoch_ms", "http_date", "iso8601"]
Scope = Literal["account", "endpoint", "record", "quota"]
SCOPES: tuple[str, ...] = ("account", "endpoint", "record", "quota")
_FLAT = {"limit_header", "remaining_header", "reset_header", "retry_after_header", "bucket", "per_record_writes",
         "spread"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class BudgetSpec(_Strict):
    """One budget: where its figures are read and what one budget covers."""

    limit: str | None = None
    remaining: str | None = None
    used: str | None = None
    cost: str | None = None
    reset: str | None = None
    reset_unit: ResetUnit = "seconds"
    window: str | None = None
    window_unit: Literal["seconds", "ms"] = "seconds"
    window_s: float | None = Field(None, gt=0)
    default_limit: int | None = Field(None, gt=0)
    scope: Literal["account", "endpoint"] = "account"
    spread: bool = False
    calls: list[str] | None = None
    shared_by: str | None = None

    @field_validator("calls")
    @classmethod
    def _declared(cls, value: list[str] | None) -> list[str] | None:
        for call in value or []:
            method, _, path = call.partition(" ")
            if method not in ("GET", "POST", "PUT", "PATCH", "DELETE") or not path.startswith("/"):
                raise ValueError(f"calls: {call!r} must be a call as declared, e.g. 'PUT /tickets/{{ticket_id}}.json'")
        return value


class ReasonSpec(_Strict):
    header: str | list[str] | None = None
    body: bool = False
    scopes: dict[str, str] = Field(default_factory=dict)  # reason -> a Scope or a budget's name (checked in LimitsSpec)
    default: str = "account"

    @model_validator(mode="after")
    def _somewhere(self) -> ReasonSpec:
        if not self.header and not self.body:
            raise ValueError("reason: say where it is: `header` (a response header) and/or `body: true` (the code "
                             "the `errors:` rules read)")
        return self

    def headers(self) -> list[str]:
        if not self.header:
            return []
        return [self.header] if isinstance(self.header, str) else list(self.header)


class RecordsSpec(_Strict):
    arg: str = "ticket_id"
    writes: list[tuple[int, float]] = Field(default_factory=list)

    @field_validator("writes")
    @classmethod
    def _positive(cls, value: list[tuple[int, float]]) -> list[tuple[int, float]]:
        for n, per_s in value:
            if n <= 0 or per_s <= 0:
                raise ValueError(f"records.writes: [{n}, {per_s}] must be [writes > 0, per seconds > 0]")
        return value


class LimitsSpec(_Strict):
    window_s: float = Field(60.0, gt=0)
    retry_after: str | None = "retry-after"
    budgets: dict[str, BudgetSpec] = Field(default_factory=dict)
    reason: ReasonSpec | None = None
    records: RecordsSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_flat_headers(cls, value: Any) -> Any:
        old = sorted(set(value) & _FLAT) if isinstance(value, dict) else []
        if old:
            raise ValueError(
                f"limits: {', '.join(old)} are gone; declare each budget under `budgets: {{<name>: {{limit: <header>, "
                "remaining: <header>, reset: <header>, reset_unit: ...}}}}` and per-record writes under "
                "`records: {arg: ticket_id, writes: [[n, per_s]]}` (see deskhand/providers/spec_limits.py)"
            )
        return value

    @field_validator("budgets")
    @classmethod
    def _names(cls, value: dict[str, BudgetSpec]) -> dict[str, BudgetSpec]:
        for name, spec in value.items():
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"budgets.{name}: a budget name is letters, digits, '-' and '_'")
            if spec.limit is None and spec.default_limit is None and spec.remaining is None:
                raise ValueError(f"budgets.{name}: needs a `limit` or `remaining` header, or a `default_limit`")
        return value

    @model_validator(mode="after")
    def _scopes_known(self) -> LimitsSpec:
        if self.reason is None:
            return self
        known = set(SCOPES) | set(self.budgets)
        for reason, scope in [*self.reason.scopes.items(), ("(default)", self.reason.default)]:
            if scope not in known:
                raise ValueError(f"reason.scopes.{reason}: {scope!r} is neither a scope ({', '.join(SCOPES)}) nor a "
                                 f"budget ({', '.join(self.budgets) or 'none declared'})")
        return self

    def window_of(self, budget: BudgetSpec) -> float:
        return budget.window_s or self.window_s

    def scope_of(self, reason: str | None) -> str:
        """The scope a throttle's reason holds: a Scope, or the name of one budget."""
        if self.reason is None:
            return "account"
        if reason is not None and reason in self.reason.scopes:
            return self.reason.scopes[reason]
        return self.reason.default
