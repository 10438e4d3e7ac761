"""`deskhand sim <provider>`: run a faithful local simulator of a helpdesk's API."""

from __future__ import annotations

from typing import Annotated

import typer

from deskhand.cli.apps import sim_app
from deskhand.cli.core import setup_logging

TOKEN_HELP = "The API token the simulator accepts (default deskhand-sim-token)."


@sim_app.command("zendesk")
def sim_zendesk(
    port: int = 8081,
    host: str = "127.0.0.1",
    token: Annotated[str, typer.Option(help=TOKEN_HELP)] = "deskhand-sim-token",
    webhook_url: Annotated[str | None, typer.Option(help="Where to deliver signed webhooks.")] = None,
    webhook_secret: Annotated[str | None, typer.Option(help="The webhook signing secret.")] = None,
    rate_limit: Annotated[int, typer.Option(help="Requests per minute.")] = 700,
) -> None:
    """A local Zendesk Support API v2 (Basic {email}/token:{token})."""
    from deskhand.sim import zendesk

    setup_logging("WARNING")
    zendesk.serve(
        port, host=host, token=token, webhook_url=webhook_url, webhook_secret=webhook_secret, rate_limit=rate_limit
    )


@sim_app.command("jira")
def sim_jira(
    port: int = 8082,
    host: str = "127.0.0.1",
    token: Annotated[str, typer.Option(help=TOKEN_HELP)] = "deskhand-sim-token",
    webhook_url: Annotated[str | None, typer.Option(help="Where to deliver signed webhooks.")] = None,
    webhook_secret: Annotated[str | None, typer.Option(help="The webhook secret (X-Hub-Signature).")] = None,
) -> None:
    """A local Jira Cloud + Jira Service Management (Basic {email}:{token}; REST v2, v3, servicedeskapi)."""
    from deskhand.sim import jira

    setup_logging("WARNING")
    jira.serve(port, host=host, token=token, webhook_url=webhook_url, webhook_secret=webhook_secret)
