"""Every per-account setting in one catalogue: what it is, its default, how it is checked.

Account settings are stored as the strings given to ``deskhand connect … --setting key=value`` (lists
as comma-separated text). The responder reads them in several places — ``Policy`` (thresholds,
categories), ``AutonomyConfig`` (kill-switch thresholds), the account rules (VIPs, legal terms,
languages, disabled rules), classification (``categories``) and sync (``sync_start``); this module
collects all of them, so that ``--setting`` accepts exactly these, checks each value before anything
is stored, and ``deskhand policy show`` prints the effective configuration with defaults marked.
Fields later added to ``Policy`` or ``AutonomyConfig`` appear here by themselves.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from deskhand.errors import ConfigError
from deskhand.timestamps import parse_timestamp

Check = Callable[[list[str]], str | None]  # the items of a value → an error message, or None


@dataclass(frozen=True, slots=True)
class SettingSpec:
    name: str
    kind: str  # float | int | bool | str | list
    default: Any
    help: str = ""
    check: Check | None = None


@dataclass(frozen=True, slots=True)
class Effective:
    name: str
    value: Any
    default: bool  # True when the account does not set it

    def shown(self) -> str:
        if isinstance(self.value, list | tuple):
            return ", ".join(str(v) for v in self.value) or "(none)"
        if self.value in (None, ""):
            return "(none)"
        return str(self.value)


def _languages(items: list[str]) -> str | None:
    bad = [i for i in items if not re.fullmatch(r"[a-z]{2}(-[a-z]{2})?", i.lower())]
    return f"not ISO 639-1 language codes: {', '.join(bad)} (e.g. en,de,fr)" if bad else None


def _rules(items: list[str]) -> str | None:
    from deskhand.responder.rules_account import ACCOUNT_RULES

    bad = [i for i in items if i not in ACCOUNT_RULES]
    return f"unknown rules {', '.join(bad)}: use any of {', '.join(ACCOUNT_RULES)}" if bad else None


def _pairs(items: list[str]) -> str | None:
    bad = [i for i in items if "=" not in i or not i.split("=", 1)[0].strip()]
    return f"not field=value pairs: {', '.join(bad)}" if bad else None


def _patterns(items: list[str]) -> str | None:
    for item in items:
        try:
            re.compile(item)
        except re.error as exc:
            return f"{item!r} is not a regular expression: {exc}"
    return None


def _instant(items: list[str]) -> str | None:
    try:
        parse_timestamp(",".join(items))  # as the sync reads it (deskhand.sync.reconcile)
    except ValueError:
        return "not an ISO 8601 date or time (e.g. 2024-01-31 or 2024-01-31T12:00:00Z) nor unix seconds"
    return None


_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}")


def _domains(items: list[str]) -> str | None:
    bad = [i for i in items if not _DOMAIN.fullmatch(i.lower())]
    return f"not domain names: {', '.join(bad)} (e.g. acme.com,help.acme.com)" if bad else None


EXTRA = (
    SettingSpec("supported_languages", "list", ("en",), "ISO 639-1 codes answered; others go to a human", _languages),
    SettingSpec("vip_organizations", "list", (), "organisation ids or names whose tickets go to a human"),
    SettingSpec("vip_tags", "list", (), "ticket tags that send a ticket to a human"),
    SettingSpec("vip_fields", "list", (), "field=value pairs that send a ticket to a human", _pairs),
    SettingSpec("extra_legal_terms", "list", (), "more legal / security wording that sends a ticket to a human"),
    SettingSpec("disabled_rules", "list", (), "account rules turned off", _rules),
    SettingSpec("categories", "list", (), "the account's own category names (default: the trained taxonomy's)"),
    SettingSpec("sync_start", "str", None, "oldest ticket update the sync reconciles (ISO 8601)", _instant),
    SettingSpec("allowed_domains", "list", (), "domains public replies may link to or give e-mail addresses of "
                "(and their subdomains); the helpdesk's and knowledge base's own hosts are always allowed", _domains),
)
CHECKS: dict[str, Check] = {"extra_outage_terms": _patterns}


def _kind(default: Any) -> str:
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("list", tuple | list)):
        if isinstance(default, types):
            return kind
    return "str"


def catalogue() -> dict[str, SettingSpec]:
    """Every setting an account may have, by name."""
    from deskhand.responder.policy import Policy
    from deskhand.responder.switches import AutonomyConfig

    specs: dict[str, SettingSpec] = {}
    for cls in (Policy, AutonomyConfig):
        defaults = cls()
        for f in dataclasses.fields(cls):
            value = getattr(defaults, f.name)
            specs[f.name] = SettingSpec(f.name, _kind(value), value, check=CHECKS.get(f.name))
    for spec in EXTRA:
        specs.setdefault(spec.name, spec)
    return specs


def items(raw: Any) -> list[str]:
    values = raw.split(",") if isinstance(raw, str) else list(raw or [])
    return [str(v).strip() for v in values if str(v).strip()]


def parse_setting(text: str) -> tuple[str, str | None]:
    """``key=value`` checked on its own: the key must exist and the value fit its kind. An empty value
    (``key=``) means: back to the default (None)."""
    specs = catalogue()
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or key not in specs:
        raise ConfigError(f"--setting takes key=value with key one of {', '.join(sorted(specs))}")
    value = value.strip()
    if value == "":
        return key, None
    spec = specs[key]
    try:
        if spec.kind == "float":
            float(value)
        elif spec.kind == "int":
            int(value)
        elif spec.kind == "bool" and value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(value)
    except ValueError as exc:
        raise ConfigError(f"--setting {key}={value!r} is not a valid {spec.kind}") from exc
    problem = spec.check(items(value) if spec.kind == "list" else [value]) if spec.check else None
    if problem:
        raise ConfigError(f"--setting {key}: {problem}")
    return key, ",".join(items(value)) if spec.kind == "list" else value


def validate(settings: Mapping[str, Any]) -> None:
    """The whole set together (e.g. draft_threshold ≤ auto_threshold); ConfigError otherwise."""
    from deskhand.responder.policy import Policy
    from deskhand.responder.switches import AutonomyConfig

    present = {k: v for k, v in settings.items() if v is not None}
    Policy.from_settings(present)
    AutonomyConfig.from_settings(present)


def effective(settings: Mapping[str, Any]) -> list[Effective]:
    """Each setting's value in force for an account (its own, or the default), in catalogue order."""
    from deskhand.responder.policy import Policy
    from deskhand.responder.switches import AutonomyConfig

    present = {k: v for k, v in settings.items() if v not in (None, "")}
    policy, autonomy = Policy.from_settings(present), AutonomyConfig.from_settings(present)
    rows = []
    for name, spec in catalogue().items():
        if hasattr(policy, name):
            value = getattr(policy, name)
        elif hasattr(autonomy, name):
            value = getattr(autonomy, name)
        elif name in present:
            value = items(present[name]) if spec.kind == "list" else present[name]
        else:
            value = spec.default
        rows.append(Effective(name, list(value) if isinstance(value, tuple) else value, name not in present))
    return rows


def change(conn: Any, account: str, changes: Mapping[str, str | None]) -> dict[str, Any]:
    """Set some of an account's settings in `conn`'s transaction (a None value: back to the default),
    each checked as ``--setting`` checks it and the whole set together; returns the values before.
    The row is read and written in one transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: FOR UPDATE)."""
    from sqlalchemy import select, update

    from deskhand.errors import NotFoundError
    from deskhand.store.schema import accounts
    from deskhand.store.store import now

    parsed = dict(parse_setting(f"{k}={'' if v is None else v}") for k, v in changes.items())
    q = select(accounts.c.settings).where(accounts.c.name == account)
    row = conn.execute(q if conn.dialect.name == "sqlite" else q.with_for_update()).first()
    if row is None:
        raise NotFoundError(f"no account named {account!r}: see `deskhand accounts list`")
    old = dict(row.settings or {})
    merged = {k: v for k, v in {**old, **parsed}.items() if v is not None}
    validate(merged)
    conn.execute(update(accounts).where(accounts.c.name == account).values(settings=merged, updated_at=now()))
    return {k: old.get(k) for k in parsed}
