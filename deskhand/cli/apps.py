"""The typer applications every CLI module registers its commands on, and the shared consoles."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from deskhand.errors import DeskhandError


class _Commands(TyperGroup):
    """The top-level group: a DeskhandError that escapes any command is one line on stderr, exit 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DeskhandError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
            raise typer.Exit(2) from exc


app = typer.Typer(help="deskhand: a self-hosted AI auto-responder for support tickets.", no_args_is_help=True,
                  cls=_Commands)
accounts_app = typer.Typer(help="Connected helpdesk accounts.", no_args_is_help=True)
kb_app = typer.Typer(help="Knowledge sources.", no_args_is_help=True)
events_app = typer.Typer(help="Events the gateway recorded.", no_args_is_help=True)
decisions_app = typer.Typer(help="Why each ticket got its route.", no_args_is_help=True)
sim_app = typer.Typer(help="Faithful local simulators of the helpdesks' APIs.", no_args_is_help=True)
eval_app = typer.Typer(help="Quality evaluations on real public datasets (figures printed).", no_args_is_help=True)
bench_app = typer.Typer(help="Performance benchmarks on this machine (figures printed).", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(kb_app, name="kb")
app.add_typer(events_app, name="events")
app.add_typer(decisions_app, name="decisions")
app.add_typer(sim_app, name="sim")
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")

out = Console()
err = Console(stderr=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
