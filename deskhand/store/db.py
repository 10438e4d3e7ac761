"""Opening the store: one URL picks the backend; migrations run on open.

SQLite is the embedded default (WAL, busy timeout, every transaction BEGIN IMMEDIATE so that two
processes never deadlock upgrading a read lock). PostgreSQL takes the same schema and migrations.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Column, Connection, Engine, Insert, Table, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DisconnectionError, OperationalError

from deskhand.errors import ConfigError
from deskhand.store import tables as tables

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
_migrated: set[str] = set()
_migrate_lock = threading.Lock()
MIGRATION_LOCK_ID = 0x6465736B  # "desk": the advisory lock that serialises migrations on PostgreSQL


def normalise_url(url: str) -> str:
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def open_engine(url: str, *, migrate: bool = True) -> Engine:
    """An engine for the store at `url`, migrated to the newest schema."""
    url = normalise_url(url)
    if is_sqlite(url):
        _private_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _tune_sqlite(engine)
    elif url.startswith("postgresql"):
        # connect_timeout: a gateway whose database is unreachable answers 503 soon, not after minutes.
        engine = create_engine(url, pool_size=10, max_overflow=20, connect_args={"connect_timeout": 5})
        _ping_when_idle(engine)
    else:
        raise ConfigError(
            f"unknown DESKHAND_DATABASE_URL {url!r}: use sqlite:///path/to/deskhand.db "
            "or postgresql://user@host/db"
        )
    if migrate:
        try:
            upgrade(engine)
        except OperationalError as exc:
            if not is_sqlite(url):
                raise
            raise ConfigError(f"cannot open the SQLite database {url.removeprefix('sqlite:///')}: {exc.orig}; "
                              "check that the file is writable, or set DESKHAND_DATABASE_URL") from exc
    return engine


def _private_sqlite_file(url: str) -> None:
    """Create a new SQLite database file readable by its owner only (0600: it holds the ticket
    replica); SQLite gives its -wal and -shm files the same mode. A missing folder is an error."""
    path = url.removeprefix("sqlite:///")
    if not url.startswith("sqlite:///") or not path or path == ":memory:" or path.startswith("file:"):
        return
    file = Path(path)
    if file.exists():
        return
    if not file.parent.is_dir():
        raise ConfigError(f"cannot create the SQLite database {file}: its folder {file.parent} does not exist "
                          "(create it, or set DESKHAND_DATABASE_URL)")
    try:
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another process created it first
    except OSError as exc:
        raise ConfigError(f"cannot create the SQLite database {file}: {exc.strerror}; choose a writable folder "
                          "with DESKHAND_DATABASE_URL") from exc


PING_IDLE_S = 1.0  # a pooled connection unused for longer is pinged before it is handed out


def _ping_when_idle(engine: Engine) -> None:
    """Like `pool_pre_ping`, but only for connections idle for more than PING_IDLE_S: a connection
    that died with a server restart is replaced, not handed out. Why not pre-ping on every checkout:
    a worker checks out a connection for each of its ~50 short transactions per ticket, and the
    extra round trip each time cost PostgreSQL and the worker CPU and latency for nothing. A restart
    within the last second can still fail one statement on a busy connection; SQLAlchemy then
    invalidates the whole pool, the gateway retries its batch on a fresh connection and a job is
    retried, as for any failed statement."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) <= PING_IDLE_S:
            return
        try:
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT 1")
            dbapi_conn.rollback()
        except Exception as exc:  # the pool discards this connection and checks out another
            raise DisconnectionError(f"stale pooled connection: {exc.__class__.__name__}") from exc


def insert_or_skip(
    conn: Connection, table: Table, *unique: str, returning: Column[Any] | tuple[Column[Any], ...] | None = None
) -> Insert:
    """INSERT … ON CONFLICT (unique columns) DO NOTHING [RETURNING columns] for the connection's
    dialect: a duplicate costs no savepoint and no exception, and RETURNING yields no row for it.
    Built once per dialect and table: pass the values as execute() parameters (far cheaper than
    `.values(...)` on every call; a list of them is one multi-row INSERT)."""
    return _insert_or_skip(conn.dialect.name, table, unique, returning)


@functools.cache
def _insert_or_skip(
    dialect: str, table: Table, unique: tuple[str, ...], returning: Column[Any] | tuple[Column[Any], ...] | None
) -> Insert:
    stmt: Insert
    if dialect == "postgresql":
        stmt = pg_insert(table).on_conflict_do_nothing(index_elements=list(unique))
    elif dialect == "sqlite":
        stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(unique))
    else:
        raise ConfigError(f"unsupported database dialect {dialect!r}")
    if returning is None:
        return stmt
    return stmt.returning(*returning) if isinstance(returning, tuple) else stmt.returning(returning)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not _begin_immediate_fast(conn.connection.dbapi_connection):
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # still locked: SQLite's own busy wait (30 s), then an error


FAST_BEGIN_S = 1.0  # how long BEGIN IMMEDIATE is retried on short sleeps before SQLite's busy handler takes over


def _begin_immediate_fast(dbapi_conn: Any) -> bool:
    """BEGIN IMMEDIATE, tried again every 0.1-2 ms while another connection holds the write lock;
    False after FAST_BEGIN_S without it. Why not SQLite's busy handler alone: it sleeps 1, 2, 5, 10 …
    ms between tries, so a process waiting for a lock that is held for a fraction of a millisecond
    slept for milliseconds: two `deskhand worker` processes on one SQLite file spent a fifth of their
    time asleep there (py-spy), while the lock was free most of that time."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA busy_timeout=0")
        delay, deadline = 0.0001, time.monotonic() + FAST_BEGIN_S
        while True:
            try:
                cur.execute("BEGIN IMMEDIATE")
                return True
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    return False  # some other error: the plain BEGIN below raises it, wrapped as usual
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.002)
    finally:
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (once per process and URL)."""
    key = str(engine.url)
    with _migrate_lock:
        if key in _migrated:
            return
        cfg = alembic_config()
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # processes starting together (gateway + workers) migrate one after the other
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
        _migrated.add(key)


def new_id(result: Any) -> int:
    """The primary key of the row an INSERT just created."""
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every table here has an integer primary key
        raise RuntimeError("the insert returned no primary key")
    return int(key[0])
