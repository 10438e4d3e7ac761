"""Connection values checked against the helpdesk itself before ``deskhand connect`` stores anything.

A definition may say how to ask the helpdesk whether a value names something that exists:

- ``check: "GET /project/{project}"`` (Jira), or any call of the definition, GraphQL included: the
  call answers 404 or the definition's not_found error (no such value) or 403 (not visible to these
  credentials);
- ``among: <list call>`` (Linear's ``team_id``: its ``teams`` query; Trello's list overrides): the
  value must be the ``id`` of an item the call lists — what these credentials can see — and the
  error names the ones listed.

So a typo (``--project NOPE``, a team id of another workspace) is refused at connect time instead
of failing every ticket later.
"""

from __future__ import annotations

import json
import re

from deskhand.errors import AuthError, ConfigError, ProviderError, ResourceNotFound
from deskhand.model import User
from deskhand.providers.connector import Connector
from deskhand.providers.definition import CallSpec

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def first_contact(connector: Connector) -> User:
    """Who the credentials are (the first call connect makes), with advice when it fails: credentials
    refused names the options they come from, a helpdesk that never answered the options saying where
    it is. Nothing has been stored when this raises."""
    try:
        return connector.current_user()
    except AuthError as exc:
        raise ConfigError(f"{connector.provider} refused these credentials ({exc}): check "
                          f"{_flags(connector, json.dumps(connector.definition.auth.model_dump()))} "
                          "(nothing was stored)") from exc
    except ProviderError as exc:
        if exc.status is not None:  # it answered: the error says what
            raise
        where = _flags(connector, connector.definition.root, base_url=True)
        raise ConfigError(f"{connector.provider} did not answer ({exc}): check {where} and that the helpdesk is up, "
                          "then run the command again (nothing was stored)") from exc


def _flags(connector: Connector, template: str, *, base_url: bool = False) -> str:
    """The connect options whose values fill ``template`` (e.g. ``--email``/``--api-token``)."""
    names = [n for n in dict.fromkeys(_PLACEHOLDER.findall(template)) if n in connector.definition.connection]
    if base_url and connector.values.get("base_url"):
        names = ["base_url"]  # the account points elsewhere: that is where it failed
    return "/".join("--" + n.replace("_", "-") for n in names) or "the connection values"


def check_connection(connector: Connector) -> list[str]:
    """Run every connection check whose value is set; returns the names checked.
    A value the helpdesk does not know (404), does not show us (403) or does not list is a ``ConfigError``."""
    checked = []
    for name, spec in connector.definition.connection.items():
        value = connector.values.get(name)
        if not (spec.check or spec.among) or value in (None, ""):
            continue
        flag = "--" + name.replace("_", "-")
        if spec.check:
            _check_call(connector, flag, value, CallSpec.model_validate(spec.check))
        if spec.among:
            known = listed(connector, spec.among)
            if str(value) not in known:
                raise ConfigError(f"{flag} {value!r} does not exist in {connector.provider} account "
                                  f"{connector.account!r} or is not visible to these credentials; what they can "
                                  f"see ({_where(spec.among)}): {_choices(known)} (nothing was stored)")
        checked.append(name)
    return checked + check_overrides(connector)


def _check_call(connector: Connector, flag: str, value: object, call: CallSpec) -> None:
    try:
        connector.send(call, {})
    except ProviderError as exc:
        missing = isinstance(exc, ResourceNotFound) or exc.status == 404  # a GraphQL error says so in its body
        if missing or exc.status == 403:
            seen = "does not exist" if missing else "is not visible to this API user"
            raise ConfigError(
                f"{flag} {value!r} {seen} in {connector.provider} account {connector.account!r} "
                f"({_where(call)}: {exc})"
            ) from exc
        raise


def listed(connector: Connector, call: CallSpec) -> dict[str, str]:
    """``{id: name}`` of every item a list call lists (every page its paginator reaches)."""
    return {str(item["id"]): str(item.get("name") or "") for item in connector.iter_records(call, {})
            if isinstance(item, dict) and item.get("id") not in (None, "")}


def _where(call: CallSpec) -> str:
    return f"GraphQL {call.graphql}" if call.graphql else f"{call.method} {call.path}"


def _choices(known: dict[str, str]) -> str:
    return ", ".join(f"{i} ({n})" if n else i for i, n in known.items()) or "none"


def check_overrides(connector: Connector) -> list[str]:
    """Every override declared with ``among: <list call>`` names only ids that call lists (e.g. a
    Trello list id of the account's board, a Linear workflow state of the account's team); an unknown
    one is a ``ConfigError`` naming the known ones."""
    checked = []
    for name, spec in connector.definition.overrides.items():
        value = connector.values.get(name)
        if not spec.among or value in (None, "", {}):
            continue
        known = listed(connector, spec.among)
        entries = value.items() if isinstance(value, dict) else [(None, value)]
        for key, given in entries:
            if str(given) not in known:
                shown = f"{name}.{key}" if key else name
                raise ConfigError(f"--set {shown}={given}: not one of {_where(spec.among)}'s ids "
                                  f"in {connector.provider} account {connector.account!r}; known: {_choices(known)}")
        checked.append(name)
    return checked
