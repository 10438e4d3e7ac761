"""Settings: one URL per backend, read from the environment (DESKHAND_*)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///deskhand.db"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    secret_key: str | None = None  # Fernet key for secrets at rest; else a key file beside the store
    llm: str | None = None  # e.g. openai:gpt-4o-mini, anthropic:claude-…, none (offline default)
    webhook_tolerance_s: int = 300  # accepted age of a signed webhook timestamp

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ) if env is None else env
        return cls(
            database_url=e.get("DESKHAND_DATABASE_URL", DEFAULT_DATABASE_URL),
            redis_url=e.get("DESKHAND_REDIS_URL") or None,
            secret_key=e.get("DESKHAND_SECRET_KEY") or None,
            llm=e.get("DESKHAND_LLM") or None,
            webhook_tolerance_s=int(e.get("DESKHAND_WEBHOOK_TOLERANCE_S", "300")),
        )

    def data_dir(self) -> Path:
        """Where files that belong beside the store live (key file, indexes)."""
        if self.database_url.startswith("sqlite:///"):
            path = self.database_url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                return Path(path).resolve().parent
        return Path(os.environ.get("DESKHAND_HOME", Path.home() / ".deskhand"))
