"""Continuous sync inside `deskhand serve`: every `interval_s`, an incremental sync of each account
whose provider can be synced (its own thread, backfill lane: it never takes a worker or a reply's
budget). A sync another process holds is skipped; an error is logged and retried next round."""

from __future__ import annotations

import logging
import threading

from deskhand.errors import DeskhandError
from deskhand.providers import load_definition
from deskhand.runtime import Runtime
from deskhand.sync.engine import SyncBusy, sync_account

log = logging.getLogger(__name__)


def sync_round(rt: Runtime) -> dict[str, str]:
    """One incremental sync of every syncable account; account -> outcome."""
    outcomes: dict[str, str] = {}
    for account in rt.store.list_accounts():
        if load_definition(account.provider).sync is None:
            continue
        try:
            stats = sync_account(rt, account.name)
            outcomes[account.name] = f"{stats.written} written, {stats.reconciled} reconciled"
        except SyncBusy:
            outcomes[account.name] = "busy"
        except (DeskhandError, OSError) as exc:
            log.warning("sync.loop account=%s failed: %s", account.name, exc)
            outcomes[account.name] = f"failed: {exc}"
        except Exception:  # never let the loop die
            log.exception("sync.loop account=%s crashed", account.name)
            outcomes[account.name] = "crashed"
    return outcomes


def start_sync_loop(rt: Runtime, interval_s: float, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            log.info("sync.loop %s", sync_round(rt))
            stop.wait(interval_s)

    thread = threading.Thread(target=run, name="deskhand-sync-loop", daemon=True)
    thread.start()
    return thread
