"""Provider definitions: the YAML schema, validated at load, with errors naming the file and field.

One file per provider, ``deskhand/providers/defs/<slug>.yaml``::

    name: <slug>                      # must equal the file name
    title: Human name
    root: https://{subdomain}.example.com   # helpdesk root; the connection value `base_url`, if set,
    api: /api/v2                            #   replaces it (simulators); requests go to root + api
    connection:                       # values `deskhand connect` asks for
      <name>: {secret: bool, required: bool (true), pattern: regex, help: text, default: value,
               check: "GET /path/{name}",   # answers 404/403 when the helpdesk has no such value
               among: <list call>}          # the value must be the id of an item it lists (what the
                                            #   credentials can see); connect names the ones listed
    hooks: <module>                   # optional; default deskhand.providers.hooks.<slug> when a
                                      #   `hook:` is named anywhere below
    auth:  {type: basic, username: "{email}/token", password: "{api_token}"}
         | {type: bearer, token: "{access_token}"}
         | {type: header, header: Authorization, value: "{api_key}"}
         | {type: query, params: {key: "{api_key}", token: "{api_token}"}}
    limits: {window_s, retry_after, budgets: {<name>: {limit, remaining, reset, reset_unit, scope, ...}},
             reason: {header, scopes: {<reason>: account|endpoint|record|quota}}, records: {arg, writes}}
                                      # rate budgets: see deskhand/providers/spec_limits.py
    sync: {feed: {type: cursor|updated, call: <call>, cursor, end, query, since_format, overlap_s,
           updated}, deleted: {path: value}, comments: per_ticket|<path>, comments_total, sweep: <call>}
    overrides:                        # per-account values (deskhand connect … --set name=value / name.key=value):
      <name>: {help, default, pattern, map: bool, keys: [..], among: <list call>}   # deskhand.providers.overrides
    errors:                           # where a body carries errors and what they mean (one rule or a list;
      - {path: errors, code: extensions.code, message: message,  # checked on every response, 2xx too)
         map: {RATELIMITED: rate_limited, AUTHENTICATION_ERROR: auth, FORBIDDEN: auth,
               ENTITY_NOT_FOUND: not_found, INTERNAL_SERVER_ERROR: retryable, BAD_USER_INPUT: permanent},
         default: permanent}          # meaning of other codes; none: as the HTTP status says
    paginate: <paginator>             # default for every list call; a call may override it
      # {type: next_url, next_url: links.next, has_more: meta.has_more, link_header: bool,
      #  size: {param: "page[size]", value: 100}}
      # {type: token, token: nextPageToken, param: nextPageToken, is_last: isLast, has_more: path,
      #  in: params|json, size: {...}}
      # {type: offset, offset: startAt, total: total, is_last: isLast, size: {param: maxResults, value: 50}}
    resources:                        # ticket | comment | user | team | help_center | satisfaction
      <resource>:
        get | list | create | me: <call>
        search: <call>                # ticket only: the helpdesk's own search; `{query}` is the text
        fields: {<model field>: <dotted path> | {path, map: {raw: value}, default, each, hook, value,
                 ignore_case: bool, overrides: <connection value or override of "raw=value" pairs, read
                 before map>, reverse_overrides: <map override of "value=raw" pairs, read raw -> value>,
                 fallback: <another field rule, read when this one gives nothing>}}
        web_url: "{root}/agent/tickets/{id}"   # ticket only; {id} is the ticket's id
    actions:                          # reply | note | set_status | add_tags | assign | set_priority | escalate
      <kind>: <call>
    webhooks:                         # verify, delivery_id, handshake: see deskhand/providers/spec_webhooks.py
      verify: {scheme: hmac_sha256_base64 | hmac_sha256_hex | hmac_sha1_base64 | hmac_sha1_hex | shared_secret
               | basic, secret: "{webhook_secret}", signature_header, prefix: "sha256=", signed: "{timestamp}{body}",
               username, timestamp_header | timestamp (body path), timestamp_unit, tolerance: 300}
              # or a list of such schemes: a delivery passes when one the account configures passes
      handshake: {check: [HEAD, GET], challenge: {header | path, reply: [json, header, text], field}}
      type: <path of the event type in the body>
      items: <path of a list of events>       # when one delivery carries several
      delivery_id: {header: name} | {path: dotted}   # else a digest of the signed content
      # an event rule with `also: true` gives its event and the next matching rule's (one delivery, two events)
      occurred_at: <path>
      events: {<provider type>: {kind, ticket_id, comment_id, author_id, when: {path: value}} | [rules]}
                                              # a rule with `ignore: true` (and a `when`) drops the event
    prepare: <hook name>              # optional f(values) -> values: derive connection values once

A <call> is ``"GET /tickets/{ticket_id}.json"`` or ``{call: "POST /path", params: {}, json: {},
headers: {}, item: <path of the one record>, items: <path of the list>, paginate: <paginator> |
false, args: {<name>: {map, hook, type: str|int|list, required, overrides: <map override
extending map>}}, result: {<name>: <path>}, refetch: <path of the new ticket id, to GET it after a
create>, hook: <function name>}``, or ``{graphql: <Operation>, variables: {...}, item|items, paginate,
args, result}`` (deskhand.providers.graphql). Placeholders ``{name}`` fill whole values from the
connection values, the account's overrides and the call's arguments (``{status.pending}`` reads a
map override's entry); a whole-value placeholder with no value drops its key.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from deskhand.errors import ConfigError
from deskhand.model import ActionKind, EventKind, Role, Status, Visibility
from deskhand.providers.error_rules import GRAPHQL_ERRORS, ErrorRuleSpec
from deskhand.providers.fields import map_key
from deskhand.providers.graphql import GraphQLSpec, Operation, document_paths, read_documents
from deskhand.providers.overrides import OverrideSpec, among_call, check_names
from deskhand.providers.spec_calls import ArgSpec, CallSpec, FeedSpec, SyncSpec  # noqa: F401  (schema re-exports)
from deskhand.providers.spec_limits import LimitsSpec
from deskhand.providers.spec_paging import (  # noqa: F401  (re-exported: the paging specs are part of the schema)
    NextUrlPaging,
    OffsetPaging,
    PagingSpec,
    RelayPaging,
    SizeSpec,
    TokenPaging,
)
from deskhand.providers.spec_webhooks import DeliveryIdSpec, HandshakeSpec, VerifySpec

DEFS_DIR = Path(__file__).parent / "defs"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldSpec(_Strict):
    """One connection value (what `deskhand connect` asks for)."""

    secret: bool = False
    required: bool = True
    pattern: str | None = None
    help: str | None = None
    default: str | None = None
    # "GET /path/{name}" (answers 404 when the value is not in the helpdesk), or a call mapping such as
    # {graphql: <Operation>, variables: {id: "{name}"}} (answers the definition's not_found error)
    check: str | dict[str, Any] | None = None
    among: CallSpec | None = None  # a list call: the value must be the `id` of one of its items (connect)

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


class BasicAuthSpec(_Strict):
    type: Literal["basic"]
    username: str
    password: str


class BearerAuthSpec(_Strict):
    type: Literal["bearer"]
    token: str


class HeaderAuthSpec(_Strict):
    type: Literal["header"]
    header: str
    value: str


class QueryAuthSpec(_Strict):
    type: Literal["query"]
    params: dict[str, str]


class OAuthFeatureSpec(_Strict):
    """What one feature needs from the grant: its scopes and the calls (`METHOD /path/{x}` under the
    API, or `METHOD *` for every call of that method) that need them."""

    scopes: list[str]
    calls: list[str] = Field(default_factory=list)

    @field_validator("calls")
    @classmethod
    def _calls(cls, value: list[str]) -> list[str]:
        for call in value:
            method, _, path = call.partition(" ")
            if method not in ("GET", "POST", "PUT", "PATCH", "DELETE") or not (path == "*" or path.startswith("/")):
                raise ValueError(f"call {call!r} must be METHOD /path or METHOD *")
        return value


class OAuthResourcesSpec(_Strict):
    """After the code exchange, the places the grant reaches (Atlassian's accessible-resources): the
    account uses the one its `choose` connection value names (by name, URL or id), or the only one."""

    url: str
    choose: str
    values: dict[str, str]  # connection value <- field of the chosen resource


class OAuth2AuthSpec(_Strict):
    """OAuth 2.0 authorisation code grant (deskhand.providers.oauth): `{placeholders}` in the URLs are
    filled from the connection values (+ `root`); the client id/secret come from the environment.
    An account with a `base_url` (a simulator) reaches every absolute URL here on that host instead."""

    type: Literal["oauth2"]
    authorize_url: str
    token_url: str
    scopes: list[str] = Field(default_factory=list)
    pkce: bool = True
    token_auth: Literal["client_secret_basic", "client_secret_post"] = "client_secret_post"
    replaces: list[str] = Field(default_factory=list)  # connection fields the grant stands in for
    authorize_params: dict[str, str] = Field(default_factory=dict)  # extra query values, `{placeholder}`s filled
    root: str | None = None  # the API's root under OAuth, when not the site's (Atlassian's API gateway)
    resources: OAuthResourcesSpec | None = None
    features: dict[str, OAuthFeatureSpec] = Field(default_factory=dict)  # why each scope is asked for
    scope_error: str | None = None  # text of the provider's answer to a call outside the grant's scopes

    @model_validator(mode="after")
    def _every_scope_has_a_feature(self) -> OAuth2AuthSpec:
        if self.features:
            used = {s for f in self.features.values() for s in f.scopes}
            if used != set(self.scopes):
                raise ValueError(f"scopes {sorted(set(self.scopes))} and the features' scopes {sorted(used)} differ: "
                                 "ask for what the features need, no more")
        return self
    scope_separator: str = " "  # RFC 6749 says a space; some servers (Linear) want commas
    refused_codes: list[str] = Field(default_factory=list)  # error codes (read by `errors:`) that mean "token
    # refused" besides HTTP 401 (Linear answers 400 AUTHENTICATION_ERROR)


class OAuth1AuthSpec(_Strict):
    """OAuth 1.0a (Trello): a request token signed with the client's key and secret, the user authorises
    it, the verifier buys an access token. The access token never refreshes: when it expires (what
    `lifetimes` says of the authorise parameter `lifetime_param`) or is revoked, the account needs
    reconnecting. Calls carry it as `header` (`{access_token}` and connection values filled)."""

    type: Literal["oauth1"]
    request_token_url: str
    authorize_url: str
    access_token_url: str
    header: str
    authorize_params: dict[str, str] = Field(default_factory=dict)  # `{placeholder}`s filled
    client_value: str | None = None  # the connection value the OAuth client id is (Trello: api_key)
    lifetime_param: str | None = None
    lifetimes: dict[str, float] = Field(default_factory=dict)  # value of lifetime_param -> seconds (absent: never)
    replaces: list[str] = Field(default_factory=list)


AuthSpec = Annotated[BasicAuthSpec | BearerAuthSpec | HeaderAuthSpec | QueryAuthSpec | OAuth2AuthSpec,
                     Field(discriminator="type")]


class FieldRuleSpec(_Strict):
    path: str | None = None
    map: dict[str, Any] | None = None
    default: Any = None
    each: str | None = None
    hook: str | None = None
    value: Any = None
    ignore_case: bool = False
    overrides: str | None = None  # a connection value or override holding "raw=value" pairs (or a JSON object)
    reverse_overrides: str | None = None  # a map override holding "value=raw" pairs (read raw -> value)
    fallback: FieldRuleSpec | None = None

    def rules(self) -> list[FieldRuleSpec]:
        """This rule and its fallbacks, in reading order."""
        return [self, *(self.fallback.rules() if self.fallback else [])]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @field_validator("map", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        return {map_key(k): v for k, v in value.items()} if isinstance(value, dict) else value


RESOURCE_FIELDS: dict[str, dict[str, type[StrEnum] | None]] = {
    "ticket": {
        "id": None,
        "subject": None,
        "description": None,
        "status": Status,
        "raw_status": None,
        "priority": None,
        "requester_id": None,
        "requester_name": None,
        "requester_email": None,
        "requester_organization_id": None,
        "assignee_id": None,
        "team_id": None,
        "tags": None,
        "created_at": None,
        "updated_at": None,
        "url": None,
    },
    "comment": {"id": None, "body": None, "visibility": Visibility, "author_id": None, "created_at": None},
    "user": {"id": None, "name": None, "email": None, "role": Role},
    "team": {"id": None, "name": None},
    "help_center": {"id": None, "title": None, "body": None, "url": None, "updated_at": None, "draft": None},
    # the customer's satisfaction rating of a ticket, where the helpdesk keeps it apart from the ticket
    # (Freshdesk surveys, JSM request feedback): score maps the helpdesk's scale to good | neutral | bad
    "satisfaction": {"score": None, "created_at": None},
}


class ResourceSpec(_Strict):
    get: CallSpec | None = None
    list: CallSpec | None = None
    create: CallSpec | None = None
    me: CallSpec | None = None
    search: CallSpec | None = None  # ticket only: the helpdesk's own text search, `{query}` the words asked for
    fields: dict[str, FieldRuleSpec]
    web_url: str | None = None


class EventRuleSpec(_Strict):
    kind: EventKind | None = None
    ticket_id: str | None = None
    comment_id: str | None = None
    author_id: str | None = None
    when: dict[str, Any] = Field(default_factory=dict)
    ignore: bool = False  # deliveries matching `when` carry no event (e.g. a duplicate of another one)
    also: bool = False  # this rule's event, and the next matching rule's too (one delivery, two events)

    @model_validator(mode="after")
    def _kind_unless_ignored(self) -> EventRuleSpec:
        if not self.ignore and (self.kind is None or not self.ticket_id):
            raise ValueError("an event rule needs `kind` and `ticket_id` (or `ignore: true`)")
        return self


class RegisterSpec(_Strict):
    """How deskhand creates its own webhook through the provider's API (``connect --register-webhook``).
    ``create`` gets the arguments ``webhook_url`` and ``webhook_name``; ``id`` is the new webhook's id
    in its answer; ``secret`` (with ``webhook_id``) reads the signing secret the helpdesk made."""

    create: CallSpec
    id: str
    secret: CallSpec | None = None
    secret_path: str | None = None


class WebhooksSpec(_Strict):
    verify: list[VerifySpec] = Field(default_factory=list)  # the accepted schemes (one, or several)
    registration: RegisterSpec | None = None
    type: str
    items: str | None = None
    delivery_id: DeliveryIdSpec = Field(default_factory=DeliveryIdSpec)
    handshake: HandshakeSpec = Field(default_factory=HandshakeSpec)
    occurred_at: str | None = None
    events: dict[str, EventRuleSpec | list[EventRuleSpec]]
    max_body_bytes: int = Field(1_000_000, gt=0)  # larger deliveries are refused (413) while being read

    @field_validator("verify", mode="before")
    @classmethod
    def _one_or_many_schemes(cls, value: Any) -> Any:
        """`verify: {scheme: …}` (one) or `verify: [{scheme: …}, …]` (any of them); absent: none."""
        if value is None:
            return []
        return [value] if isinstance(value, dict | VerifySpec) else value

    @model_validator(mode="after")
    def _distinct_schemes(self) -> WebhooksSpec:
        seen = [(v.scheme, v.signature_header) for v in self.verify]
        if len(set(seen)) != len(seen):
            raise ValueError("webhooks.verify lists the same scheme (and header) twice")
        return self


class ProviderDefinition(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str | None = None
    root: str
    api: str = ""
    connection: dict[str, FieldSpec]
    hooks: str | None = None
    auth: AuthSpec
    oauth: Annotated[OAuth2AuthSpec | OAuth1AuthSpec, Field(discriminator="type")] | None = None  # offered
    # beside `auth` (connect --oauth)
    limits: LimitsSpec = Field(default_factory=lambda: LimitsSpec())
    errors: list[ErrorRuleSpec] = Field(default_factory=list)
    overrides: dict[str, OverrideSpec] = Field(default_factory=dict)
    graphql: GraphQLSpec | None = None
    paginate: PagingSpec | None = None
    resources: dict[Literal["ticket", "comment", "user", "team", "help_center", "satisfaction"], ResourceSpec]
    actions: dict[ActionKind, CallSpec] = Field(default_factory=dict)
    webhooks: WebhooksSpec | None = None
    prepare: str | None = None
    sync: SyncSpec | None = None

    @field_validator("errors", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _known_fields(self) -> ProviderDefinition:
        check_names(self.overrides, self.connection)
        for resource, spec in self.resources.items():
            known = RESOURCE_FIELDS[resource]
            for name, field_rule in spec.fields.items():
                if name not in known:
                    raise ValueError(f"resources.{resource}.fields.{name}: unknown field; known: {sorted(known)}")
                kind = known[name]
                for rule in field_rule.rules():
                    if kind is not None and rule.map is not None:
                        bad = [v for v in rule.map.values() if v is not None and v not in {k.value for k in kind}]
                        if bad:
                            raise ValueError(
                                f"resources.{resource}.fields.{name}.map: {bad} not in {[k.value for k in kind]}"
                            )
                    if rule.overrides and rule.overrides not in {*self.connection, *self.overrides}:
                        where = f"resources.{resource}.fields.{name}.overrides"
                        raise ValueError(f"{where}: {rule.overrides!r} is not a connection value or override")
                    if rule.reverse_overrides and not self._is_map_override(rule.reverse_overrides):
                        where = f"resources.{resource}.fields.{name}.reverse_overrides"
                        raise ValueError(f"{where}: {rule.reverse_overrides!r} is not a map override")
        for where, call in self.calls().items():
            for arg, arg_rule in call.args.items():
                if arg_rule.overrides and not self._is_map_override(arg_rule.overrides):
                    raise ValueError(f"{where}.args.{arg}.overrides: {arg_rule.overrides!r} is not a map override")
        return self

    def _is_map_override(self, name: str) -> bool:
        return name in self.overrides and self.overrides[name].map

    _operations: dict[str, Operation] = PrivateAttr(default_factory=dict)

    def calls(self) -> dict[str, CallSpec]:
        """Every call of the definition by where it is (``resources.ticket.get``, ``actions.reply`` …)."""
        found = {f"resources.{r}.{op}": c for r, spec in self.resources.items()
                 for op, c in (("get", spec.get), ("list", spec.list), ("create", spec.create), ("me", spec.me),
                               ("search", spec.search)) if c}
        found |= {f"actions.{kind.value}": c for kind, c in self.actions.items()}
        if self.sync:
            found |= {k: c for k, c in (("sync.feed.call", self.sync.feed.call), ("sync.sweep", self.sync.sweep)) if c}
        found |= {f"connection.{n}.among": f.among for n, f in self.connection.items() if f.among}
        found |= {f"overrides.{n}.among": o.among for n, o in self.overrides.items() if o.among}
        return found

    def uses_graphql(self) -> bool:
        return self.graphql is not None or any(c.graphql for c in self.calls().values())

    def graphql_endpoint(self) -> str:
        return self.graphql.endpoint if self.graphql else GraphQLSpec().endpoint

    def operation(self, name: str) -> Operation:
        """A named GraphQL operation of the definition's documents (loaded by read_definition)."""
        if name not in self._operations:
            have = ", ".join(sorted(self._operations)) or "none loaded"
            raise ConfigError(f"{self.name}: no GraphQL operation {name!r} (operations: {have})")
        return self._operations[name]

    def error_rules(self) -> list[ErrorRuleSpec]:
        """The `errors:` rules, plus GraphQL's own ``errors`` list when it uses GraphQL and names no rule for it."""
        if self.uses_graphql() and not any(rule.path == "errors" for rule in self.errors):
            return [*self.errors, ErrorRuleSpec.model_validate(GRAPHQL_ERRORS)]
        return list(self.errors)

    def hook_names(self) -> set[str]:
        """Every hook function the definition names (checked against the hook module at load)."""
        names: set[str] = set()
        calls = [c for r in self.resources.values() for c in (r.get, r.list, r.create, r.me, r.search) if c]
        if self.sync:
            calls += [c for c in (self.sync.feed.call, self.sync.sweep) if c]
        for call in [*calls, *self.actions.values()]:
            names.update(n for n in [call.hook, *(a.hook for a in call.args.values())] if n)
        for resource in self.resources.values():
            names.update(r.hook for rule in resource.fields.values() for r in rule.rules() if r.hook)
        if self.prepare:
            names.add(self.prepare)
        return names

    def hook_module(self) -> str:
        return self.hooks or f"deskhand.providers.hooks.{self.name}"


def read_definition(path: Path) -> ProviderDefinition:
    """Parse and validate one definition file; every problem is a ConfigError naming file and field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read provider definition: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a provider definition must be a mapping, got {type(data).__name__}")
    try:
        definition = ProviderDefinition.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{path}: invalid provider definition: {problems}") from exc
    if definition.name != path.stem:
        raise ConfigError(f"{path}: name: {definition.name!r} must equal the file name {path.stem!r}")
    _check_hooks(path, definition)
    _load_operations(path, definition)
    return definition


def _load_operations(path: Path, definition: ProviderDefinition) -> None:
    """Parse the GraphQL documents beside the definition; every call's operation must be there."""
    if not definition.uses_graphql():
        return
    paths = document_paths(path.parent, definition.name, definition.graphql)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        wanted = missing or [f"{path.parent / definition.name}.graphql"]
        raise ConfigError(f"{path}: graphql: no document {', '.join(wanted)}")
    operations = read_documents(paths)
    for where, call in definition.calls().items():
        if call.graphql and call.graphql not in operations:
            have = ", ".join(sorted(operations)) or "none"
            raise ConfigError(f"{path}: {where}.graphql: no operation {call.graphql!r} in the documents (have: {have})")
    definition._operations = operations


def _check_hooks(path: Path, definition: ProviderDefinition) -> None:
    names = definition.hook_names()
    if not names:
        return
    from importlib import import_module

    try:
        module = import_module(definition.hook_module())
    except ImportError as exc:
        raise ConfigError(f"{path}: hooks: cannot import {definition.hook_module()}: {exc}") from exc
    missing = sorted(n for n in names if not callable(getattr(module, n, None)))
    if missing:
        raise ConfigError(f"{path}: hook(s) {missing} not defined in {definition.hook_module()}")


def definition_paths() -> dict[str, Path]:
    return {p.stem: p for p in sorted(DEFS_DIR.glob("*.yaml"))}


@cache
def load(slug: str) -> ProviderDefinition:
    path = definition_paths().get(slug)
    if path is None:
        raise ConfigError(f"unknown provider {slug!r}; available: {', '.join(definition_paths()) or 'none'}")
    return read_definition(path)
