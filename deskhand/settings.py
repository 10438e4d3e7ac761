"""Settings: one validated object, one URL per backend, read from the environment (DESKHAND_*).

``Settings.from_env()`` reads ``DESKHAND_DATABASE_URL``, ``DESKHAND_REDIS_URL``,
``DESKHAND_SECRET_KEY``, ``DESKHAND_LLM``, ``DESKHAND_WEBHOOK_TOLERANCE_S``, ``DESKHAND_HOME`` and
``DESKHAND_LOG_LEVEL`` (pydantic-settings) and checks them: a bad value is one ``ConfigError`` naming
the variable and what to write instead. ``Settings(...)`` takes exactly the values it is given (tests,
benches) and checks them the same way.

Without ``DESKHAND_DATABASE_URL`` the store is ``deskhand.db`` in the data folder: ``DESKHAND_HOME``,
else the per-user data directory (``platformdirs.user_data_dir("deskhand")``, e.g.
``~/.local/share/deskhand`` on Linux) — never the current working directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from deskhand.errors import ConfigError

ENV_PREFIX = "DESKHAND_"
DATABASE_FILE = "deskhand.db"
DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


LEGACY_HOME = Path("~/.deskhand")  # the data folder of earlier versions for non-SQLite stores


def default_home() -> Path:
    """The data folder when DESKHAND_HOME is not set: the per-user data directory (or ~/.deskhand
    when an earlier version left its key file there)."""
    from platformdirs import user_data_dir

    legacy = LEGACY_HOME.expanduser()
    if (legacy / "deskhand.key").is_file():
        return legacy
    return Path(user_data_dir("deskhand", appauthor=False))


def database_url_in(folder: Path) -> str:
    return f"sqlite:///{folder / DATABASE_FILE}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore", env_ignore_empty=True)

    database_url: str = ""  # "" → sqlite in the data folder (see `home`)
    redis_url: str | None = None
    secret_key: str | None = None  # Fernet key for secrets at rest; else a key file beside the store
    llm: str | None = None  # e.g. openai:gpt-4o-mini, anthropic:claude-…, none (offline default)
    webhook_tolerance_s: int = Field(300, ge=0)  # accepted age of a signed webhook timestamp
    home: Path | None = None  # the data folder (default: the per-user data directory)
    log_level: str = "INFO"
    # per-process caches of a Runtime (tenants' retrievers, accounts' connectors and identities), LRU
    tenant_cache: int = Field(256, ge=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # Settings(...) is exactly what it is given; from_env() reads the environment

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip()
        if value and (value.split(":", 1)[0].split("+", 1)[0] not in DATABASE_SCHEMES or "://" not in value):
            raise ValueError(f"{value!r} is not a database URL: use sqlite:///path/to/deskhand.db "
                             "or postgresql://user@host/db")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(REDIS_SCHEMES):
            raise ValueError(f"{value!r} is not a Redis URL: use redis://host:6379/0")
        return value or None

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level: use one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    _default_database: bool = PrivateAttr(False)

    def model_post_init(self, context: Any) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", database_url_in(self.data_folder()))
            self._default_database = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings in ``env`` (default: the process environment); ``ConfigError`` naming the variable."""
        source = _Environment(cls, os.environ if env is None else env)
        try:
            return cls(**source())
        except ValidationError as exc:
            raise ConfigError(_one_line(exc)) from None

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_one_line(exc)) from None

    @property
    def database_is_default(self) -> bool:
        """True when no database URL was given (the store lives in the data folder)."""
        return self._default_database

    def data_folder(self) -> Path:
        """The folder for deskhand's own files when no database URL names one (DESKHAND_HOME or per-user)."""
        return (self.home or default_home()).expanduser()

    def data_dir(self) -> Path:
        """Where files that belong beside the store live (key file, indexes)."""
        if self.database_url.startswith("sqlite:///"):
            path = self.database_url.removeprefix("sqlite:///")
            if path and path != ":memory:" and not path.startswith("file::memory:"):
                return Path(path).resolve().parent
        return self.data_folder()


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (the process environment by default)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._given = env
        super().__init__(settings_cls, env_prefix=ENV_PREFIX, env_ignore_empty=True, case_sensitive=False)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._given.items()}


def redact(text: str) -> str:
    """A URL's password replaced by *** (user:secret@host → user:***@host)."""
    return re.sub(r"(://[^:/@\s]+):[^@/\s]+@", r"\1:***@", text)


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        name = ENV_PREFIX + "_".join(str(p) for p in error["loc"]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        if "is not a" not in message:  # our validators already quote the value
            message = f"{error.get('input')!r}: {message}"
        parts.append(redact(f"{name} {message}"))
    return "; ".join(parts)
