"""The worker loop: claim a job, run it, acknowledge it; failures retry with backoff, then dead-letter.

While a job runs, a heartbeat renews its lease every ``heartbeat_s`` (a third of the lease by
default), so a job that works longer than its lease (slow LLM calls: up to minutes with timeouts,
retries and a repair) is not taken over by another worker and run twice. A worker that dies stops
beating, and its job is re-delivered when the lease runs out, as before. A renewal that finds the
lease gone (the job was taken over after a stall) is logged; the job's effects stay idempotent.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from deskhand.errors import DeskhandError, ProviderError, RateLimited
from deskhand.faults import crash_point
from deskhand.providers.oauth import NeedsReauth
from deskhand.providers.oauth_tokens import NEEDS_REAUTH, reauth_marker
from deskhand.queue import Job
from deskhand.queue.breaker import Admission, helpdesk_answered, helpdesk_down
from deskhand.queue.sql import backoff_s
from deskhand.responder.effects import apply_decision
from deskhand.responder.handle import handle_event
from deskhand.runtime import Runtime

log = logging.getLogger(__name__)

# A job that fails with an error that is not the helpdesk's (a bug, the store blinking) is
# dead-lettered after this many attempts (about 34 minutes of backoff), not after a day of them.
UNEXPECTED_ATTEMPTS = 10
REAUTH_RECHECK_S = 3600.0  # a job waiting for its account's re-authorisation looks again this often
Handler = Callable[[Runtime, Job], None]
HANDLERS: dict[str, Handler] = {
    "handle_event": lambda rt, job: (handle_event(rt, int(job.payload["event_id"])), None)[1],
    "apply_decision": lambda rt, job: apply_decision(rt, int(job.payload["decision_id"])),
}


def worker_name(index: int = 0) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{index}"


class Worker:
    def __init__(self, rt: Runtime, *, name: str | None = None, lease_s: float = 120.0, idle_s: float = 0.2,
                 heartbeat_s: float | None = None) -> None:
        self.rt = rt
        self.name = name or worker_name()
        self.lease_s = lease_s
        self.idle_s = idle_s
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else lease_s / 3
        self.current: Job | None = None  # the job this worker is running right now
        self.renewals = 0  # leases renewed by the heartbeat (for tests and logs)

    def run_once(self) -> bool:
        """Run one job if one is due; False when the queue had nothing to do."""
        job = self.rt.queue.claim(self.name, lease_s=self.lease_s)
        if job is None:
            return False
        self.current = job
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, done), name=f"{self.name}-heartbeat", daemon=True)
        beat.start()
        try:
            self._run(job)
        finally:
            done.set()
            beat.join()
            self.current = None
        return True

    def _heartbeat(self, job: Job, done: threading.Event) -> None:
        """Renew the job's lease until it is finished (or the lease turns out to be someone else's)."""
        while not done.wait(self.heartbeat_s):
            try:
                held = self.rt.queue.extend(job, self.name, self.lease_s)
            except Exception:  # the store blinked: the next beat tries again, the lease has slack
                log.warning("worker %s could not renew the lease of job %s", self.name, job.id, exc_info=True)
                continue
            if not held:  # (or the job finished between the wait and the renewal: then `done` follows at once)
                if not done.wait(min(1.0, self.heartbeat_s)):
                    log.warning("job %s %s: its lease was taken over while it ran (stalled longer than %.0f s)",
                                job.id, job.kind, self.lease_s)
                return
            self.renewals += 1

    def release(self) -> None:
        """Give the running job back to the queue now (shutdown grace ran out): another worker
        takes it at once; action idempotency keys make the re-run safe."""
        job = self.current
        if job is not None:
            self.rt.queue.defer(job, self.name, self.rt.queue.clock(), "worker shut down")
            log.warning("worker %s released job %s %s at shutdown", self.name, job.id, job.kind)

    def _run(self, job: Job) -> None:
        handler = HANDLERS.get(job.kind)
        if handler is None:
            self.rt.queue.retry(job, self.name, f"no handler for job kind {job.kind!r}", final=True)
            return
        gate = self.rt.breakers.admit_job(job)  # the account's helpdesk is down: wait for the probe
        if gate is not None and not gate.run:
            self.rt.queue.defer(job, self.name, gate.wait_until or self.rt.queue.clock(), gate.reason)
            return
        oauth = self.rt.oauth_tokens.status(gate.account) if gate is not None else None
        if gate is not None and oauth is not None and oauth[0] == NEEDS_REAUTH:
            self._wait_for_reauth(job, gate.account, str(oauth[1] or "re-authorisation needed"))
            return
        try:
            handler(self.rt, job)
        except NeedsReauth as exc:  # its grant is gone: the job waits (uncounted) for the reconnection
            self._alert_reauth(exc)
            self._wait_for_reauth(job, exc.account, exc.reason or "re-authorisation needed")
        except RateLimited as exc:  # a 429, or the shared budget said "later": defer, never park or count
            self._answered(gate, exc)
            if exc.retry_after is None:
                self.rt.queue.retry(job, self.name, repr(exc))
            else:
                self.rt.queue.defer(job, self.name, self.rt.queue.clock() + exc.retry_after, exc.reason or str(exc))
        except ProviderError as exc:
            delay = exc.retry_after
            if gate is not None and helpdesk_down(exc):
                self.rt.breakers.failure(gate.account, repr(exc))
                if gate.probe:
                    delay = self._after_next_probe(gate.account, job, delay)
            self._answered(gate, exc)
            self.rt.queue.retry(job, self.name, repr(exc), delay_s=delay, final=not exc.retryable)
        except DeskhandError as exc:
            self.rt.queue.retry(job, self.name, repr(exc), final=True)
        except Exception as exc:  # a bug or a blip: a few retries with backoff, the trace in the log
            log.exception("job %s %s crashed", job.id, job.kind)
            self.rt.queue.retry(job, self.name, repr(exc), final=job.attempts >= UNEXPECTED_ATTEMPTS)
        else:
            if gate is not None and gate.dirty:
                self.rt.breakers.success(gate.account)
            crash_point("before_ack")
            if not self.rt.queue.ack(job, self.name):
                log.warning("job %s finished after its lease was taken over", job.id)

    def _alert_reauth(self, exc: NeedsReauth) -> None:
        """The outbound `account.needs_reauth` event (at most one a day per account, deskhand.outbound)."""
        from deskhand import outbound

        account = self.rt.store.find_account(exc.account)
        if account is not None:
            outbound.needs_reauth(self.rt, account.tenant_id, account.name, account.provider, str(exc))

    def _wait_for_reauth(self, job: Job, account: str, reason: str) -> None:
        """Defer a job of an account whose OAuth grant is gone; `deskhand connect … --oauth` makes
        every such job due again (TokenStore.connect), this recheck is only a backstop."""
        until = self.rt.queue.clock() + REAUTH_RECHECK_S
        self.rt.queue.defer(job, self.name, until, reauth_marker(account) + reason)

    def _after_next_probe(self, account: str, job: Job, retry_after: float | None) -> float:
        """A failed probe's job retries just after the next probe time, so that probe is another
        job's: one ticket the helpdesk always fails (a 500 on it alone) cannot keep the whole
        account's breaker open by being the first due job at every probe."""
        now = self.rt.queue.clock()
        row = self.rt.breakers.get(account)
        after = float(row["probe_at"]) + 1.0 - now if row and row["probe_at"] is not None else 0.0
        return max(retry_after or 0.0, backoff_s(job.attempts), after)

    def _answered(self, gate: Admission | None, exc: BaseException) -> None:
        """An HTTP answer below 500 proves the helpdesk is up: a breaker with failures closes."""
        if gate is not None and gate.dirty and helpdesk_answered(exc):
            self.rt.breakers.success(gate.account)

    def run(self, stop: threading.Event) -> None:
        log.info("worker %s started", self.name)
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the store is down: wait and try again, never die
                log.exception("worker %s could not reach the queue", self.name)
                busy = False
                time.sleep(1.0)
            if not busy:
                stop.wait(self.idle_s)
        log.info("worker %s stopped", self.name)


def start_workers(rt: Runtime, count: int, stop: threading.Event, *, lease_s: float = 120.0) -> list[threading.Thread]:
    threads = []
    for i in range(count):
        w = Worker(rt, name=worker_name(i), lease_s=lease_s)
        th = threading.Thread(target=w.run, args=(stop,), name=f"deskhand-worker-{i}", daemon=True)
        th.start()
        threads.append(th)
    return threads


def run_workers(
    rt: Runtime, count: int, stop: threading.Event, *, lease_s: float = 120.0, grace_s: float = 30.0
) -> int:
    """Run `count` workers until `stop` is set, then shut down gracefully: no new claims, running
    jobs get `grace_s` to finish, and any still running after that goes back to the queue.
    Returns how many jobs were released."""
    workers = [Worker(rt, name=worker_name(i), lease_s=lease_s) for i in range(count)]
    threads = [
        threading.Thread(target=w.run, args=(stop,), name=f"deskhand-worker-{i}", daemon=True)
        for i, w in enumerate(workers)
    ]
    for th in threads:
        th.start()
    while not stop.is_set():
        stop.wait(0.5)
    deadline = time.monotonic() + grace_s
    for th in threads:
        th.join(timeout=max(0.0, deadline - time.monotonic()))
    released = 0
    for w, th in zip(workers, threads, strict=True):
        if th.is_alive() and w.current is not None:
            w.release()
            released += 1
    return released
