"""Shared fixtures: a fresh store per test, the shared data folder.

Contract modules (`pytestmark = pytest.mark.every_backend`) run each test against every store
backend: SQLite in a temporary file, and PostgreSQL in a fresh database made for the test (copied
from a template migrated once per session) and dropped after it. PostgreSQL comes from
DESKHAND_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/); only the explicit value
"off" skips those runs. Everywhere else the store is SQLite, as before.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from deskhand.settings import Settings
from deskhand.store import Store

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DESKHAND_SHARED_DIR") or REPO.parent / "shared")
POSTGRES_URL = os.environ.get("DESKHAND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/")
BACKENDS = ("sqlite", "postgres")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "every_backend: run each test against SQLite and PostgreSQL")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("every_backend"):
        metafunc.parametrize("database_url", BACKENDS, indirect=True)


def postgres_server_url() -> str:
    """The PostgreSQL server tests use (skips only when DESKHAND_TEST_POSTGRES_URL=off)."""
    if POSTGRES_URL.strip().lower() == "off":
        pytest.skip("PostgreSQL runs disabled by DESKHAND_TEST_POSTGRES_URL=off")
    return POSTGRES_URL.rstrip("/")


class PostgresDatabases:
    """Creates throwaway databases on one server, each a copy of a template migrated once."""

    def __init__(self, server_url: str) -> None:
        from sqlalchemy import create_engine

        from deskhand.store.db import normalise_url

        self.server_url = server_url
        self.admin = create_engine(normalise_url(f"{server_url}/postgres"), isolation_level="AUTOCOMMIT")
        self.template: str | None = None

    def _exec(self, sql: str) -> None:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def create(self, *, migrated: bool = True) -> str:
        name = f"dh_test_{uuid.uuid4().hex[:12]}"
        if migrated:
            self._exec(f'CREATE DATABASE "{name}" TEMPLATE "{self._template()}"')
        else:
            self._exec(f'CREATE DATABASE "{name}"')
        return f"{self.server_url}/{name}"

    def _template(self) -> str:
        if self.template is None:
            from deskhand.store.db import open_engine

            name = f"dh_template_{uuid.uuid4().hex[:12]}"
            self._exec(f'CREATE DATABASE "{name}"')
            open_engine(f"{self.server_url}/{name}").dispose()
            self.template = name
        return self.template

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self.template:
            self.drop(f"{self.server_url}/{self.template}")
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    dbs = PostgresDatabases(postgres_server_url())
    try:
        yield dbs
    finally:
        dbs.close()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'deskhand.db'}"
        return
    dbs: PostgresDatabases = request.getfixturevalue("postgres_databases")
    url = dbs.create()
    try:
        yield url
    finally:
        dbs.drop(url)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, secret_key=Fernet.generate_key().decode())


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store.open(settings)
    yield s
    s.engine.dispose()
