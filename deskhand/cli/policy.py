"""`deskhand policy …` (autonomy modes, audit, advice) and `deskhand switch …` (kill switches)."""

from __future__ import annotations

import getpass
import os
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from deskhand.cli.apps import JsonOpt, app, out
from deskhand.cli.core import fail, print_json, runtime
from deskhand.errors import DeskhandError

policy_app = typer.Typer(help="Autonomy per account and category: off, shadow, draft, canary, auto.",
                         no_args_is_help=True)
switch_app = typer.Typer(help="Kill switches: global, account, provider, category.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(switch_app, name="switch")

CategoryOpt = Annotated[str | None, typer.Option("--category", help="A category (default: the whole account).")]
ActorOpt = Annotated[str | None, typer.Option("--by", help="Who makes the change (default: the OS user).")]


def _actor(by: str | None) -> str:
    return by or os.environ.get("DESKHAND_ACTOR") or getpass.getuser()


@policy_app.command("show")
def policy_show(account: str, as_json: JsonOpt = False) -> None:
    """Modes in force for an account (categories without a row inherit the account's) and every
    setting in force, defaults marked."""
    from deskhand.account_settings import effective
    from deskhand.responder.modes import history, list_modes

    rt = runtime()
    try:
        rec = rt.store.get_account(account)
        settings = effective(rec.settings)
    except DeskhandError as exc:
        raise fail(exc) from exc
    modes = [m.as_dict() for m in list_modes(rt.store, account)]
    audit = history(rt.store, account, limit=10)
    if as_json:
        print_json({"account": account, "modes": modes, "audit": audit,
                    "settings": [{"name": e.name, "value": e.value, "default": e.default} for e in settings]})
        return
    out.print(f"[bold]{account}[/bold] settings in force (change: deskhand connect {rec.provider} --name {account} "
              "--update --setting key=value; key= restores the default):", soft_wrap=True)
    width = max(len(e.name) for e in settings)
    for e in settings:
        mark = "  [dim](default)[/dim]" if e.default else ""
        out.print(f"  {e.name:<{width}} = {escape(e.shown())}{mark}", soft_wrap=True, highlight=False)
    table = Table("category", "mode", "canary share", "set by", "at")
    for m in modes:
        table.add_row(m["category"], m["mode"], f"{m['canary_share']:.0%}", m["updated_by"], m["updated_at"] or "")
    out.print(table)
    for a in audit:
        out.print(f"[dim]{a['at']:%Y-%m-%d %H:%M} {a['actor']}: {a['category']} "
                  f"{a['from_mode'] or '-'} → {a['to_mode']}{(' (' + a['reason'] + ')') if a['reason'] else ''}[/dim]")


@policy_app.command("set")
def policy_set(
    account: str,
    mode: Annotated[str, typer.Option("--mode", help="off | shadow | draft | canary | auto")],
    category: CategoryOpt = None,
    share: Annotated[float | None, typer.Option("--share", help="Canary: share of eligible tickets (0–1).")] = None,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    by: ActorOpt = None,
) -> None:
    """Set the mode of an account or one of its categories (audited)."""
    from deskhand.cli.checks import known_category
    from deskhand.responder.modes import get_mode, set_mode

    rt = runtime()
    try:
        rt.store.get_account(account)
        if category is not None:
            known_category(rt.store, account, category)
        before = get_mode(rt.store, account, category)
        after = set_mode(rt.store, account, mode, category=category, canary_share=share, actor=_actor(by),
                         reason=reason)
    except DeskhandError as exc:
        raise fail(exc) from exc
    extra = f" ({after.canary_share:.0%} of eligible tickets)" if after.mode.value == "canary" else ""
    out.print(f"{account}/{after.category}: {before.mode.value} → [bold]{after.mode.value}[/bold]{extra}")


@policy_app.command("advice")
def policy_advice(
    account: str,
    apply: Annotated[bool, typer.Option("--apply", help="Apply the mode recommendations now.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Promotion and threshold advice per category from settled outcomes."""
    from deskhand.responder.advice import advise, promote

    rt = runtime()
    try:
        rt.store.get_account(account)
        applied = promote(rt.store, account, force=True) if apply else []
        rows = [a.as_dict() for a in advise(rt.store, account)]
    except DeskhandError as exc:
        raise fail(exc) from exc
    if as_json:
        print_json({"account": account, "advice": rows, "applied": [a.as_dict() for a in applied]})
        return
    table = Table("category", "mode", "recommend", "why", "thresholds")
    for row in rows:
        rec = row["recommend"] or (f"blocked: {row['blocked']}" if row["blocked"] else "-")
        table.add_row(row["category"], row["mode"], rec, row["why"], "; ".join(row["threshold_why"]))
    out.print(table)
    for a in applied:
        out.print(f"applied: {a.category} → {a.recommend}")


@switch_app.command("trip")
def switch_trip(
    scope: Annotated[str, typer.Argument(help="global | account | provider | category")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown until reset).")],
    account: Annotated[str | None, typer.Option("--account")] = None,
    provider: Annotated[str | None, typer.Option("--provider")] = None,
    category: Annotated[str | None, typer.Option("--category")] = None,
    cap: Annotated[str, typer.Option("--cap", help="Highest mode while tripped: draft, shadow or off.")] = "draft",
    by: ActorOpt = None,
) -> None:
    """Trip a kill switch by hand."""
    from deskhand.cli.checks import known_account, known_category, known_provider
    from deskhand.responder.switches import trip

    rt = runtime()
    try:
        if account is not None:
            known_account(rt.store, account)
        if provider is not None:
            known_provider(provider)
        if category is not None:
            known_category(rt.store, account, category)
        sid = trip(rt.store, scope, reason=reason, actor=_actor(by), account=account, provider=provider,
                   category=category, cap=cap)
    except DeskhandError as exc:
        raise fail(exc) from exc
    out.print(f"kill switch #{sid} tripped ({scope}, capped at {cap}): {reason}")


@switch_app.command("reset")
def switch_reset(
    switch_id: int,
    reason: Annotated[str | None, typer.Option("--reason", help="Why it is safe again (kept with the switch).")] = None,
    by: ActorOpt = None,
) -> None:
    """Reset a tripped switch (modes it demoted stay as they are: set them with `policy set`)."""
    from deskhand.responder.switches import reset

    try:
        row = reset(runtime().store, switch_id, actor=_actor(by), reason=reason)
    except DeskhandError as exc:
        raise fail(exc) from exc
    out.print(f"kill switch #{switch_id} ({row['scope']}) reset by {row['reset_by']}")


@switch_app.command("list")
def switch_list(
    all_: Annotated[bool, typer.Option("--all", help="Include switches already reset.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Tripped kill switches (and, with --all, the ones reset)."""
    from deskhand.responder.switches import list_switches

    rows = list_switches(runtime().store, include_reset=all_)
    if as_json:
        print_json({"switches": rows})
        return
    table = Table("id", "scope", "target", "cap", "auto", "tripped", "by", "reason", "reset")
    for r in rows:
        target = "/".join(x for x in (r["account"], r["provider"], r["category"]) if x) or "*"
        table.add_row(str(r["id"]), r["scope"], target, r["cap"], "yes" if r["automatic"] else "",
                      f"{r['tripped_at']:%Y-%m-%d %H:%M}", r["tripped_by"], r["reason"],
                      (f"{r['reset_by']}" + (f": {r['reset_reason']}" if r.get("reset_reason") else ""))
                      if r["reset_at"] else "")
    out.print(table)
    if not rows:
        out.print("no kill switch is tripped")
