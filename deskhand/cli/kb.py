"""`deskhand kb pull ACCOUNT` (help-centre articles) and `deskhand kb tickets ACCOUNT` (resolved tickets).

Both store knowledge for the account's tenant, re-indexing only documents whose content changed;
``kb add/list/remove/search`` live in ``cli/core.py``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from deskhand.cli.apps import JsonOpt, kb_app, out
from deskhand.cli.core import fail, print_json, runtime
from deskhand.errors import DeskhandError


def _print(report: object, as_json: bool, what: str) -> None:
    data = dict(report.__dict__)
    if as_json:
        print_json(data)
        return
    out.print(
        f"{what}: {len(data['added'])} added, {len(data['changed'])} changed, {len(data['unchanged'])} unchanged, "
        f"{len(data['removed'])} removed ({data['chunks']} chunks written)"
    )


@kb_app.command("pull")
def kb_pull(account: str, as_json: JsonOpt = False) -> None:
    """Pull the account's help-centre articles (Zendesk Help Center) into its knowledge."""
    from deskhand.knowledge import add_documents, help_center_documents

    rt = runtime()
    try:
        record = rt.store.get_account(account)
        docs = help_center_documents(rt.connector(record))
        report = add_documents(rt.store, record.tenant_id, docs, prune_prefix=f"help_center/{account}/")
    except DeskhandError as exc:
        raise fail(exc) from exc
    _print(report, as_json, f"help centre of {account}")


@kb_app.command("tickets")
def kb_tickets(
    account: str,
    bot: Annotated[list[str] | None, typer.Option(help="Author ids whose answers are a bot's (excluded).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Turn the replica's solved tickets into scrubbed problem → resolution knowledge (run `sync` first)."""
    from deskhand.knowledge import add_resolved_tickets, replica_pairs

    rt = runtime()
    try:
        record = rt.store.get_account(account)
        own = rt.identity(record).own_id  # our own API user's answers are the bot's
        bots = set(bot or []) | ({own} if own else set())
        pairs = replica_pairs(rt.store.engine, account, bot_ids=bots)
        report = add_resolved_tickets(rt.store, record.tenant_id, account, pairs)
    except DeskhandError as exc:
        raise fail(exc) from exc
    _print(report, as_json, f"resolved tickets of {account}")
