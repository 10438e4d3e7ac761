"""Outbound unified webhooks survive `kill -9` of the real delivery worker mid-delivery.

`deskhand worker` runs as a child process; the receiver holds the first request open, and while it is
held (the delivery in flight) the worker is killed with SIGKILL. A second worker then delivers every
event: each arrives at least once, under the same `webhook-id` and the same signed bytes as the attempt
that was cut off, and none is lost. Every step waits on a condition (the receiver holding a request,
the outbox rows' state), never on a sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from deskhand import outbound
from deskhand.runtime import Runtime
from deskhand.settings import Settings
from deskhand.store import Store

LEASE_S = 6.0  # the worker's --webhook-lease-s: its HTTP timeout is 2 s, far beyond the kill


class HoldingReceiver:
    """A consumer on loopback that holds the first request open (never answering it) and answers 204
    to every later one; it logs every request it read, answered or not."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], bytes, bool]] = []  # headers, body, answered 2xx
        self.holding = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer.lock:
                    hold = not outer.holding.is_set()
                    outer.seen.append((headers, body, not hold))
                    if hold:
                        outer.holding.set()
                if hold:
                    outer.release.wait(120)  # the sender is killed meanwhile: its socket is gone
                    return
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answered_ids(self) -> set[str]:
        with self.lock:
            return {h["webhook-id"] for h, _, ok in self.seen if ok}

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class WorkerProcess:
    """`deskhand worker` as a child process on the test's store."""

    def __init__(self, settings: Settings, home: Path, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DESKHAND_")}
        env.update(DESKHAND_DATABASE_URL=settings.database_url, DESKHAND_SECRET_KEY=settings.secret_key or "",
                   DESKHAND_HOME=str(home), DESKHAND_LLM="none")
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "deskhand.cli", "worker", "--webhook-lease-s", str(LEASE_S)],
                env=env, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        """Killed too: it may still be fitting its triage model, and its webhooks are all delivered."""
        if self.proc.poll() is None:
            self.kill()


def wait_for(what: str, check: Callable[[], bool], worker: WorkerProcess, deadline_s: float = 180.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not check():
        if worker.proc.poll() is not None:
            raise AssertionError(f"worker exited ({worker.proc.returncode}) before {what}:\n"
                                 + worker.log.read_text()[-3000:])
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n" + worker.log.read_text()[-3000:])
        time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[HoldingReceiver]:
    r = HoldingReceiver()
    yield r
    r.close()


@pytest.mark.every_backend
def test_kill_9_of_the_delivery_worker_mid_delivery_loses_nothing(store: Store, settings: Settings,
                                                                   receiver: HoldingReceiver, tmp_path: Path) -> None:
    rt = Runtime(store)
    try:
        endpoint, secret = outbound.create_endpoint(rt, "t", receiver.url, ["ticket.created"])
        for n in range(5):
            outbound.publish(rt, "t", "ticket.created", {"ticket_id": f"acme:{n}"}, source=f"event:{n}")
        published = {r["id"] for r in outbound.messages(rt, "t", endpoint)}
        assert len(published) == 5

        def rows() -> dict[str, dict[str, Any]]:
            return {r["id"]: r for r in outbound.messages(rt, "t", endpoint)}

        first = WorkerProcess(settings, tmp_path, tmp_path / "worker.log")
        try:
            wait_for("a delivery held in flight", receiver.holding.is_set, first)
            first.kill()  # kill -9 while the receiver holds the request open
        finally:
            first.stop()
        ((held_headers, held_body, _),) = receiver.seen
        held = held_headers["webhook-id"]
        after_kill = rows()
        assert held in published
        # the delivery in flight is neither recorded as sent nor as failed, and it is the only row the
        # dead worker holds: the others wait for no lease
        assert after_kill[held]["status"] == "pending" and after_kill[held]["attempts"] == 0
        assert [i for i, r in after_kill.items() if r["lease_until"] is not None] == [held]
        assert {r["status"] for r in after_kill.values()} == {"pending"}

        second = WorkerProcess(settings, tmp_path, tmp_path / "worker.log")
        try:
            wait_for("every event answered", lambda: receiver.answered_ids() == published, second)
            wait_for("every row marked delivered",
                     lambda: {r["status"] for r in rows().values()} == {"delivered"}, second)
        finally:
            second.stop()

        verifier = Webhook(secret)
        answered = [(h, b) for h, b, ok in receiver.seen if ok]
        assert {verifier.verify(b, h)["data"]["ticket_id"] for h, b in answered} == {f"acme:{n}" for n in range(5)}
        retried = [(h, b) for h, b in answered if h["webhook-id"] == held]
        assert retried and all(b == held_body for _, b in retried)  # the same event, same id, same bytes
        verifier.verify(held_body, held_headers)  # the cut-off attempt was signed too
        assert receiver.answered_ids() == published  # receivers dedupe by id: each event once, none lost
    finally:
        rt.close()
