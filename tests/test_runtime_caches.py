"""The Runtime's per-process caches are bounded (Settings.tenant_cache, least recently used evicted):
a small limit changes memory, never answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deskhand.index.tenants import embed_knowledge
from deskhand.knowledge import Document, add_documents
from deskhand.runtime import Lru, Runtime
from deskhand.settings import Settings
from deskhand.store import Store

TENANTS = {
    "acme": Document("kb/reset", "Reset your password", "Open Settings > Security and click Reset password."),
    "globex": Document("kb/refund", "Refund policy", "Refunds go to the original card within 5 business days."),
    "initech": Document("kb/export", "Export your data", "Go to Reports and click Export to download a CSV."),
}
QUERIES = ["how do I reset my password", "can I get a refund", "export a csv of my reports"]


def _runtime(tmp_path: Path, limit: int) -> Runtime:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'deskhand.db'}", home=tmp_path, tenant_cache=limit)
    return Runtime(Store.open(settings), settings)


@pytest.mark.parametrize(
    ("limit", "reads", "kept", "evicted"),
    [
        pytest.param(2, ["a", "b", "a", "c"], ["a", "c"], ["b"], id="a-read-refreshes-an-entry"),
        pytest.param(2, ["a", "b", "c"], ["b", "c"], ["a"], id="the-least-recent-goes-first"),
        pytest.param(3, ["a", "b", "c"], ["a", "b", "c"], [], id="within-the-limit-nothing-goes"),
    ],
)
def test_lru_keeps_the_most_recently_used_entries(limit: int, reads: list[str], kept: list[str],
                                                  evicted: list[str]) -> None:
    gone: list[Any] = []
    lru = Lru(limit, on_evict=gone.append)
    for key in reads:
        if lru.get(key) is None:
            lru.put(key, key.upper())
    assert sorted(lru) == kept and gone == [k.upper() for k in evicted] and lru.evicted == len(evicted)


def test_a_small_tenant_cache_evicts_retrievers_and_answers_stay_the_same(tmp_path: Path) -> None:
    big = _runtime(tmp_path, 256)
    for tenant, doc in TENANTS.items():
        add_documents(big.store, tenant, [doc])
        embed_knowledge(big.settings, big.store, tenant)
    rounds = [(t, q) for _ in range(2) for t in TENANTS for q in QUERIES]
    expected = [big.retrieve(t, q) for t, q in rounds]
    small = _runtime(tmp_path, 2)
    try:
        got = []
        for tenant, query in rounds:
            got.append(small.retrieve(tenant, query))
            assert len(small._retrievers) <= 2
        assert got == expected
        assert small._retrievers.evicted >= 3 and any(expected)
    finally:
        small.close()
        big.close()


class _Connector:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_an_evicted_connector_is_closed_and_identities_are_bounded_too(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, 2)
    try:
        conns = {name: _Connector() for name in ("a", "b", "c")}
        for name, conn in conns.items():
            rt._connectors.put(name, (1, conn))
            rt._identities.put(name, object())
        assert sorted(rt._connectors) == ["b", "c"] and sorted(rt._identities) == ["b", "c"]
        assert [n for n, c in conns.items() if c.closed] == ["a"]
    finally:
        rt.close()
    assert all(c.closed for c in conns.values())
