"""`deskhand users create|list|remove`: local users of the web console (deskhand.console.users)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from deskhand.cli.apps import JsonOpt, app, out
from deskhand.cli.core import fail, print_json, runtime
from deskhand.errors import DeskhandError

users_app = typer.Typer(help="People who may log in to the web console (/console).", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("create")
def users_create(
    username: str,
    tenant: Annotated[str, typer.Option(help="The tenant whose accounts the user sees.")],
    role: Annotated[str, typer.Option(help="viewer (reads), reviewer (+ approves, rejects), admin (+ switches).")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          envvar="DESKHAND_USER_PASSWORD",
                                          help="At least 10 characters; asked for when not given.")],
) -> None:
    """Create a console user (the password is stored only as a scrypt hash)."""
    from deskhand.console.users import create_user

    rt = runtime()
    try:
        rt.store.ensure_tenant(tenant)
        user = create_user(rt.store.engine, username, tenant, role, password)
    except DeskhandError as exc:
        raise fail(exc) from exc
    out.print(f"console user {user.username} ({user.role}) of tenant {user.tenant_id} created")


@users_app.command("list")
def users_list(tenant: str | None = None, as_json: JsonOpt = False) -> None:
    """Console users (names, tenants, roles; never passwords)."""
    from deskhand.console.users import list_users

    rows = list_users(runtime().store.engine, tenant)
    if as_json:
        print_json({"users": [{**r, "created_at": str(r["created_at"])} for r in rows]})
        return
    table = Table("username", "tenant", "role", "created")
    for r in rows:
        table.add_row(r["username"], r["tenant_id"], r["role"], str(r["created_at"])[:19])
    out.print(table)


@users_app.command("remove")
def users_remove(username: str) -> None:
    """Remove a console user: their sessions stop working on the next request."""
    from deskhand.console.users import remove_user

    try:
        remove_user(runtime().store.engine, username)
    except DeskhandError as exc:
        raise fail(exc) from exc
    out.print(f"console user {username} removed")
