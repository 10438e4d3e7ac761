"""deskhand.providers.definition: the schema, and errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deskhand.errors import ConfigError
from deskhand.providers import available_providers, connection_fields, load_definition, open_connector
from deskhand.providers.definition import DEFS_DIR, read_definition

MINIMAL = {
    "name": "acme",
    "root": "https://{site}.example.com",
    "connection": {"site": {}, "token": {"secret": True}},
    "auth": {"type": "bearer", "token": "{token}"},
    "resources": {"ticket": {"get": "GET /t/{ticket_id}", "fields": {"id": "id", "status": "state"}}},
}


def write(tmp_path: Path, data: object, name: str = "acme") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def with_(**changes: object) -> dict[str, object]:
    return {**MINIMAL, **changes}


def test_minimal_definition_loads(tmp_path: Path) -> None:
    definition = read_definition(write(tmp_path, MINIMAL))
    call = definition.resources["ticket"].get
    assert call is not None and (call.method, call.path) == ("GET", "/t/{ticket_id}")
    assert definition.connection["token"].secret and definition.connection["site"].required


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        ("name: acme\nroot: [unclosed\n", ["acme.yaml", "not valid YAML"]),
        ("- a\n- b\n", ["acme.yaml", "must be a mapping"]),
        (with_(auth={"type": "kerberos"}), ["acme.yaml", "auth"]),
        (with_(root=None), ["acme.yaml", "root"]),
        (with_(resources={"ticket": {"get": "FETCH /t", "fields": {}}}), ["resources.ticket.get", "METHOD /path"]),
        (with_(resources={"ticket": {"fields": {"colour": "c"}}}), ["resources.ticket.fields.colour", "unknown field"]),
        (
            with_(resources={"ticket": {"fields": {"status": {"path": "s", "map": {"x": "paused"}}}}}),
            ["resources.ticket.fields.status.map", "paused"],
        ),
        (with_(resources={"widget": {"fields": {}}}), ["resources.widget"]),
        (with_(actions={"explode": "POST /x"}), ["actions.explode"]),
        (with_(paginate={"type": "offset"}), ["paginate.offset", "offset"]),
        (with_(connection={"site": {"pattern": "(["}}), ["connection.site.pattern"]),
        (with_(surprise=1), ["surprise", "Extra inputs"]),
        (with_(name="other"), ["must equal the file name"]),
        (with_(actions={"reply": {"hook": "make_reply"}}), ["hook", "deskhand.providers.hooks.acme"]),
        (with_(errors={"path": "errors", "map": {"RATELIMITED": "slow_down"}}), ["errors.0.map.RATELIMITED",
                                                                                "rate_limited"]),
        (with_(errors=[{"code": "extensions.code"}]), ["errors.0.path", "Field required"]),
    ],
    ids=[
        "yaml-syntax",
        "not-a-mapping",
        "unknown-auth",
        "missing-root",
        "bad-call",
        "unknown-field",
        "map-to-unknown-status",
        "unknown-resource",
        "unknown-action",
        "paginate-missing-key",
        "bad-regex",
        "extra-key",
        "name-mismatch",
        "missing-hook-module",
        "error-code-with-unknown-meaning",
        "error-rule-without-path",
    ],
)
def test_broken_definitions_name_file_and_field(tmp_path: Path, data: object, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        read_definition(write(tmp_path, data))
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_every_shipped_definition_is_valid() -> None:
    assert "zendesk" in available_providers()
    for slug in available_providers():
        assert load_definition(slug).name == slug
        assert read_definition(DEFS_DIR / f"{slug}.yaml").name == slug


def test_unknown_provider_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown provider 'nope'.*zendesk"):
        load_definition("nope")


def test_zendesk_connection_fields() -> None:
    fields = connection_fields("zendesk")
    assert set(fields) == {"subdomain", "email", "api_token", "base_url", "webhook_secret"}
    assert fields["api_token"].secret and fields["webhook_secret"].secret and not fields["email"].secret
    assert not fields["base_url"].required and not fields["webhook_secret"].required and fields["email"].required
    assert fields["subdomain"].pattern is not None


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        (
            {"subdomain": "acme", "email": "a@b.c"},
            ["no api_token", "deskhand connect zendesk --name support", "--api-token"],
        ),
        ({"email": "a@b.c", "api_token": "t"}, ["no subdomain", "--subdomain"]),
        ({"subdomain": "Not Valid!", "email": "a@b.c", "api_token": "t"}, ["subdomain 'Not Valid!'", "does not match"]),
    ],
    ids=["missing-token", "missing-subdomain", "bad-subdomain"],
)
def test_open_connector_names_the_missing_value_and_the_fix(config: dict[str, str], fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        open_connector("zendesk", "support", config)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    data = with_(connection={"site": {}, "token": {"secret": True, "pattern": "^tok_"}})
    definition = read_definition(write(tmp_path, data))
    from deskhand.providers.connector import resolve_values

    with pytest.raises(ConfigError) as caught:
        resolve_values(definition, "acme", {"site": "s", "token": "hunter2"})
    assert "hunter2" not in str(caught.value) and "(secret)" in str(caught.value)
