"""`Idempotency-Key` on writes: a retried write is performed once and answered as the first time.

The first request with a key claims it (an INSERT that a second request cannot repeat), performs the
write and stores its answer; a retry with the same key and the same request gets that stored answer
(`Idempotent-Replayed: true`); the same key with a different request is 422; a retry while the first
is still running is 409 with Retry-After. A write that failed before anything was done (a problem
answer) releases the key so it may be tried again. Keys are per tenant, kept for KEEP_S.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import delete, select, update

from deskhand.api.keys import Principal
from deskhand.api.problems import ApiProblem
from deskhand.runtime import Runtime
from deskhand.store.db import insert_or_skip
from deskhand.store.tables_api import idempotency_keys as ik

KEEP_S = 24 * 3600.0
MAX_KEY = 200


def fingerprint(method: str, path: str, body: Any) -> str:
    return hashlib.sha256(json.dumps([method, path, body], sort_keys=True, default=str).encode()).hexdigest()


def run_once(rt: Runtime, who: Principal, key: str | None, print_: str,
             perform: Callable[[], tuple[int, Any]]) -> JSONResponse:
    """Perform `perform` (-> status, JSON body) once per (tenant, key); without a key, every time."""
    if key is None:
        status, body = perform()
        return JSONResponse(body, status_code=status)
    if not key or len(key) > MAX_KEY:
        raise ApiProblem(422, "invalid_idempotency_key", f"Idempotency-Key must be 1-{MAX_KEY} characters")
    now = time.time()
    match = (ik.c.tenant_id == who.tenant_id) & (ik.c.key == key)
    with rt.store.transaction() as c:
        c.execute(delete(ik).where(match, ik.c.created_at < now - KEEP_S))
        claimed = c.execute(insert_or_skip(c, ik, "tenant_id", "key", returning=ik.c.key),
                            {"tenant_id": who.tenant_id, "key": key, "fingerprint": print_, "created_at": now}).first()
        row = None if claimed else c.execute(select(ik).where(match)).first()
    if row is not None:
        if row.fingerprint != print_:
            raise ApiProblem(422, "idempotency_key_reused", "this Idempotency-Key was used for a different request: "
                             "use a new key for a new request")
        if row.status_code is None:
            raise ApiProblem(409, "idempotency_key_in_use", "the first request with this Idempotency-Key is still "
                             "being performed; retry shortly", headers={"Retry-After": "1"})
        return JSONResponse(row.response, status_code=row.status_code, headers={"Idempotent-Replayed": "true"})
    try:
        status, body = perform()
    except BaseException:
        with rt.store.transaction() as c:
            c.execute(delete(ik).where(match))
        raise
    with rt.store.transaction() as c:
        c.execute(update(ik).where(match).values(status_code=status, response=body))
    return JSONResponse(body, status_code=status)
