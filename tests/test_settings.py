"""Configuration as one validated object (issue 15, finding 8): one-line errors, an explicit per-user
data folder, owner-only files."""

from __future__ import annotations

import socket
import stat
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskhand.cli import app, main
from deskhand.errors import ConfigError
from deskhand.settings import Settings

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("DESKHAND_DATABASE_URL", "DESKHAND_SECRET_KEY", "DESKHAND_HOME", "DESKHAND_REDIS_URL",
                 "DESKHAND_LOG_LEVEL", "DESKHAND_WEBHOOK_TOLERANCE_S"):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DESKHAND_DATABASE_URL": "foo"}, "DESKHAND_DATABASE_URL 'foo' is not a database URL"),
        ({"DESKHAND_DATABASE_URL": "mysql://u:hunter2@h/db"}, "'mysql://u:***@h/db' is not a database URL"),
        ({"DESKHAND_REDIS_URL": "localhost:6379"}, "DESKHAND_REDIS_URL 'localhost:6379' is not a Redis URL"),
        ({"DESKHAND_WEBHOOK_TOLERANCE_S": "five"}, "DESKHAND_WEBHOOK_TOLERANCE_S 'five'"),
        ({"DESKHAND_LOG_LEVEL": "loud"}, "DESKHAND_LOG_LEVEL 'loud' is not a log level"),
    ],
    ids=["not-a-url", "unknown-scheme-password-hidden", "redis", "not-an-int", "log-level"],
)
def test_a_bad_variable_is_one_error_naming_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert message in str(caught.value) and "\n" not in str(caught.value) and "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("foo", "is not a database URL"),
        ("sqlite:///{tmp}/missing/folder/x.db", "its folder"),
        ("sqlite:///{tmp}", "cannot open the SQLite database"),
    ],
    ids=["not-a-url", "missing-folder", "a-folder-not-a-file"],
)
def test_the_cli_reports_a_bad_store_in_one_line(clean_env: Path, monkeypatch, url: str, message: str) -> None:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", url.format(tmp=clean_env))
    r = runner.invoke(app, ["accounts", "list"])
    assert r.exit_code == 2 and message in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_without_a_database_url_the_data_folder_is_per_user_printed_and_private(clean_env: Path, monkeypatch) -> None:
    monkeypatch.setattr("deskhand.settings.default_home", lambda: clean_env / "user-data" / "deskhand")
    r = runner.invoke(app, ["accounts", "list", "--json"])
    assert r.exit_code == 0, r.output
    folder = clean_env / "user-data" / "deskhand"
    assert f"deskhand keeps its data in {folder}" in r.output
    assert not list(Path.cwd().iterdir())  # nothing in the working directory
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("deskhand.db", "deskhand.key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    again = runner.invoke(app, ["accounts", "list", "--json"])
    assert "keeps its data" not in again.output  # said once, when it is created
    shown = runner.invoke(app, ["config", "--json"])
    assert str(folder / "deskhand.db") in shown.output and "(default: the data folder)" in shown.output


def test_deskhand_home_chooses_the_data_folder(clean_env: Path, monkeypatch) -> None:
    monkeypatch.setenv("DESKHAND_HOME", str(clean_env / "home"))
    s = Settings.from_env()
    assert s.database_url == f"sqlite:///{clean_env / 'home' / 'deskhand.db'}" and s.database_is_default
    assert Settings.from_env({"DESKHAND_DATABASE_URL": "sqlite:////srv/d.db"}).database_is_default is False


def test_explicit_settings_ignore_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("DESKHAND_REDIS_URL", "redis://127.0.0.1:1/0")
    assert Settings(database_url="sqlite:///x.db").redis_url is None


@pytest.fixture
def busy_port() -> object:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


def test_serve_on_a_port_in_use_is_one_line(clean_env: Path, monkeypatch, busy_port: int) -> None:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", f"sqlite:///{clean_env / 'd.db'}")
    r = runner.invoke(app, ["serve", "--port", str(busy_port)])
    assert r.exit_code == 2 and f"cannot listen on 127.0.0.1:{busy_port}" in r.output, r.output


def test_a_simulator_on_a_port_in_use_is_one_line(monkeypatch, capsys, busy_port: int) -> None:
    monkeypatch.setattr(sys, "argv", ["deskhand", "sim", "zendesk", "--port", str(busy_port)])
    with pytest.raises(SystemExit) as ended:
        main()
    assert ended.value.code == 2
    printed = capsys.readouterr().err
    assert f"cannot listen on http://127.0.0.1:{busy_port}" in printed and "Traceback" not in printed


def test_the_key_file_and_database_are_git_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "deskhand.key" in ignored and "deskhand.db*" in ignored
