"""The PostgreSQL pool pings a connection only after it sat idle, and replaces one that died."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, event, text

from deskhand.store import db

pytestmark = pytest.mark.every_backend


@pytest.fixture
def pg(database_url: str) -> Iterator[Engine]:
    if not database_url.startswith("postgres"):
        pytest.skip("the idle ping is for PostgreSQL (SQLite has no server connection to lose)")
    engine = db.open_engine(database_url, migrate=False)
    yield engine
    engine.dispose()


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_busy_connections_are_not_pinged_idle_ones_are(pg: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(db.time, "monotonic", lambda: clock[0])
    seen = _statements(pg)
    with pg.connect() as c:  # a new connection: pinged once
        pid = c.execute(text("SELECT pg_backend_pid()")).scalar_one()
    for _ in range(5):  # back to back: no ping
        clock[0] += 0.1
        with pg.connect() as c:
            assert c.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
    assert seen.count("SELECT pg_backend_pid()") == 6
    # idle for longer than PING_IDLE_S and killed meanwhile: the checkout notices and replaces it
    other = db.open_engine(str(pg.url.render_as_string(hide_password=False)), migrate=False)
    with other.connect() as killer:
        killer.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        killer.commit()
    other.dispose()
    clock[0] += db.PING_IDLE_S + 1
    with pg.connect() as c:
        assert c.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
