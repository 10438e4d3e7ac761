"""Connection values checked against the helpdesk itself (``connection.<field>.check`` in a definition).

A definition may say how to ask the helpdesk whether a value names something that exists, e.g. Jira's
``project: {check: "GET /project/{project}"}``, or Linear's ``team_id: {check: {graphql: Team, variables:
{id: "{team_id}"}}}``; ``deskhand connect`` runs each such check for the values given, so a typo
(``--project NOPE``) is refused at connect time instead of failing every ticket later.
"""

from __future__ import annotations

from deskhand.errors import ConfigError, ProviderError, ResourceNotFound
from deskhand.providers.connector import Connector
from deskhand.providers.definition import CallSpec


def check_connection(connector: Connector) -> list[str]:
    """Run every connection check whose value is set; returns the names checked.
    A value the helpdesk does not know (404) or does not show us (403) is a ``ConfigError``."""
    checked = []
    for name, spec in connector.definition.connection.items():
        value = connector.values.get(name)
        if not spec.check or value in (None, ""):
            continue
        call = CallSpec.model_validate(spec.check)
        try:
            connector.send(call, {})
        except ProviderError as exc:
            missing = isinstance(exc, ResourceNotFound) or exc.status == 404  # a GraphQL error says so in its body
            if missing or exc.status == 403:
                flag = "--" + name.replace("_", "-")
                seen = "does not exist" if missing else "is not visible to this API user"
                asked = f"GraphQL {call.graphql}" if call.graphql else f"{call.method} {call.path}"
                raise ConfigError(
                    f"{flag} {value!r} {seen} in {connector.provider} account {connector.account!r} "
                    f"({asked}: {exc})"
                ) from exc
            raise
        checked.append(name)
    return checked + check_overrides(connector)


def check_overrides(connector: Connector) -> list[str]:
    """Every override declared with ``among: <list call>`` names only ids that call lists (e.g. a
    Trello list id of the account's board); an unknown one is a ``ConfigError`` naming the known ones."""
    checked = []
    for name, spec in connector.definition.overrides.items():
        value = connector.values.get(name)
        if not spec.among or value in (None, "", {}):
            continue
        call = CallSpec.model_validate({"call": spec.among, "paginate": False})
        listed = connector.call(call, {})
        known = {str(item.get("id")): str(item.get("name", "")) for item in listed if isinstance(item, dict)} \
            if isinstance(listed, list) else {}
        entries = value.items() if isinstance(value, dict) else [(None, value)]
        for key, given in entries:
            if str(given) not in known:
                shown = f"{name}.{key}" if key else name
                choices = ", ".join(f"{i} ({n})" for i, n in known.items()) or "none"
                raise ConfigError(f"--set {shown}={given}: not one of {call.method} {call.path}'s ids "
                                  f"in {connector.provider} account {connector.account!r}; known: {choices}")
        checked.append(name)
    return checked
