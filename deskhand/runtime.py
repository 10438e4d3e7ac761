"""The process-wide context every surface shares: store, queue, connectors, models, indexes.

Everything here is built lazily and cached (thread-safe): a gateway that only records webhooks never
loads a model; a worker loads the triage model once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deskhand.model import Role, Source, Triage
from deskhand.providers.oauth_tokens import TokenStore, refresh_lock
from deskhand.queue import SqlQueue
from deskhand.queue.breaker import Breakers
from deskhand.settings import Settings
from deskhand.store import AccountRecord, Store

if TYPE_CHECKING:
    from deskhand.ai.embed import Embedder
    from deskhand.providers.connector import Connector


class Lru(OrderedDict[str, Any]):
    """A dict of at most ``limit`` entries: a read refreshes one, an insert past the limit evicts the
    least recently used (``on_evict`` is given it: a connector is closed). Callers hold their lock."""

    def __init__(self, limit: int, on_evict: Callable[[Any], None] | None = None) -> None:
        super().__init__()
        self.limit = limit
        self.on_evict = on_evict
        self.evicted = 0

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key not in self:
            return default
        self.move_to_end(key)
        return self[key]

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            _, old = self.popitem(last=False)
            self.evicted += 1
            if self.on_evict is not None:
                self.on_evict(old)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is who in one helpdesk account: our own API user and the staff (agents/admins)."""

    own_id: str | None
    staff_ids: frozenset[str]
    teams: dict[str, str]  # lower-cased name -> id, and id -> id


class Runtime:
    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings.from_env()
        self.queue = SqlQueue(store.engine)
        # per-account circuit breakers on the queue's clock (deskhand.queue.breaker)
        self.breakers = Breakers(store.engine, clock=lambda: self.queue.clock())
        # OAuth accounts' sealed token sets, refreshed one process at a time (deskhand.providers.oauth)
        # (with DESKHAND_REDIS_URL the refresh lock is Redis's: deskhand.providers.oauth_lock)
        self.oauth_tokens = TokenStore(store.engine, store.box, clock=lambda: self.queue.clock(),
                                       lock=refresh_lock(self.settings.redis_url))
        self.sleep: Callable[[float], None] = time.sleep  # a provider client's wait between its retries
        self._lock = threading.RLock()
        limit = self.settings.tenant_cache
        self._connectors = Lru(limit, on_evict=lambda entry: entry[1].close())  # name -> (version, Connector)
        self._identities = Lru(limit)  # account name -> Identity
        self._retrievers = Lru(limit)  # tenant -> (knowledge version, retriever): not with pgvector
        self.embedder: Embedder | None = None  # None: the process-wide default (deskhand.ai.embed)
        self._triage: Any = None
        self._llms: tuple[Any, Any] | None = None  # (classify, generate): see llms()

    @classmethod
    def open(cls, settings: Settings | None = None) -> Runtime:
        s = settings or Settings.from_env()
        return cls(Store.open(s), s)

    # -- helpdesks ------------------------------------------------------------------------
    def connector(self, account: AccountRecord) -> Connector:
        from deskhand.providers import open_connector

        version = hash(repr((sorted(account.config.items()), sorted(account.overrides.items()))))
        with self._lock:
            cached = self._connectors.get(account.name)
            if cached and cached[0] == version:
                return cached[1]
            if cached:
                cached[1].close()
            conn = open_connector(account.provider, account.name, account.config, limiter=self.limiter(account),
                                  sleep=lambda s: self.sleep(s), overrides=account.overrides,
                                  oauth_tokens=self.oauth_tokens)
            self._connectors.put(account.name, (version, conn))
            self._identities.pop(account.name, None)
            return conn

    def limiter(self, account: AccountRecord) -> Any:
        """The account's rate budget (deskhand.limits) for its connector: in Redis when DESKHAND_REDIS_URL
        is set (falling back to conservative local budgets while it is lost), else in the shared store."""
        from deskhand.limits import budget_limiter
        from deskhand.providers import load_definition

        spec = load_definition(account.provider).limits
        return budget_limiter(self.store.engine, account.provider, account.name, spec,
                              redis_url=self.settings.redis_url, values=account.config)

    def identity(self, account: AccountRecord) -> Identity:
        with self._lock:
            known: Identity | None = self._identities.get(account.name)
            if known is not None:
                return known
        conn = self.connector(account)
        me = conn.current_user()
        staff = {u.id for u in conn.list_users() if u.role in (Role.AGENT, Role.ADMIN)} | {me.id}
        teams: dict[str, str] = {}
        for team in conn.list_teams():
            teams[team.name.lower()] = team.id
            teams[team.id] = team.id
        ident = Identity(own_id=me.id, staff_ids=frozenset(staff), teams=teams)
        with self._lock:
            self._identities.put(account.name, ident)
        return ident

    # -- models ---------------------------------------------------------------------------
    def llms(self) -> tuple[Any, Any]:
        """(classify, generate) LLMs from DESKHAND_LLM[_CLASSIFY|_GENERATE] (None: offline), built once."""
        with self._lock:
            if self._llms is None:
                import os

                from deskhand.ai.llm import llms_from_env

                env = dict(os.environ)
                if self.settings.llm and not env.get("DESKHAND_LLM"):
                    env["DESKHAND_LLM"] = self.settings.llm
                self._llms = llms_from_env(env)
            return self._llms

    def triage(self, text: str) -> Triage:
        if self._triage is None:
            from deskhand.ai.triage import seed_model

            # seed_model() has its own lock: fitting it never holds up the runtime's other users
            self._triage = seed_model()
        result: Triage = self._triage.predict(text)
        return result

    def warm_up(self) -> float:
        """Load the embedder and fit the seed triage model now (serve/worker start), so the first
        ticket does not wait for it; returns the seconds it took."""
        import logging
        import time

        started = time.perf_counter()
        self.triage("warm up")
        seconds = round(time.perf_counter() - started, 2)
        logging.getLogger("deskhand.runtime").info("triage model ready", extra={"seconds": seconds})
        return seconds

    def retrieve(self, tenant_id: str, query: str, k: int = 5) -> list[Source]:
        if self.store.engine.dialect.name == "postgresql" and self._pg_index():
            return self._retrieve_pg(tenant_id, query, k)
        # one row per query; the version is read before the hashes and those before any chunk: a change
        # made meanwhile moves the version again and is applied at the next query
        version = self.store.kb_version(tenant_id)
        with self._lock:
            cached: KnowledgeIndex | None = self._retrievers.get(tenant_id)
            if cached is not None and cached.version == version:
                pass
            elif cached is None:
                from deskhand.index.tenants import index_path

                hashes = self.store.kb_hashes(tenant_id)
                if hashes:  # the persisted vectors (`kb add` embedded them at ingest): only texts it lacks are embedded
                    cached = KnowledgeIndex(self.store.chunks(tenant_id), index_path(self.settings, tenant_id),
                                            hashes=hashes)
                    cached.version = version
                    self._retrievers.put(tenant_id, cached)
            elif cached.hashes != (hashes := self.store.kb_hashes(tenant_id)):
                # a new, changed or removed article (a solved ticket): those articles' chunks only
                changed = {s for s, h in hashes.items() if cached.hashes.get(s) != h}
                changed |= cached.hashes.keys() - hashes.keys()
                present = sorted(changed & hashes.keys())
                cached.apply(self.store.chunks(tenant_id, sources=present) if present else [], changed, hashes)
                cached.version = version
            else:
                cached.version = version
        if cached is None:
            return []
        return cached.search(query, k=k)

    def _pg_index(self) -> bool:
        from deskhand.ai.embed import default_embedder
        from deskhand.index.pgknowledge import available

        return available(self.store.engine, (self.embedder or default_embedder()).dim)

    def _retrieve_pg(self, tenant_id: str, query: str, k: int) -> list[Source]:
        """PostgreSQL: nothing per tenant in this process; the index is in the database
        (deskhand.index.pgknowledge). Articles the index lacks (knowledge written by a path that did not
        index it) are indexed first, those articles only."""
        from deskhand.ai.embed import default_embedder
        from deskhand.index.pgknowledge import PgKnowledge

        knowledge = PgKnowledge(self.store.engine, tenant_id, self.embedder or default_embedder())
        if not knowledge.in_sync():
            knowledge.sync(self.store)
        return knowledge.search(query, k)

    def close(self) -> None:
        with self._lock:
            for _, conn in self._connectors.values():
                conn.close()
            self._connectors.clear()
        if self.oauth_tokens.lock is not None:
            self.oauth_tokens.lock.close()
        self.store.engine.dispose()


class KnowledgeIndex:
    """A tenant's stored chunks behind the hybrid retriever, answering with full `Source`s. ``apply``
    brings it up to a knowledge change in place (the changed articles' chunks only); ``hashes`` is
    the articles' content hashes it holds."""

    def __init__(
        self, rows: Sequence[dict[str, Any]], path: Path | None = None, vectors: Any = None, *,
        hashes: dict[str, str] | None = None,
    ) -> None:
        from deskhand.ai.embed import default_embedder
        from deskhand.ai.retrieve import MIN_SIMILARITY, Retriever
        from deskhand.index.tenants import commit_vectors, open_vectors

        self.hashes = dict(hashes or {})
        self.version = -1  # the store's knowledge version it answers for (Store.kb_version)
        self.path = path
        self._lock = threading.Lock()  # a search never sees an apply half done
        self._rows: dict[str, dict[str, Any]] = {}
        self._by_source: dict[str, list[str]] = {}
        chunks = self._take(rows)
        embedder = default_embedder()
        # persisted beside the store, keyed by text hash: only texts not embedded before are embedded
        self.vectors = vectors if vectors is not None else open_vectors(path, embedder.dim)
        self._retriever = Retriever(chunks, embedder=embedder, index=self.vectors, min_similarity=MIN_SIMILARITY)
        commit_vectors(self.vectors, path, self._retriever.vector_keys())

    def _take(self, rows: Sequence[dict[str, Any]]) -> list[Any]:
        from deskhand.index.tenants import stored_chunk

        chunks = []
        for r in rows:
            chunk = stored_chunk(r)
            self._rows[chunk.id] = r
            self._by_source.setdefault(chunk.source_id, []).append(chunk.id)
            chunks.append(chunk)
        return chunks

    def apply(self, rows: Sequence[dict[str, Any]], sources: set[str], hashes: dict[str, str]) -> None:
        """Replace the chunks of ``sources`` (articles added, changed or removed) with ``rows``, their
        current chunks; vectors no chunk uses are dropped. A text the vector index lacks takes the vector
        ingest handed over (`deskhand.index.tenants.hand_over`), else is embedded. Only this process's copy
        changes: the persisted file is `kb add`'s to write (at ingest)."""
        from deskhand.ai.retrieve import lacking, vector_texts
        from deskhand.index.tenants import handed_over

        with self._lock:
            for source in sources:
                for chunk_id in self._by_source.pop(source, []):
                    del self._rows[chunk_id]
            chunks = self._take(rows)
            embedder = self._retriever.embedder
            if embedder is not None:  # vectors ingest embedded already (`kb add`): taken, not embedded again
                keys, vectors = handed_over(self.path, set(lacking(self.vectors, vector_texts(chunks, embedder))),
                                            embedder.dim)
                self.vectors.upsert(keys, vectors)
            self._retriever.replace(sources, chunks)
            self.hashes = dict(hashes)

    def __len__(self) -> int:
        return len(self._retriever)

    def search(self, query: str, k: int = 5) -> list[Source]:
        found = []
        with self._lock:
            sources = self._retriever.search(query, k=k)
        for s in sources:
            row = self._rows.get(s.id, {})
            found.append(
                Source(
                    id=s.id, title=s.title, text=s.text, score=s.score, kind=row.get("kind", s.kind), url=row.get("url")
                )
            )
        return found
