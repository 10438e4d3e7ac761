"""`deskhand accounts set ACCOUNT name=value … [--unset name]`: change an account's overrides of its
definition's arguments (list ids, status ids, custom field ids; see deskhand.providers.overrides).
`deskhand connect … --set name=value` sets them at connect time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import typer

from deskhand.cli.apps import JsonOpt, accounts_app, out
from deskhand.cli.core import fail, print_json, runtime
from deskhand.errors import ConfigError, DeskhandError


def account_overrides(provider: str, current: Mapping[str, Any], items: Iterable[str],
                      unset: Iterable[str] = ()) -> dict[str, Any]:
    """`current` with the `--set` items applied, every one checked against what the definition declares."""
    from deskhand.providers import load_definition
    from deskhand.providers.overrides import merge, parse_sets

    specs = load_definition(provider).overrides
    unset = list(unset)
    unknown = [u for u in unset if u.partition(".")[0] not in specs]
    if unknown:
        raise ConfigError(f"unknown override {unknown[0]!r}; {provider} takes: "
                          f"{', '.join(s.shown(n) for n, s in specs.items()) or 'nothing'}")
    return merge(current, parse_sets(provider, specs, items), unset)


@accounts_app.command("set")
def accounts_set(
    name: str,
    items: Annotated[list[str] | None, typer.Argument(help="name=value or name.key=value (see the "
                                                             "provider's `overrides:`).")] = None,
    unset: Annotated[list[str] | None, typer.Option("--unset", help="Remove an override (back to the "
                                                                     "definition's default).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an account's overrides of its definition's arguments (list ids, status ids, field ids)."""
    rt = runtime()
    try:
        account = rt.store.get_account(name)
        if not items and not unset:
            raise ConfigError("nothing to set: give name=value items or --unset name")
        overrides = account_overrides(account.provider, account.overrides, items or [], unset or [])
        _check_with_helpdesk(rt, account, overrides)  # ids the helpdesk lists (`among:`), before storing
        rt.store.set_overrides(name, overrides)
    except DeskhandError as exc:
        raise fail(exc) from exc
    if as_json:
        print_json({"account": name, "overrides": overrides})
        return
    shown = ", ".join(f"{k}={v}" for k, v in sorted(_flat(overrides).items())) or "none"
    out.print(f"account [bold]{name}[/bold] overrides: {shown}")


def _check_with_helpdesk(rt: Any, account: Any, overrides: Mapping[str, Any]) -> None:
    """The overrides a definition checks against the helpdesk (``among:``: a Linear workflow state of
    the account's team, a Trello list of its board) are asked about; nothing else calls it."""
    from deskhand.providers import load_definition, open_connector
    from deskhand.providers.checks import check_overrides

    if not any(spec.among for spec in load_definition(account.provider).overrides.values()):
        return
    with open_connector(account.provider, account.name, account.config, overrides=dict(overrides),
                        oauth_tokens=rt.oauth_tokens) as connector:
        check_overrides(connector)


def _flat(overrides: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{k}.{e}" if isinstance(v, dict) else k: (x if isinstance(v, dict) else v)
            for k, v in overrides.items() for e, x in (v.items() if isinstance(v, dict) else [("", v)])}
