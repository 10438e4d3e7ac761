"""`deskhand mcp`: the unified API's tools for AI agents over the Model Context Protocol (stdio).

Read-only by default; `--allow-writes` exposes the write tools to a key holding their scopes;
`--dry-run` makes every write answer with the exact helpdesk call it would send, sending nothing;
`--account` (repeatable) limits the tools to those accounts. The key comes from DESKHAND_API_KEY
(never a command-line argument: those are visible to every user of the machine).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from deskhand.cli.apps import app, err
from deskhand.cli.core import fail, runtime
from deskhand.errors import ConfigError


@app.command("mcp")
def mcp_command(
    allow_writes: Annotated[bool, typer.Option("--allow-writes", help="Offer the write tools (comment, update, "
                                                                       "create, approve, reject) to a key with "
                                                                       "their scopes.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write tools answer with the exact helpdesk call "
                                                            "they would make and perform nothing.")] = False,
    account: Annotated[list[str] | None, typer.Option(help="Repeatable: serve only these accounts.")] = None,
) -> None:
    """Serve deskhand's tools to an MCP client (Claude Desktop, IDEs, agents) over stdio."""
    import anyio

    from deskhand.api.keys import authenticate
    from deskhand.tools.mcp_server import run_stdio
    from deskhand.tools.runner import Options

    key = os.environ.get("DESKHAND_API_KEY", "").strip()
    if not key:
        raise fail(ConfigError("DESKHAND_API_KEY is not set: create a key with `deskhand keys create --tenant T "
                               "--scope tickets:read` and pass it in the MCP client's env"))
    rt = runtime()
    principal = authenticate(rt.store.engine, key)
    if principal is None:
        raise fail(ConfigError("DESKHAND_API_KEY is unknown or revoked (deskhand keys list)"))
    options = Options(allow_writes=allow_writes, dry_run=dry_run, accounts=frozenset(account or ()))
    mode = "dry run" if dry_run else ("writes allowed" if allow_writes else "read-only")
    err.print(f"deskhand mcp on stdio: tenant {principal.tenant_id}, scopes {', '.join(sorted(principal.scopes))}, "
              f"{mode}", highlight=False)
    try:
        anyio.run(run_stdio, rt, key, options)
    finally:
        rt.close()
