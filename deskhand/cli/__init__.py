"""The `deskhand` command line (typer + rich).

Commands live in topic modules that register on the apps of `deskhand.cli.apps`; importing them
here is what makes them part of the CLI (one line per module).
"""

from __future__ import annotations

from deskhand.cli import bench_api as bench_api  # bench api
from deskhand.cli import bench_change as bench_change  # bench kb-change
from deskhand.cli import bench_pipeline as bench_pipeline  # bench pipeline
from deskhand.cli import bench_retrieval as bench_retrieval  # bench retrieval
from deskhand.cli import bench_sync as bench_sync  # bench sync
from deskhand.cli import bench_tenants as bench_tenants  # bench tenants
from deskhand.cli import bench_webhooks as bench_webhooks  # bench webhooks
from deskhand.cli import config as config  # config
from deskhand.cli import core as core  # connect, accounts, kb, events, decisions, serve, worker, demo
from deskhand.cli import decisions as decisions  # decisions list
from deskhand.cli import doctor as doctor  # doctor (settings, database, LLMs answer in their format)
from deskhand.cli import eval_quality as eval_quality  # eval triage|answers, triage train
from deskhand.cli import eval_retrieval as eval_retrieval  # eval retrieval
from deskhand.cli import jobs as jobs  # jobs list|retry|drop
from deskhand.cli import kb as kb  # kb pull
from deskhand.cli import kb_review as kb_review  # kb review | approve
from deskhand.cli import keys as keys  # keys create|list|revoke
from deskhand.cli import mcp as mcp  # mcp (tools for AI agents over stdio)
from deskhand.cli import metrics as metrics  # metrics, kb gaps
from deskhand.cli import overrides as overrides  # accounts set (per-account overrides)
from deskhand.cli import policy as policy  # policy show|set|advice, switch trip|reset|list
from deskhand.cli import replay as replay  # replay ACCOUNT
from deskhand.cli import review as review  # review list|show|approve|reject
from deskhand.cli import secrets as secrets  # secrets rotate [--finish]
from deskhand.cli import sim as sim  # sim <slug>: one command per registered simulator
from deskhand.cli import sync as sync  # sync ACCOUNT [--full]
from deskhand.cli import users as users  # users create|list|remove (web console)
from deskhand.cli.apps import app


def main() -> None:
    """The console script: a DeskhandError that escaped a command is one line on stderr, exit 2."""
    from deskhand.cli.core import fail
    from deskhand.errors import DeskhandError

    try:
        app()
    except DeskhandError as exc:
        raise SystemExit(fail(exc).exit_code) from None


__all__ = ["app", "main"]
