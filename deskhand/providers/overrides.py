"""Per-account overrides of definition arguments (list ids, status ids, custom field ids).

A definition declares what an account may override::

    overrides:
      team: {help: "key of the team tickets live in", default: ENG, pattern: "^[A-Z][A-Z0-9]*$"}
      status:                      # a map: --set status.pending=<state id>
        keys: [new, open, pending, on_hold, solved, closed]   # allowed keys (omit: any key)
        help: "workflow state id of each deskhand status"
        among: "GET /boards/{board}/lists"   # connect checks each value is the id of an item listed
                                             #   (a string: one page; or any list call, e.g. GraphQL with
                                             #   `items` and `paginate`)

``deskhand connect <slug> … --set team=SUP --set status.pending=8f1c…`` (repeatable) stores them with
the account (checked here: an unknown name or key is a one-line error); ``deskhand accounts set``
changes them later. The connector sees them among its values: a scalar fills ``{team}`` in any
template, a map fills ``{status.pending}`` and extends a call argument's ``map`` (``args: {status:
{map: {...}, overrides: status}}``: keyed by the deskhand value) or a field rule's map read in
reverse (``fields: {status: {path: state.id, reverse_overrides: status}}``: the provider's id reads
as the key).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from deskhand.errors import ConfigError
from deskhand.providers.spec_calls import CallSpec


class OverrideSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    help: str | None = None
    map: bool = False  # a map of key=value entries (set as name.key=value)
    keys: list[str] | None = None  # the keys a map allows (implies map)
    default: Any = None  # a scalar's value, or a map's entries, when the account sets none
    pattern: str | None = None  # every value must match
    among: CallSpec | None = None  # a list call: every value must be the id of an item it lists (connect)

    @field_validator("among", mode="before")
    @classmethod
    def _one_page(cls, value: Any) -> Any:
        return among_call(value)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern {value!r} is not a regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _shape(self) -> OverrideSpec:
        if self.keys is not None and not self.map:
            object.__setattr__(self, "map", True)
        if self.map and self.default is not None and not isinstance(self.default, dict):
            raise ValueError("a map override's default is a mapping of key: value")
        return self

    def shown(self, name: str) -> str:
        if not self.map:
            return name
        return f"{name}.<{'|'.join(self.keys)}>" if self.keys else f"{name}.<key>"


Specs = Mapping[str, OverrideSpec]


def among_call(value: Any) -> Any:
    """An ``among:`` list call as a call mapping: ``"GET /path"`` is its one page (no paginator)."""
    return {"call": value, "paginate": False} if isinstance(value, str) else value


def _allowed(specs: Specs) -> str:
    return ", ".join(spec.shown(name) for name, spec in specs.items()) or "nothing (its definition declares none)"


def parse_sets(provider: str, specs: Specs, items: Iterable[str]) -> dict[str, Any]:
    """``["team=SUP", "status.pending=8f1c"]`` → ``{"team": "SUP", "status": {"pending": "8f1c"}}``,
    checked against the declared overrides (ConfigError naming the bad item and what is allowed)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ConfigError(f"--set takes name=value, got {item!r}; {provider} takes: {_allowed(specs)}")
        name, dot, entry = key.partition(".")
        spec = specs.get(name)
        if spec is None:
            raise ConfigError(f"unknown override {key!r}; {provider} takes: {_allowed(specs)}")
        if spec.map != bool(dot and entry):
            raise ConfigError(f"override {key!r}: {provider} takes it as {spec.shown(name)}=value")
        if spec.keys is not None and entry not in spec.keys:
            raise ConfigError(f"override {key!r}: {entry!r} is not one of {', '.join(spec.keys)}")
        if spec.pattern and value and not re.fullmatch(spec.pattern, value):
            raise ConfigError(f"override {key!r}: {value!r} does not match {spec.pattern}"
                              + (f" ({spec.help})" if spec.help else ""))
        if spec.map:
            out.setdefault(name, {})[entry] = value
        else:
            out[name] = value
    return out


def merge(current: Mapping[str, Any], changes: Mapping[str, Any], unset: Iterable[str] = ()) -> dict[str, Any]:
    """`current` with `changes` applied (map entries merged; an empty value removes it) and `unset`
    names (``team`` or ``status.pending``) removed."""
    out: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in current.items()}
    for name, value in changes.items():
        if isinstance(value, dict):
            entries = {**out.get(name, {}), **value}
            out[name] = {k: v for k, v in entries.items() if v != ""}
        else:
            out[name] = value
    for key in unset:
        name, _, entry = key.partition(".")
        if entry and isinstance(out.get(name), dict):
            out[name].pop(entry, None)
        elif not entry:
            out.pop(name, None)
    return {k: v for k, v in out.items() if v not in ("", {}, None)}


def resolve(specs: Specs, stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The values the connector sees: every declared override, the account's value over the default."""
    stored = stored or {}
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        if spec.map:
            values[name] = {**(spec.default or {}), **(stored.get(name) or {})}
        elif stored.get(name) not in (None, ""):
            values[name] = stored[name]
        elif spec.default is not None:
            values[name] = spec.default
    return values


def check_names(specs: Specs, connection: Iterable[str]) -> None:
    clash = sorted(set(specs) & set(connection))
    if clash:
        raise ValueError(f"overrides: {clash} are connection values already")

