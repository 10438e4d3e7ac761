"""Console users (deskhand.console.users) and `deskhand users create|list|remove`: scrypt hashes (never
the password), roles checked, duplicate and short passwords refused with what to do."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from deskhand.cli import app as cli_app
from deskhand.console.users import authenticate, create_user, hash_password, verify_password
from deskhand.errors import ConfigError
from deskhand.settings import Settings
from deskhand.store import Store
from deskhand.store.tables_console import console_users


def test_a_hash_is_salted_scrypt_and_verifies_only_the_password() -> None:
    one, two = hash_password("a long secret"), hash_password("a long secret")
    assert one != two and one.startswith("scrypt$32768$8$1$") and "a long secret" not in one
    assert verify_password("a long secret", one) and not verify_password("a long secrex", one)
    assert not verify_password("a long secret", "md5$whatever")


@pytest.mark.parametrize("username,role,password,message", [
    ("rita", "boss", "long enough pw", "unknown role"),
    ("rita", "viewer", "short", "at least 10"),
    ("bad name", "viewer", "long enough pw", "invalid username"),
], ids=["role", "password", "username"])
def test_invalid_users_are_refused(store: Store, username: str, role: str, password: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_user(store.engine, username, "default", role, password)


def test_authenticate_answers_the_user_only_for_the_right_password(store: Store) -> None:
    create_user(store.engine, "rita", "default", "reviewer", "long enough pw")
    user = authenticate(store.engine, "rita", "long enough pw")
    assert user is not None and (user.tenant_id, user.role) == ("default", "reviewer")
    assert user.may("viewer") and user.may("reviewer") and not user.may("admin")
    assert authenticate(store.engine, "rita", "wrong password") is None
    assert authenticate(store.engine, "nobody", "long enough pw") is None


def test_the_cli_creates_lists_and_removes_users(store: Store, settings: Settings,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKHAND_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DESKHAND_SECRET_KEY", settings.secret_key or "")
    runner = CliRunner()
    made = runner.invoke(cli_app, ["users", "create", "rita", "--tenant", "t1", "--role", "reviewer"],
                         input="long enough pw\nlong enough pw\n")
    assert made.exit_code == 0, made.output
    again = runner.invoke(cli_app, ["users", "create", "rita", "--tenant", "t1", "--role", "viewer",
                                    "--password", "long enough pw"])
    assert again.exit_code != 0 and "exists" in again.output
    listed = runner.invoke(cli_app, ["users", "list", "--json"])
    assert listed.exit_code == 0
    (row,) = json.loads(listed.stdout)["users"]
    assert (row["username"], row["tenant_id"], row["role"]) == ("rita", "t1", "reviewer") and "password" not in row
    with store.engine.connect() as c:
        stored = c.execute(select(console_users.c.password_hash)).scalar_one()
    assert stored.startswith("scrypt$") and "long enough pw" not in stored
    assert runner.invoke(cli_app, ["users", "remove", "rita"]).exit_code == 0
    gone = runner.invoke(cli_app, ["users", "remove", "rita"])
    assert gone.exit_code != 0 and "no console user" in gone.output
