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
    rate_limit: Annotated[int, typer.Option(help="Requests per minute (per --window-s).")] = 700,
    tickets: Annotated[int, typer.Option(help="Seed this many realistic tickets with comments.")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed of the seeded tickets.")] = 0,
    window_s: Annotated[float, typer.Option(help="Length of the rate-limit window in seconds.")] = 60.0,
    incremental_lag_s: Annotated[float, typer.Option(help="Changes younger than this are hidden from exports.")] = 60.0,
) -> None:
    """A local Zendesk Support API v2 (Basic {email}/token:{token})."""
    import random

    from deskhand.sim import zendesk
    from deskhand.sim.zendesk_state import ZendeskState

    setup_logging("WARNING")
    state = ZendeskState(admin_email=zendesk.DEFAULT_EMAIL)
    if tickets:
        state.seed_tickets(tickets, random.Random(seed))
    zendesk.serve(
        port, host=host, token=token, webhook_url=webhook_url, webhook_secret=webhook_secret, rate_limit=rate_limit,
        state=state, window_s=window_s, incremental_lag_s=incremental_lag_s,
    )


@sim_app.command("jira")
def sim_jira(
    port: int = 8082,
    host: str = "127.0.0.1",
    token: Annotated[str, typer.Option(help=TOKEN_HELP)] = "deskhand-sim-token",
    webhook_url: Annotated[str | None, typer.Option(help="Where to deliver signed webhooks.")] = None,
    webhook_secret: Annotated[str | None, typer.Option(help="The webhook secret (X-Hub-Signature).")] = None,
    tickets: Annotated[int, typer.Option(help="Seed this many realistic issues with comments.")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed of the seeded issues.")] = 0,
    rate_limit: Annotated[int | None, typer.Option(help="Burst limit: GET requests per second per endpoint.")] = None,
    hourly_points: Annotated[int | None, typer.Option(help="Points-based hourly quota (off by default).")] = None,
    points_pool: Annotated[str, typer.Option(help="tenant | global (RateLimit-Reason of the quota).")] = "tenant",
    no_limits: Annotated[bool, typer.Option("--no-limits", help="Answer every request (no 429s).")] = False,
) -> None:
    """A local Jira Cloud + Jira Service Management (Basic {email}:{token}; REST v2, v3, servicedeskapi)."""
    import random
    import time

    from deskhand.sim import jira
    from deskhand.sim.jira_limits import RateLimits
    from deskhand.sim.jira_seed import seed_issues
    from deskhand.sim.jira_state import JiraState

    setup_logging("WARNING")
    state = JiraState.default()
    if tickets:
        seed_issues(state, tickets, random.Random(seed), now=time.time())
    limits = RateLimits(hourly_points=hourly_points, points_pool=points_pool)
    if rate_limit:
        burst = {"GET": rate_limit, "POST": rate_limit, "PUT": 50, "DELETE": 50}
        limits = RateLimits(burst=burst, overrides={}, hourly_points=hourly_points, points_pool=points_pool)
    if no_limits:
        limits = RateLimits.off()
    jira.serve(port, host=host, token=token, webhook_url=webhook_url, webhook_secret=webhook_secret, state=state,
               rate_limits=limits)


@sim_app.command("freshdesk")
def sim_freshdesk(
    port: int = 8083,
    host: str = "127.0.0.1",
    api_key: Annotated[str, typer.Option(help="The API key the simulator accepts (user; password X).")]
    = "deskhand-sim-key",
    plan: Annotated[str, typer.Option(help="Per-minute limits of this plan: trial | growth | pro | enterprise.")]
    = "enterprise",
    rate_limit: Annotated[int | None, typer.Option(help="One account budget per window instead of the plan's.")]
    = None,
    window_s: Annotated[float, typer.Option(help="Length of the rate-limit window in seconds.")] = 60.0,
    webhook_url: Annotated[str | None, typer.Option(help="Install deskhand's automation rules posting here.")] = None,
    webhook_secret: Annotated[str | None, typer.Option(help="Sent by those rules in X-Deskhand-Secret.")] = None,
    tickets: Annotated[int, typer.Option(help="Seed this many realistic tickets with conversations.")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed of the seeded tickets.")] = 0,
) -> None:
    """A local Freshdesk API v2 (Basic {api_key}:X; automation-rule webhooks)."""
    import random

    from deskhand.sim import freshdesk
    from deskhand.sim.freshdesk_limits import PLANS
    from deskhand.sim.freshdesk_state import FreshdeskState

    setup_logging("WARNING")
    if plan not in PLANS:
        raise typer.BadParameter(f"unknown plan {plan!r}: one of {', '.join(PLANS)}", param_hint="--plan")
    state = FreshdeskState(admin_email=freshdesk.DEFAULT_EMAIL)
    if tickets:
        state.seed_tickets(tickets, random.Random(seed))
    freshdesk.serve(port, host=host, state=state, api_key=api_key, plan=plan, rate_limit=rate_limit,
                    window_s=window_s, webhook_url=webhook_url, webhook_secret=webhook_secret)
