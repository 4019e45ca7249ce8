"""bge-small as the dense model (#17): [CLS]-pooled, normalised vectors from the packaged
ONNX export; the query instruction on queries only; the manifest records the model, opening
uses it, and a mismatch is a typed error that says what to do."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rolecall import BgeSmallEmbedder, Exclusion, Index, Retriever, RoleQuery
from rolecall.cli import main
from rolecall.embedding.bge import BGE_QUERY_PREFIX, BGE_SMALL_MODEL
from rolecall.embedding.names import embedder_named
from rolecall.errors import ConfigurationError, EmbedderMismatchError, MissingDependencyError
from rolecall.pipeline.encode import encode, encode_texts
from rolecall.pipeline.evidence import EvidenceWeights

from .conftest import DOCS


@pytest.fixture(scope="module")
def bge() -> BgeSmallEmbedder:
    return BgeSmallEmbedder()


@pytest.fixture(scope="module")
def bge_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bge") / "idx"
    Index.build(path, DOCS, embedder="bge-small", progress=False).close()
    return path


def test_vectors_are_normalised_and_relevant_is_closer(bge: BgeSmallEmbedder) -> None:
    docs = bge.encode(["Painrelief is taken for pain, including tension headaches.",
                       "Moses led the Israelites out of Egypt."])
    query = bge.encode_queries(["what relieves a headache"])
    assert docs.shape == (2, 384) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    sims = (query @ docs.T)[0]
    assert sims[0] > sims[1] + 0.1


def test_the_prefix_is_for_queries_only(bge: BgeSmallEmbedder) -> None:
    text = "what relieves a headache"
    as_query = bge.encode_queries([text])
    assert np.allclose(as_query, bge.encode([BGE_QUERY_PREFIX + text]), atol=1e-6)
    assert not np.allclose(as_query, bge.encode([text]), atol=1e-3)


class Spy:
    """bge with a record of what went through which door."""

    def __init__(self, inner: BgeSmallEmbedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.documents: list[str] = []
        self.queries: list[str] = []

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        self.documents += texts
        return self.inner.encode(texts, batch_size=batch_size)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.queries += texts
        return self.inner.encode_queries(texts)


def test_documents_are_indexed_plain_and_a_search_embeds_queries(
    bge: BgeSmallEmbedder, tmp_path: Path
) -> None:
    spy = Spy(bge)
    index = Index.build(tmp_path / "idx", DOCS[:3], embedder=spy, progress=False)
    assert spy.documents == [d.full_text for d in DOCS[:3]] and not spy.queries
    rq = RoleQuery(text="headaches, not Vasodil", description="headaches",
                   exclusions=[Exclusion(text="Vasodil")])
    weights = EvidenceWeights()
    vectors = encode(index, rq, weights)
    texts, _, _ = encode_texts(rq, weights)
    assert spy.queries == texts and texts[0] == "headaches" and texts[-1] == rq.text
    assert len(spy.documents) == 3 and vectors.original is not None
    index.close()


def test_the_manifest_records_the_model_and_open_uses_it(bge_index: Path) -> None:
    with Index.open(bge_index) as index:
        assert index.manifest.embedding_model == BGE_SMALL_MODEL and index.manifest.dim == 384
        assert isinstance(index.embedder, BgeSmallEmbedder)
        assert index.built_with(None, (), BGE_SMALL_MODEL)
        assert not index.built_with(None, (), "all-MiniLM-L6-v2")
    res = Retriever.open(bge_index).search(RoleQuery.plain("the brother of Moses"), k=3,
                                           legs=("dense",))
    assert res.hits[0].id == "f" and not res.degraded


def test_a_mismatch_is_a_typed_error_that_says_the_fix(bge_index: Path,
                                                        tiny_index_path: Path) -> None:
    with pytest.raises(EmbedderMismatchError, match="embedder='bge-small'") as info:
        Index.open(bge_index, embedder="minilm")
    assert info.value.index_model == BGE_SMALL_MODEL
    assert "--embedder" in str(info.value)
    with pytest.raises(EmbedderMismatchError, match="embedder='minilm'"):
        Retriever.open(tiny_index_path, embedder=BgeSmallEmbedder())
    assert isinstance(info.value, ConfigurationError)  # what callers caught before


def test_names_resolve_and_an_unknown_one_is_refused() -> None:
    assert embedder_named("bge-small") is embedder_named(BGE_SMALL_MODEL)
    with pytest.raises(ConfigurationError, match="bge-small"):
        embedder_named("bge-large")


def test_a_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"rolecall\[bge\]"):
        BgeSmallEmbedder()


def test_the_cli_indexes_with_bge_and_eval_keeps_its_own_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from .test_eval import make_beir

    monkeypatch.chdir(tmp_path)
    data = make_beir(tmp_path / "d")
    assert main(["index", str(data / "corpus.jsonl"), "--out", "idx", "--embedder",
                 "bge-small", "--no-progress"]) == 0
    assert f"model {BGE_SMALL_MODEL}" in capsys.readouterr().out
    args: list[Any] = ["eval", str(data), "--systems", "dense", "--no-progress", "--json"]
    assert main([*args, "--embedder", "bge-small"]) == 0
    capsys.readouterr()
    manifest = _manifest(Path(".rolecall/eval/d-bge-small"))
    assert manifest["embedding_model"] == BGE_SMALL_MODEL
    assert not Path(".rolecall/eval/d").exists()  # MiniLM's cache is another folder
    # An explicit --index built with another model is rebuilt, never searched with this one.
    assert main([*args, "--index", "idx"]) == 0
    assert "embedding model" in capsys.readouterr().err
    assert _manifest(Path("idx"))["embedding_model"] == "all-MiniLM-L6-v2"


def _manifest(root: Path) -> dict[str, Any]:
    current = (root / "CURRENT").read_text().strip()
    data: dict[str, Any] = json.loads((root / current / "manifest.json").read_text())
    return data
