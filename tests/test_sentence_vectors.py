"""Sentence vectors stored with an index: what the agent's verification reads instead of
embedding a window of sentences per search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rolecall import Agent, Document, Index, KnowledgeGraph, Retriever
from rolecall.cli import main
from rolecall.errors import IndexCorruptError
from rolecall.passages import passages

from .conftest import DOCS

EXTRA = Document(id="h", title="Allerfree", text="Allerfree clears hay fever in an hour. "
                 "Some people feel drowsy after the first dose. Take it with water.")


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory, tiny_kg: KnowledgeGraph) -> Index:
    path = tmp_path_factory.mktemp("sv") / "idx"
    return Index.build(path, DOCS, kg=tiny_kg, progress=False, sentence_vectors=True)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.sum(a * b, axis=1) / (
        np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return out


def test_each_document_stores_the_vectors_of_its_passages(stored: Index) -> None:
    assert stored.manifest.sentence_vectors
    for i, doc in enumerate(DOCS):
        cut = passages(doc.text)
        got = stored.passage_vectors(i, len(cut))
        assert got is not None and got.shape == (len(cut), stored.embedder.dim)
        assert _cos(got, stored.embedder.encode(cut)).min() > 0.999  # float16 rounding only
        # A count other than the document's passages is not these vectors.
        assert stored.passage_vectors(i, len(cut) + 1) is None


def test_an_index_built_without_them_has_none(tiny: Retriever) -> None:
    index = tiny.index
    assert isinstance(index, Index)
    assert not index.manifest.sentence_vectors
    assert index.passage_vectors(0, len(passages(DOCS[0].text))) is None


def test_the_agent_reads_them_and_finds_the_same_passages(
    stored: Index, tiny: Retriever
) -> None:
    query = "allergy medicine, excluding drowsiness"
    fast = Agent(Retriever(stored)).search(query, k=5)
    slow = Agent(tiny).search(query, k=5)
    verify = [s for s in fast.plan.steps if s.kind == "verify"]
    assert verify and "sentence vectors read from the index" in verify[0].detail
    slow_verify = [s for s in slow.plan.steps if s.kind == "verify"]
    assert "embedded now" in slow_verify[0].detail and "--sentence-vectors" in slow_verify[0].detail

    def checks(result: object) -> list[tuple[str, str, bool, float]]:
        return [(h.id, c.evidence.split("”")[0], c.satisfied, c.strength)
                for h in result.hits  # type: ignore[attr-defined]
                for c in h.explanation.checks if c.constraint.startswith("verify:")]

    a, b = checks(fast), checks(slow)
    assert a, "the verification reported no passage"
    assert [x[:3] for x in a] == [x[:3] for x in b]
    assert all(abs(x[3] - y[3]) < 0.01 for x, y in zip(a, b, strict=True))


def test_add_keeps_them_for_old_and_new_documents(stored: Index, tmp_path: Path,
                                                  tiny_kg: KnowledgeGraph) -> None:
    index = Index.build(tmp_path / "idx", DOCS[:3], kg=tiny_kg, progress=False,
                        sentence_vectors=True)
    grown = index.add([*DOCS[3:], EXTRA], progress=False)
    assert grown.manifest.sentence_vectors
    for i, doc in enumerate([*DOCS, EXTRA]):
        cut = passages(doc.text)
        got = grown.passage_vectors(i, len(cut))
        assert got is not None
        assert _cos(got, grown.embedder.encode(cut)).min() > 0.999


def test_rows_that_do_not_match_the_documents_are_corruption(
    tmp_path: Path, tiny_kg: KnowledgeGraph
) -> None:
    index = Index.build(tmp_path / "idx", DOCS, kg=tiny_kg, progress=False,
                        sentence_vectors=True)
    gen = index.directory
    index.close()
    offsets = np.load(gen / "sentence_offsets.npy")
    np.save(gen / "sentence_offsets.npy", offsets[:-1])
    with pytest.raises(IndexCorruptError, match="sentence vectors"):
        Index.open(tmp_path / "idx")


def test_cli_builds_them_and_refuses_them_on_an_add(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"_id": d.id, "title": d.title, "text": d.text})
                                for d in DOCS), "utf-8")
    out = tmp_path / "idx"
    assert main(["index", str(corpus), "--out", str(out), "--sentence-vectors",
                 "--no-progress"]) == 0
    assert "sentence vectors" in capsys.readouterr().out
    assert Index.open(out).manifest.sentence_vectors
    assert main(["index", str(corpus), "--out", str(out), "--add", "--sentence-vectors",
                 "--no-progress"]) == 2
    assert "--sentence-vectors" in capsys.readouterr().err
