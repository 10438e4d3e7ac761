"""`deskhand secrets rotate`: re-seal every stored secret under a new key, without downtime.

Every sealed column is found in the schema (a LargeBinary column whose name ends in `sealed`: account
connection values, OAuth token sets and pending authorisations, outbound webhook secrets, and whatever
is added later under that name). A rotation:

1. puts a new key first in the key ring (the key file; with DESKHAND_SECRET_KEY the operator does it:
   "NEW,OLD" in every process), so every process reads both keys and seals with the new one;
2. re-seals each row not already under the new key, one row per transaction, as a compare-and-set on
   the sealed value (a value written meanwhile is never overwritten; it is looked at again), so a
   rotation killed halfway is resumed by running it again, and a second run changes nothing;
3. `finish` re-seals any straggler, checks that the new key alone opens every row, then drops the old keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.fernet import Fernet
from sqlalchemy import Column, Engine, LargeBinary, Table, select, update

from deskhand.errors import ConfigError
from deskhand.store.schema import metadata
from deskhand.store.secrets import SecretBox, write_key_file

BATCH = 200


@dataclass
class Tally:
    table: str
    column: str
    rows: int = 0
    resealed: int = 0  # re-sealed under the sealing key by this run
    already: int = 0  # under the sealing key before this run looked at it


def sealed_columns() -> list[tuple[Table, Column]]:  # type: ignore[type-arg]
    """Every column holding a sealed secret, across the whole schema."""
    from deskhand.store import tables as _tables  # noqa: F401  (every table on the metadata)

    return [(t, c) for t in metadata.sorted_tables for c in t.columns
            if isinstance(c.type, LargeBinary) and c.name.endswith("sealed")]


def start(box: SecretBox) -> bool:
    """Put a new sealing key first in the key file (True), unless a rotation is already under way (the
    ring holds several keys: False, it is resumed). Keys from DESKHAND_SECRET_KEY cannot be changed from
    here: with one key there, say how to add the new one."""
    if len(box.keys) > 1:
        return False
    if box.key_file is None:
        raise ConfigError("DESKHAND_SECRET_KEY holds one key: generate a new one (python -c 'from cryptography."
                          "fernet import Fernet; print(Fernet.generate_key().decode())'), set DESKHAND_SECRET_KEY="
                          "NEW,OLD in every deskhand process (restart them), then run deskhand secrets rotate again")
    write_key_file(box.key_file, [Fernet.generate_key(), *box.keys])
    box.reload()
    return True


def reseal(engine: Engine, box: SecretBox, *, on_row: Callable[[str], None] | None = None) -> list[Tally]:
    """Re-seal every row not under the sealing key yet. `on_row(table)` runs after each re-sealed row."""
    tallies = []
    for table, column in sealed_columns():
        (pk,) = list(table.primary_key.columns)  # every sealed table has a one-column key
        tally = Tally(table.name, column.name)
        after = None
        while True:
            query = select(pk, column).order_by(pk).limit(BATCH)
            with engine.connect() as c:
                rows = c.execute(query if after is None else query.where(pk > after)).all()
            if not rows:
                break
            for key, sealed in rows:
                tally.rows += 1
                if box.sealed_by_primary(sealed):
                    tally.already += 1
                elif _reseal_row(engine, box, table, pk, column, key, sealed):
                    tally.resealed += 1
                    if on_row is not None:
                        on_row(table.name)
            after = rows[-1][0]
        tallies.append(tally)
    return tallies


def _reseal_row(engine: Engine, box: SecretBox, table: Table, pk: Column, column: Column,  # type: ignore[type-arg]
                key: object, sealed: bytes) -> bool:
    """Compare-and-set one row; if its value changed meanwhile, look at the new value. False: the row is
    gone, or it is under the sealing key now (written since)."""
    while True:
        with engine.begin() as c:
            done = c.execute(update(table).where(pk == key, column == sealed)
                             .values({column.name: box.reseal(sealed)})).rowcount
        if done:
            return True
        with engine.connect() as c:
            current = c.execute(select(column).where(pk == key)).scalar()
        if current is None or box.sealed_by_primary(current):
            return False
        sealed = current


def stragglers(engine: Engine, box: SecretBox) -> list[str]:
    """`table.key` of every row the sealing key alone cannot open."""
    left = []
    for table, column in sealed_columns():
        (pk,) = list(table.primary_key.columns)
        with engine.connect() as c:
            for key, sealed in c.execute(select(pk, column)):
                if not box.sealed_by_primary(sealed):
                    left.append(f"{table.name}.{key}")
    return left


def finish(engine: Engine, box: SecretBox) -> list[Tally]:
    """Re-seal what is left, check the sealing key alone opens every row, then keep only that key."""
    tallies = reseal(engine, box)
    left = stragglers(engine, box)
    if left:
        raise ConfigError(f"{len(left)} secrets are still sealed under an old key ({', '.join(left[:5])}…); "
                          "the old keys stay: run deskhand secrets rotate --finish again")
    if box.key_file is not None and len(box.keys) > 1:
        write_key_file(box.key_file, box.keys[:1])
        box.reload()
    return tallies
