"""The SQL store (SQLite by default, PostgreSQL for scale-out): schema, migrations, named queries."""

from deskhand.store.store import AccountRecord, ActionRecord, Store, StoredEvent

__all__ = ["AccountRecord", "ActionRecord", "Store", "StoredEvent"]
