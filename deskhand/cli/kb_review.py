"""`deskhand kb review`, `kb approve` and `eval scrub`: the reviewed-FAQ flow for knowledge derived
from other customers' solved tickets (issue 14), its measurement, and the allow-list `kb tickets` uses."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from deskhand.cli.apps import JsonOpt, eval_app, kb_app, out
from deskhand.cli.core import fail, print_json, runtime
from deskhand.errors import DeskhandError
from deskhand.model import DEFAULT_TENANT


def tenant_allow_list(rt: Any, record: Any) -> tuple[tuple[str, ...], frozenset[str]]:
    """The account's allowed domains and its knowledge base's own capitalised words."""
    from deskhand.ai.allowlist import tenant_domains
    from deskhand.ai.generalise import vocabulary_of

    root = rt.connector(record).values.get("root")
    articles = rt.store.list_articles(record.tenant_id)
    hosts = tenant_domains(record.settings, helpdesk_roots=[root], kb_urls=[a["url"] for a in articles])
    own = [c["text"] for c in rt.store.chunks(record.tenant_id) if c["kind"] == "knowledge_base"]
    return hosts, vocabulary_of(own)


def print_reviews(rt: Any, tenant: str, *, prefix: str = "", as_json: bool = False) -> None:
    from deskhand.knowledge_reviews import reviews

    rows = [r for r in reviews(rt.store, tenant).values() if r.source_id.startswith(prefix)]
    chunks = {c["source_id"]: c["text"] for c in rt.store.chunks(tenant) if c["kind"] == "resolved_ticket"}
    if as_json:
        print_json({"articles": [{"source_id": r.source_id, "title": r.title, "status": r.status, "reason": r.reason,
                                  "actor": r.actor, "text": chunks.get(r.source_id, "")} for r in rows]})
        return
    table = Table("source", "title", "review", "text")
    for r in rows:
        table.add_row(r.source_id, r.title, r.status + (f": {r.reason}" if r.reason else ""),
                      chunks.get(r.source_id, "")[:160])
    out.print(table)
    pending = sum(r.status == "pending" for r in rows)
    if pending:
        out.print(f"{pending} derived article(s) pending: read each, then `deskhand kb approve SOURCE_ID "
                  f"--tenant {tenant}`. Until then they support no automatic reply on their own.")


@kb_app.command("review")
def kb_review(tenant: str = DEFAULT_TENANT, as_json: JsonOpt = False) -> None:
    """List articles derived from solved tickets (pending or approved) and flagged articles."""
    print_reviews(runtime(), tenant, as_json=as_json)


@kb_app.command("approve")
def kb_approve(
    source_id: Annotated[list[str], typer.Argument(help="Source ids, as `kb review` shows them.")],
    tenant: str = DEFAULT_TENANT,
    by: Annotated[str | None, typer.Option(help="Who approves (default: the login name).")] = None,
) -> None:
    """Approve derived articles once read: each may then support an automatic reply on its own."""
    from deskhand.knowledge_reviews import approve

    rt = runtime()
    actor = by or getpass.getuser()
    try:
        for sid in source_id:
            approve(rt.store, tenant, sid, actor=actor)
            out.print(f"approved {sid} (by {actor})")
    except DeskhandError as exc:
        raise fail(exc) from exc


@eval_app.command("scrub")
def eval_scrub(
    data: Annotated[Path, typer.Option(help="Labelled resolutions (JSON lines: text, secrets, useful, names).")] = Path(
        "tests/data/scrub_resolutions.jsonl"
    ),
    as_json: JsonOpt = False,
) -> None:
    """How well knowledge derived from solved tickets drops customers' specifics: secret recall (share of
    planted secrets removed, target 1.0) and kept share (useful sentences kept word for word)."""
    from deskhand.eval.scrub import evaluate, load

    try:
        report = evaluate(load(data))
    except DeskhandError as exc:
        raise fail(exc) from exc
    if as_json:
        print_json(report.as_dict())
        return
    out.print(f"{report.resolutions} resolutions: secret recall {report.recall:.4f} ({report.secrets_removed}/"
              f"{report.secrets} removed), kept share {report.kept_share:.4f} ({report.useful_kept}/{report.useful} "
              "useful sentences kept)")
    for leak in report.leaks:
        out.print(f"  leaked in {leak['id']}: {leak['secret']!r}")
    for lost in report.lost:
        out.print(f"  lost in {lost['id']} ({lost['why']}): {lost['sentence']}")
