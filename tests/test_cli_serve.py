"""Start-up friction (issue 15, finding 9): serve says where it listens, serve and worker fit the
triage model before the first ticket, third-party loggers stay quiet, the demo fits 80 columns."""

from __future__ import annotations

import io
import logging
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from rich.console import Console
from typer.testing import CliRunner

from deskhand.cli import app
from deskhand.cli.core import CHATTY_LOGGERS, _Quiet, setup_logging
from deskhand.demo.run import print_report
from deskhand.runtime import Runtime

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DESKHAND_SECRET_KEY", Fernet.generate_key().decode())
    return tmp_path


@pytest.fixture
def warmed(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    done = threading.Event()

    def warm_up(self: Runtime) -> float:
        done.set()
        return 0.0

    monkeypatch.setattr(Runtime, "warm_up", warm_up)
    return done


def test_serve_prints_where_it_listens_and_fits_the_model_at_start(env, monkeypatch, warmed) -> None:
    from deskhand.gateway import server

    served: list[tuple[str, int]] = []
    monkeypatch.setattr(server, "run", lambda app_, host, port, *a, **kw: served.append((host, port)))
    r = runner.invoke(app, ["serve", "--port", "0", "--sync-interval", "0"])
    assert r.exit_code == 0, r.output
    assert served == [("127.0.0.1", 0)]
    assert "deskhand listening on http://127.0.0.1:0" in r.output and "/webhooks/<provider>/<account>" in r.output
    assert warmed.wait(30)  # started with the server, not by the first ticket


def test_a_worker_fits_the_model_before_it_claims_a_job(env, monkeypatch, warmed) -> None:
    from deskhand.responder import worker

    order: list[str] = []
    monkeypatch.setattr(worker, "run_workers",
                        lambda *a, **kw: order.append("warm" if warmed.is_set() else "cold") or 0)
    r = runner.invoke(app, ["worker"])
    assert r.exit_code == 0, r.output
    assert order == ["warm"] and "triage model ready" in r.output


@pytest.mark.parametrize(("level", "quiet"), [("INFO", True), ("DEBUG", False)], ids=["default", "debug"])
def test_third_party_loggers_are_quiet_unless_debugging(monkeypatch, level: str, quiet: bool) -> None:
    saved = {name: logging.getLogger(name).level for name in CHATTY_LOGGERS}
    monkeypatch.setenv("DESKHAND_LOG_LEVEL", level)
    try:
        setup_logging()
        for name in ("httpx", "urllib3", "bm25s"):
            assert logging.getLogger(name).level == (logging.WARNING if quiet else logging.NOTSET), name
    finally:
        for name, value in saved.items():
            logging.getLogger(name).setLevel(value)


@pytest.mark.parametrize(
    ("chosen", "name", "level", "shown"),
    [
        (logging.WARNING, "bm25s", logging.DEBUG, False),  # bm25s sets its own logger to DEBUG on import
        (logging.INFO, "httpx", logging.INFO, False),
        (logging.INFO, "httpx", logging.WARNING, True),
        (logging.INFO, "deskhand.worker", logging.INFO, True),
        (logging.INFO, "deskhand.worker", logging.DEBUG, False),
        (logging.DEBUG, "httpx", logging.DEBUG, True),
    ],
    ids=["library-debug-at-warning", "chatty-info", "chatty-warning", "own-info", "own-debug", "debugging"],
)
def test_the_handler_filter_keeps_the_chosen_level(chosen: int, name: str, level: int, shown: bool) -> None:
    record = logging.LogRecord(name, level, __file__, 1, "message", None, None)
    assert _Quiet(chosen).filter(record) is shown


def _report() -> dict[str, object]:
    ticket = {
        "provider": "jira", "id": "SUP-12", "subject": "Charged twice for March and still no refund after a week",
        "category": "account_access", "urgency": "medium", "confidence": 0.87, "route": "auto_reply",
        "rules": ["vip_requester", "legal_or_security"], "final_status": "Done", "status": "solved",
        "comment_visibility": "public",
        "reply_excerpt": "Hi Ann, refunds for a duplicate charge are issued automatically within five working days "
                         "once the second payment is confirmed as a duplicate",
    }
    return {"tickets": [ticket] * 3, "routes": {"auto_reply": 3, "draft": 0, "human": 0}, "seconds": 9.5,
            "unhandled": 0}


@pytest.mark.parametrize("width", [60, 80, 100], ids=["60", "80", "100"])
def test_the_demo_report_fits_a_narrow_terminal(width: int) -> None:
    buffer = io.StringIO()
    print_report(_report(), Console(file=buffer, width=width, color_system=None))
    lines = buffer.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width
    assert any("jira SUP-12 auto_reply" in line for line in lines)
    assert "…" not in "".join(line for line in lines if "auto_reply" in line)  # nothing cut in the key line


def test_the_demo_report_is_a_table_on_a_wide_terminal() -> None:
    buffer = io.StringIO()
    print_report(_report(), Console(file=buffer, width=160, color_system=None))
    assert "┃ desk" in buffer.getvalue()


@pytest.mark.parametrize("width", [80, 160], ids=["list", "table"])
def test_the_demo_report_shows_the_unified_status_not_the_providers_raw_one(width: int) -> None:
    """A Trello card's own status is its list's id: the report shows the status it means."""
    report = _report()
    report["tickets"] = [{**_report()["tickets"][0], "provider": "trello",  # type: ignore[index]
                          "id": "65f0c0ffee0000000000abcd", "final_status": "65f0a1b2c3d4e5f6a7b8c9d0",
                          "status": "pending"}]
    buffer = io.StringIO()
    print_report(report, Console(file=buffer, width=width, color_system=None))
    assert "pending" in buffer.getvalue() and "65f0a1b2c3d4e5f6a7b8c9d0" not in buffer.getvalue()
