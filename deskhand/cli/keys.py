"""`deskhand keys create|list|revoke`: API keys of a tenant (deskhand.api.keys)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from deskhand.api.keys import SCOPES, create_key, list_keys, revoke_key
from deskhand.cli.apps import JsonOpt, app, err, out
from deskhand.cli.core import fail, print_json, runtime
from deskhand.errors import DeskhandError

keys_app = typer.Typer(help="API keys (per tenant, with scopes) for the REST API.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="The tenant whose accounts the key may reach.")],
    scope: Annotated[list[str], typer.Option(help=f"Repeatable: {', '.join(SCOPES)}.")],
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print it once (only its hash is stored: keep it now)."""
    rt = runtime()
    try:
        rt.store.ensure_tenant(tenant)
        key_id, key = create_key(rt.store.engine, tenant, scope, name)
    except DeskhandError as exc:
        raise fail(exc) from exc
    if as_json:
        print_json({"id": key_id, "tenant": tenant, "scopes": sorted(set(scope)), "key": key})
        return
    err.print(f"API key {key_id} for tenant {tenant} ({', '.join(sorted(set(scope)))}); shown once, keep it now:")
    out.print(key, soft_wrap=True)


@keys_app.command("list")
def keys_list(tenant: str | None = None, as_json: JsonOpt = False) -> None:
    """Keys (ids, tenants, scopes; never secrets)."""
    rows = list_keys(runtime().store.engine, tenant)
    if as_json:
        print_json({"keys": rows})
        return
    table = Table("id", "tenant", "name", "scopes", "created", "revoked")
    for r in rows:
        table.add_row(r["id"], r["tenant_id"], r["name"], ",".join(r["scopes"]), str(r["created_at"])[:19],
                      str(r["revoked_at"])[:19] if r["revoked_at"] else "")
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key: it stops working on the next request."""
    try:
        revoke_key(runtime().store.engine, key_id)
    except DeskhandError as exc:
        raise fail(exc) from exc
    out.print(f"revoked API key {key_id}")
