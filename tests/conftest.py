"""Shared fixtures: a fresh SQLite store per test, the shared data folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from deskhand.settings import Settings
from deskhand.store import Store

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DESKHAND_SHARED_DIR") or REPO.parent / "shared")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'deskhand.db'}", secret_key=Fernet.generate_key().decode())


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store.open(settings)
    yield s
    s.engine.dispose()
