"""`deskhand eval triage | answers` (quality figures) and `deskhand triage train` (an account's taxonomy)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from deskhand.cli.apps import JsonOpt, app, err, eval_app, out

triage_app = typer.Typer(help="An account's own taxonomy, learned from its labelled history.", no_args_is_help=True)
app.add_typer(triage_app, name="triage")
DatasetOpt = Annotated[Path, typer.Option("--dataset", help="Dataset folder, e.g. ../shared/eval/banking77.")]


def _print(figures: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        out.print(f"{key:>32}: {value}")


@eval_app.command("triage")
def eval_triage(
    dataset: DatasetOpt,
    cv: Annotated[int, typer.Option("--cv", help="K-fold cross-validation on train.csv only (dev protocol).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Learn a taxonomy from the dataset's train split, classify its test split (banking77, clinc150,
    any folder with train.csv + test.csv: text,category or title,body,label)."""
    from deskhand.eval.triage import cross_validate, evaluate_triage

    if cv and cv < 2:
        err.print("--cv needs at least 2 folds")
        raise typer.Exit(2)
    _print(cross_validate(dataset, folds=cv) if cv else evaluate_triage(dataset), as_json)


@eval_app.command("answers")
def eval_answers(
    dataset: DatasetOpt,
    split: Annotated[str, typer.Option(help="dev or test")] = "test",
    calibrate: Annotated[bool, typer.Option("--calibrate", help="Refit the support model on dev.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Coverage and precision of automatic answers on StackFAQ (offline responder)."""
    from deskhand.eval.answers import calibrate as fit_support
    from deskhand.eval.answers import evaluate_answers

    _print(fit_support(dataset) if calibrate else evaluate_answers(dataset, split), as_json)


def read_history(path: Path) -> list[tuple[str, str]]:
    """Labelled tickets from CSV (columns text|subject+body, category) or JSONL (same keys)."""
    rows: list[dict[str, Any]]
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    history = []
    for row in rows:
        text = row.get("text") or f"{row.get('subject') or ''}\n\n{row.get('body') or ''}".strip()
        label = row.get("category") or row.get("label")
        if text and label:
            history.append((str(text), str(label)))
    if not history:
        raise typer.BadParameter(f"{path} has no rows with text (or subject/body) and category")
    return history


@triage_app.command("train")
def triage_train(
    account: Annotated[str, typer.Argument(help="Account name.")],
    source: Annotated[Path, typer.Option("--from", help="Labelled history: .csv or .jsonl.")],
    as_json: JsonOpt = False,
) -> None:
    """Fit the account's taxonomy model on its labelled history and store it."""
    from deskhand.ai.classify import pick_shots
    from deskhand.ai.taxonomy import TaxonomyModel
    from deskhand.store import Store
    from deskhand.store.taxonomies import save_taxonomy

    store = Store.open()
    record = store.get_account(account)
    history = read_history(source)
    err.print(f"learning {len(history)} labelled tickets for {account} …")
    model = TaxonomyModel().fit([t for t, _ in history], [c for _, c in history])
    version = save_taxonomy(
        store,
        account=account,
        tenant_id=record.tenant_id,
        model=model.to_bytes(),
        categories=model.classes,
        examples=len(history),
        shots=pick_shots(history),
    )
    figures = {"account": account, "version": version, "examples": len(history), "categories": len(model.classes),
               "abstain_below": round(model.abstain_below, 4)}
    _print(figures, as_json)
