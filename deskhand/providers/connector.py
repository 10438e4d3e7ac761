"""The connector: one account of one provider, interpreting its definition over HTTP.

Nothing here knows a provider's name: everything provider-specific is in its definition, and
whatever data can't say is a named function in its hook module (called as documented below).

Hook signatures: field/argument hooks ``f(value) -> value``; a call hook (``hook:`` instead of
``call:`` on a resource call) ``f(connector, args) -> response body``; an action hook
``f(connector, action, args) -> summary dict``; the ``prepare`` hook ``f(values) -> values``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from importlib import import_module
from types import ModuleType
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from deskhand.errors import ConfigError, ProviderError
from deskhand.model import Action, Comment, Event, Priority, Team, Ticket, User
from deskhand.providers import records, webhooks
from deskhand.providers.client import ProviderHTTP
from deskhand.providers.definition import CallSpec, ProviderDefinition, VerifySpec
from deskhand.providers.fields import fill, get_path, map_key, set_path
from deskhand.providers.pages import ListingPage, item_at, items_at, response_json, walk
from deskhand.providers.spec_paging import build_paginator


def resolve_values(definition: ProviderDefinition, account: str, config: Mapping[str, str]) -> dict[str, Any]:
    """The connection values with defaults, checked against the definition; plus `root`."""
    values: dict[str, Any] = {k: v for k, v in config.items() if v not in (None, "")}
    grant = definition.auth if definition.auth.type == "oauth2" else definition.oauth
    granted = set(grant.replaces) if grant is not None and config.get("auth") in ("oauth2", "oauth1") else set()
    for name, spec in definition.connection.items():
        value = values.get(name, spec.default)
        if value in (None, ""):
            if spec.required and name not in granted:  # an OAuth grant stands in for the API token
                flag = "--" + name.replace("_", "-")
                raise ConfigError(
                    f"account {account!r} has no {name}: deskhand connect {definition.name} --name {account} {flag} …"
                )
            continue
        if spec.pattern and not re.fullmatch(spec.pattern, str(value)):
            shown = "(secret)" if spec.secret else repr(value)
            raise ConfigError(
                f"account {account!r}: {name} {shown} does not match {spec.pattern}"
                + (f" ({spec.help})" if spec.help else "")
            )
        values[name] = value
    if granted and grant is not None and grant.type == "oauth2" and grant.root:  # the API's own root under OAuth
        # (Atlassian's gateway)
        try:
            values["root"] = rehost(str(fill(grant.root, values)), values.get("base_url")).rstrip("/")
        except KeyError:
            pass  # not known before the grant (the cloud id): connecting sets it
        return values
    try:
        root = values.get("base_url") or fill(definition.root, values)
    except KeyError as exc:
        raise ConfigError(f"{definition.name}: root {definition.root} needs {exc.args[0]}") from exc
    values["root"] = str(root).rstrip("/")
    return values


def rehost(url: str, base_url: str | None) -> str:
    """`url` on `base_url`'s scheme and host when the account has one (a simulator plays every host of its
    provider: https://api.atlassian.com/ex/jira/X -> http://127.0.0.1:8082/ex/jira/X); else `url`."""
    if not base_url:
        return url
    parts, base = urlsplit(url), urlsplit(base_url)
    if not parts.netloc or parts.netloc == base.netloc:
        return url
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, parts.fragment))


class Connector:
    def __init__(
        self,
        definition: ProviderDefinition,
        account: str,
        values: Mapping[str, Any],
        http: ProviderHTTP,
        hooks: ModuleType | None = None,
    ) -> None:
        self.definition = definition
        self.provider = definition.name
        self.account = account
        self.http = http
        functions = {n: getattr(hooks, n) for n in definition.hook_names()} if hooks else {}
        self._hook_fns: dict[str, Callable[..., Any]] = functions
        self.values = dict(functions[definition.prepare](dict(values)) if definition.prepare else values)
        self.readers = {
            name: records.RecordReader(self.provider, name, spec, functions, self.values)
            for name, spec in definition.resources.items()
        }
        self._me: User | None = None
        self._names: dict[str, str | None] = {}  # requester id -> name (None: the helpdesk has none)

    # -- reading ---------------------------------------------------------------------------

    def get_ticket(self, ticket_id: str, *, with_comments: bool = True) -> Ticket:
        spec = self._resource_call("ticket", "get")
        record = item_at(self.call(spec, {"ticket_id": ticket_id}), spec.item, self._where(spec))
        comments = self.list_comments(ticket_id) if with_comments else []
        ticket = records.read_ticket(self.readers["ticket"], record, comments=comments, url_values=self.values)
        return self._named_requester(ticket)

    def _named_requester(self, ticket: Ticket) -> Ticket:
        """The requester's name from the user record (``resources.user.get``) when the ticket names only
        the requester's id (Zendesk), so that a reply can greet them; looked up once per person."""
        spec = self.definition.resources.get("user")
        requester = ticket.requester
        if requester is None or requester.name or spec is None or spec.get is None:
            return ticket
        if requester.id not in self._names:
            try:
                body = self.call(spec.get, {"user_id": requester.id})
            except ProviderError as exc:  # a greeting is not worth failing the ticket for
                if exc.status != 404:
                    return ticket
                body = None
            user = records.read_user(self.readers["user"], get_path(body, spec.get.item)) if body else None
            self._names[requester.id] = user.name if user and user.name else None
        name = self._names[requester.id]
        return dataclasses.replace(ticket, requester=dataclasses.replace(requester, name=name)) if name else ticket

    def iter_tickets(self, *, page_size: int | None = None) -> Iterator[Ticket]:
        for record in self.iter_records(self._resource_call("ticket", "list"), {}, page_size=page_size):
            yield records.read_ticket(self.readers["ticket"], record, url_values=self.values)

    def search_tickets(self, query: str, *, page_size: int | None = None) -> Iterator[Ticket]:
        """Tickets matching ``query`` by the helpdesk's own search (``resources.ticket.search``), in its
        order (relevance); a definition without one matches the words in subject and description of
        the listing instead, case-insensitively."""
        spec = self.definition.resources["ticket"].search
        if spec is None:
            words = query.lower().split()
            for ticket in self.iter_tickets(page_size=page_size):
                text = f"{ticket.subject}\n{ticket.description}".lower()
                if all(w in text for w in words):
                    yield ticket
            return
        for record in self.iter_records(spec, {"query": query}, page_size=page_size):
            yield records.read_ticket(self.readers["ticket"], record, url_values=self.values)

    def list_comments(self, ticket_id: str) -> list[Comment]:
        spec = self._resource_call("comment", "list")
        reader = self.readers["comment"]
        found = self.iter_records(spec, {"ticket_id": ticket_id})
        return [records.read_comment(reader, r, str(ticket_id)) for r in found]

    def satisfaction(self, ticket_id: str) -> str | None:
        """The customer's latest rating of the ticket (``good`` | ``neutral`` | ``bad``) where the
        helpdesk keeps ratings apart from the ticket (``resources.satisfaction``); None when it keeps
        none, or the ticket has none yet (a 404: JSM answers so for a request without feedback)."""
        spec = self.definition.resources.get("satisfaction")
        if spec is None:
            return None
        try:
            if spec.list is not None:
                found = list(self.iter_records(spec.list, {"ticket_id": ticket_id}))
            else:
                call = self._resource_call("satisfaction", "get")
                body = self.call(call, {"ticket_id": ticket_id})
                found = [get_path(body, call.item)] if body else []
        except ProviderError as exc:
            if exc.status == 404:
                return None
            raise
        reader = self.readers["satisfaction"]
        rated = [reader.values(r) for r in found if isinstance(r, dict)]
        rated = [v for v in rated if v.get("score") in ("good", "neutral", "bad")]
        rated.sort(key=lambda v: str(v.get("created_at") or ""))  # stable: the helpdesk's order otherwise
        return str(rated[-1]["score"]) if rated else None

    def list_users(self) -> list[User]:
        spec = self._resource_call("user", "list")
        return [records.read_user(self.readers["user"], r) for r in self.iter_records(spec, {})]

    def list_teams(self) -> list[Team]:
        if "team" not in self.definition.resources:  # a helpdesk without teams: none to list
            return []
        spec = self._resource_call("team", "list")
        return [records.read_team(self.readers["team"], r) for r in self.iter_records(spec, {})]

    def current_user(self) -> User:
        if self._me is None:
            spec = self._resource_call("user", "me")
            record = item_at(self.call(spec, {}), spec.item, self._where(spec))
            self._me = records.read_user(self.readers["user"], record)
        return self._me

    # -- writing ---------------------------------------------------------------------------

    def create_ticket(
        self,
        *,
        subject: str,
        body: str,
        requester_name: str | None = None,
        requester_email: str | None = None,
        tags: Sequence[str] = (),
        priority: Priority | None = None,
    ) -> Ticket:
        spec = self._resource_call("ticket", "create")
        args = {
            "subject": subject,
            "body": body,
            "requester_name": requester_name,
            "requester_email": requester_email,
            "tags": list(tags),
            "priority": priority,
        }
        response = self.call(spec, args)
        if spec.refetch:
            return self.get_ticket(str(get_path(response, spec.refetch)))
        record = item_at(response, spec.item, self._where(spec))
        return records.read_ticket(self.readers["ticket"], record, url_values=self.values)

    def perform(self, action: Action) -> dict[str, Any]:
        """Perform one action; returns a summary (kind, ticket, HTTP status, `result` values)."""
        spec = self.definition.actions.get(action.kind)
        if spec is None:
            raise ConfigError(f"{self.provider} cannot {action.kind.value}: its definition has no such action")
        args = {**action.params, "ticket_id": action.ticket_id}
        if spec.hook:
            return dict(self._hook_fns[spec.hook](self, action, self._args(spec, args)))
        response = self.send(spec, args)
        body = response_json(response)
        summary: dict[str, Any] = {
            "action": action.kind.value,
            "ticket_id": action.ticket_id,
            "status_code": response.status_code,
        }
        for name, path in spec.result.items():
            value = get_path(body, path)
            if value is not None:
                summary[name] = value
        return summary

    # -- webhooks --------------------------------------------------------------------------

    def verify_webhook(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: datetime | None = None,
        tolerance: float | None = None,
        default_tolerance: float = webhooks.DEFAULT_TOLERANCE_S,
        url: str | None = None,
    ) -> None:
        """`default_tolerance`: the freshness window when the definition sets none (the gateway passes
        DESKHAND_WEBHOOK_TOLERANCE_S); `url`: the URL the delivery came to ({callback_url} when the
        account has no `callback_url` value)."""
        schemes = self.webhook_schemes()
        if not self._webhooks().verify:
            raise ConfigError(f"{self.provider} webhooks carry no signature; verify them another way")
        values = self._text_values()
        if url and not values.get("callback_url"):
            values["callback_url"] = url
        webhooks.verify_any(schemes, headers, body, values=values, now=now, tolerance=tolerance,
                            default_tolerance=default_tolerance)

    def webhook_schemes(self) -> list[tuple[VerifySpec, str | None]]:
        """Each verify scheme of the definition with the secret this account gives it (None: the
        account does not configure that scheme)."""
        return webhooks.scheme_secrets(self._webhooks().verify, self.values)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[Event]:
        return webhooks.parse_events(self._webhooks(), self.provider, self.account, headers, body)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the engine (also what hooks use) --------------------------------------------------

    def send(self, spec: CallSpec, args: Mapping[str, Any], **overrides: Any) -> httpx.Response:
        """One HTTP call from a call spec and its arguments (args converted, placeholders filled)."""
        context = {**self.values, **self._args(spec, args)}
        declared = self.definition.graphql_endpoint() if spec.graphql else spec.path
        path_values = {k: quote(str(v), safe="") for k, v in context.items() if isinstance(v, str | int)}
        try:
            path = fill(declared, path_values)
        except KeyError as exc:
            raise ValueError(f"{self.provider} {spec.method} {declared} needs {exc.args[0]}") from exc
        request = {
            "params": fill(spec.params, context) or None,
            "json": self._json(spec, context),
            "headers": fill(spec.headers, context) or None,
        }
        url = overrides.pop("url", None)
        request.update(overrides)
        records = self.definition.limits.records  # the budgets the call falls under (deskhand.limits)
        record = args.get(records.arg) if records else None
        idempotent = bool(spec.graphql) and self.definition.operation(spec.graphql or "").kind == "query"
        return self.http.request(spec.method, url or path, endpoint=f"{spec.method} {declared}",
                                 record=None if record in (None, "") else str(record), idempotent=idempotent,
                                 **request)

    def _json(self, spec: CallSpec, context: Mapping[str, Any]) -> Any:
        """The JSON body: the call's `json` template, or a GraphQL request of its operation."""
        if spec.graphql:
            return self.definition.operation(spec.graphql).request(fill(spec.variables, context))
        return fill(spec.json_body, context)

    def call(self, spec: CallSpec, args: Mapping[str, Any]) -> Any:
        """The JSON body of a call (or what its hook returns)."""
        if spec.hook:
            return self._hook_fns[spec.hook](self, self._args(spec, args))
        return response_json(self.send(spec, args))

    def pages(self, spec: CallSpec, args: Mapping[str, Any], *, page_size: int | None = None,
              follow: bool = True) -> Iterator[ListingPage]:
        """Every page of a list call, following the pagination its definition names (only the first
        page when `follow` is false): the one paging loop, :func:`deskhand.providers.pages.walk`."""
        if spec.hook:
            body = self.call(spec, args)
            yield ListingPage(items_at(body, spec.items, f"{self.provider} hook {spec.hook}"), body, {}, None)
            return
        paging = self.definition.paginate if spec.paginate is None else spec.paginate
        paginator = build_paginator(paging, page_size) if paging and follow else None
        context = {**self.values, **self._args(spec, args)}
        start = paginator.first() if paginator else None
        params = {**(fill(spec.params, context) or {}), **(start.params if start else {})}
        json_body = self._json(spec, context)
        if start and start.json:
            json_body = json_body if isinstance(json_body, dict) else {}
            for dotted, value in start.json.items():
                set_path(json_body, dotted, value)

        def send(url: str | None, query: dict[str, Any], body: Any) -> httpx.Response:
            return self.send(spec, args, url=url, params=query or None, json=body)

        yield from walk(send, paginator, params, json_body, spec.items, self.provider)

    def iter_records(self, spec: CallSpec, args: Mapping[str, Any], *, page_size: int | None = None) -> Iterator[Any]:
        """Every record of a list call, following the pagination its definition names."""
        for page in self.pages(spec, args, page_size=page_size):
            yield from page.records

    def _args(self, spec: CallSpec, args: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(args)
        for name, rule in spec.args.items():
            value = out.get(name)
            if value is None:
                if rule.required:
                    raise ValueError(f"{self.provider} {spec.method} {spec.path}: missing argument {name}")
                continue
            if rule.hook:
                value = self._hook_fns[rule.hook](value)
            mapping = rule.map
            if rule.overrides:  # the account's entries of a declared map override win
                account = self.values.get(rule.overrides) or {}
                mapping = {**(mapping or {}), **{map_key(k): v for k, v in account.items()}}
            if mapping is not None:
                if map_key(value) not in mapping:
                    raise ValueError(f"{self.provider}: {name} {value!r} is not one of {sorted(mapping)}")
                value = mapping[map_key(value)]
            if rule.type == "int":
                value = int(value)
            elif rule.type == "str":
                value = str(value)
            elif rule.type == "list":
                value = [value] if isinstance(value, str) else list(value)
            out[name] = value
        return out

    def _where(self, spec: CallSpec) -> str:
        if spec.graphql:
            return f"{self.provider} graphql {spec.graphql}"
        return f"{self.provider} {spec.method} {spec.path}" if spec.method else f"{self.provider} hook {spec.hook}"

    def _resource_call(self, resource: str, operation: str) -> CallSpec:
        spec = self.definition.resources.get(resource)  # type: ignore[call-overload]
        call = getattr(spec, operation, None) if spec else None
        if call is None:
            raise ConfigError(f"{self.provider} definition has no resources.{resource}.{operation}")
        return call

    def _webhooks(self) -> webhooks.WebhooksSpec:
        if self.definition.webhooks is None:
            raise ConfigError(f"{self.provider} definition has no webhooks section")
        return self.definition.webhooks

    def _text_values(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.values.items() if isinstance(v, str | int)}


def load_hooks(definition: ProviderDefinition) -> ModuleType | None:
    if not definition.hook_names():
        return None
    return import_module(definition.hook_module())
