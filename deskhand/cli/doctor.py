"""`deskhand doctor`: is this installation able to work? Settings, the database, and the LLMs.

Every configured LLM (DESKHAND_LLM, or DESKHAND_LLM_CLASSIFY / DESKHAND_LLM_GENERATE) is asked one
small classification in the structured-output format deskhand uses (``deskhand.ai.llm_check``):
whether it answers, which format it accepts, whether the answer parses into the offered categories.
Exit 0 when everything works, 1 when a check failed, 2 when the configuration cannot be read.
"""

from __future__ import annotations

from typing import Any

import typer

from deskhand.cli.apps import JsonOpt, app, err, out
from deskhand.cli.core import fail, print_json, runtime
from deskhand.errors import DeskhandError


@app.command("doctor")
def doctor(as_json: JsonOpt = False) -> None:
    """Check the configuration, the database, and that each configured LLM answers in the format
    deskhand asks for (one small request each)."""
    from deskhand.ai.llm_check import probe

    rt = runtime()  # settings and database: exit 2 with one line when either is wrong
    checks: list[dict[str, Any]] = [{"check": "database", "ok": True, "detail": "opened"}]
    try:
        classify_llm, generate_llm = rt.llms()
    except DeskhandError as exc:
        raise fail(exc) from exc
    llms = {id(x): x for x in (classify_llm, generate_llm) if x is not None}
    if not llms:
        checks.append({"check": "llm", "ok": True, "detail": "none configured: the offline models decide"})
    for llm in llms.values():
        tasks = [t for t, x in (("classify", classify_llm), ("generate", generate_llm)) if x is llm]
        if not as_json:
            err.print(f"asking {llm.name} ({', '.join(tasks)}) …", highlight=False)
        p = probe(llm)
        checks.append({"check": f"llm {'+'.join(tasks)}", **p.as_dict(), "detail": _detail(p)})
    failed = [c for c in checks if not c["ok"]]
    if as_json:
        print_json({"ok": not failed, "checks": checks})
    else:
        for c in checks:
            mark = "[green]ok[/green]  " if c["ok"] else "[red]FAIL[/red]"
            out.print(f"{mark} {c['check']}: {c['detail']}", highlight=False, soft_wrap=True)
            if c.get("advice"):
                out.print(f"      → {c['advice']}", highlight=False, soft_wrap=True)
    raise typer.Exit(1 if failed else 0)


def _detail(p: Any) -> str:
    if not p.ok:
        return f"{p.llm}: {p.error}"
    return (f"{p.llm} answered in {p.latency_ms:.0f} ms, format {p.format}, category {p.category!r} "
            "(one of the offered categories)")
