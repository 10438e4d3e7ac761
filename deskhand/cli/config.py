"""`deskhand config`: the configuration in force (from DESKHAND_*), where the data lives, secrets hidden."""

from __future__ import annotations

from typing import Any

from deskhand.cli.apps import JsonOpt, app, out
from deskhand.cli.core import fail, print_json
from deskhand.errors import DeskhandError


@app.command("config")
def config_show(as_json: JsonOpt = False) -> None:
    """Print the validated configuration (DESKHAND_* variables) and where deskhand keeps its files."""
    from deskhand.index.tenants import index_dir
    from deskhand.settings import Settings, redact

    try:
        s = Settings.from_env()
    except DeskhandError as exc:
        raise fail(exc) from exc
    rows: dict[str, Any] = {
        "database_url": redact(s.database_url) + ("  (default: the data folder)" if s.database_is_default else ""),
        "data_folder": str(s.data_dir()),
        "secret_key": "set (DESKHAND_SECRET_KEY)" if s.secret_key else f"key file {s.data_dir() / 'deskhand.key'}",
        "vector_indexes": str(index_dir(s) or "in each process's memory (not a SQLite file store)"),
        "redis_url": redact(s.redis_url) if s.redis_url else "(none)",
        "llm": s.llm or "(none: offline models)",
        "webhook_tolerance_s": s.webhook_tolerance_s,
        "log_level": s.log_level,
    }
    if as_json:
        print_json(rows)
        return
    width = max(map(len, rows))
    for key, value in rows.items():
        out.print(f"{key:<{width}} = {value}", soft_wrap=True, highlight=False, markup=False)
