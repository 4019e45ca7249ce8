"""Evaluation: BEIR-layout data sets, standard metrics, and side-by-side systems.

Metrics follow the usual definitions (trec_eval conventions where they differ):

* nDCG@k with linear gain `rel`, as BEIR / pytrec_eval compute it.
* Recall@k: relevant (grade > 0) found in the top k / all relevant.
* MRR@k: 1 / rank of the first relevant hit within k.
* violation rate: share of queries whose best violating document ranks above the best
  relevant one (a violator ranked while no relevant is ranked counts as a violation).
* assoc@k: share of the top k that are violating documents.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .documents import Document, read_corpus
from .errors import CorpusError

__all__ = [
    "BeirDataset",
    "EvalQuery",
    "QueryScores",
    "load_beir",
    "mrr_at_k",
    "ndcg_at_k",
    "recall_at_k",
    "score_ranking",
    "violation",
]


@dataclass
class EvalQuery:
    id: str
    text: str
    qrels: dict[str, int]
    violating: set[str] = field(default_factory=set)
    category: str | None = None


@dataclass
class BeirDataset:
    name: str
    documents: list[Document]
    queries: list[EvalQuery]


def load_beir(path: str | Path, *, split: str = "test") -> BeirDataset:
    """Read `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv` from a BEIR folder.

    Violating documents come from `metadata.violating` of a query, and from grade-0 qrels.
    Only queries with at least one qrel in the split are kept.
    """
    root = Path(path)
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.exists():
        raise CorpusError(f"no qrels for split {split!r}; pass --split", path=qrels_path)
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            cols = line.rstrip("\n").split("\t")
            if lineno == 1 and cols[0] == "query-id":
                continue
            if len(cols) < 3:
                raise CorpusError("expected query-id<TAB>corpus-id<TAB>score", path=qrels_path,
                                  line=lineno)
            try:
                qrels.setdefault(cols[0], {})[cols[1]] = int(float(cols[2]))
            except ValueError:
                raise CorpusError(f"score {cols[2]!r} is not a number", path=qrels_path,
                                  line=lineno) from None
    queries: list[EvalQuery] = []
    qpath = root / "queries.jsonl"
    with qpath.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"not valid JSON ({exc.msg})", path=qpath, line=lineno) from None
            qid = str(rec.get("_id"))
            if qid not in qrels:
                continue
            md: dict[str, Any] = rec.get("metadata") or {}
            violating = {str(d) for d in md.get("violating", [])}
            violating |= {d for d, g in qrels[qid].items() if g <= 0}
            queries.append(
                EvalQuery(
                    id=qid, text=str(rec.get("text", "")), qrels=qrels[qid],
                    violating=violating, category=md.get("category"),
                )
            )
    return BeirDataset(name=root.name, documents=list(read_corpus(root / "corpus.jsonl")),
                       queries=queries)


def ndcg_at_k(ranking: Sequence[str], qrels: dict[str, int], k: int = 10) -> float:
    dcg = sum(
        qrels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]) if qrels.get(d, 0) > 0
    )
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: Sequence[str], qrels: dict[str, int], k: int) -> float:
    rel = {d for d, g in qrels.items() if g > 0}
    return len(rel & set(ranking[:k])) / len(rel) if rel else 0.0


def mrr_at_k(ranking: Sequence[str], qrels: dict[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranking[:k]):
        if qrels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def violation(ranking: Sequence[str], qrels: dict[str, int], violating: set[str]) -> bool | None:
    """True if a violating doc outranks every relevant one; None if nothing to judge."""
    if not violating:
        return None
    pos = {d: i for i, d in enumerate(ranking)}
    v = min((pos[d] for d in violating if d in pos), default=None)
    r = min((pos[d] for d, g in qrels.items() if g > 0 and d in pos), default=None)
    if v is None:
        return False
    return r is None or v < r


@dataclass
class QueryScores:
    ndcg10: float
    recall10: float
    recall100: float
    mrr10: float
    violated: bool | None
    assoc10: float | None


def score_ranking(ranking: Sequence[str], q: EvalQuery) -> QueryScores:
    return QueryScores(
        ndcg10=ndcg_at_k(ranking, q.qrels, 10),
        recall10=recall_at_k(ranking, q.qrels, 10),
        recall100=recall_at_k(ranking, q.qrels, 100),
        mrr10=mrr_at_k(ranking, q.qrels, 10),
        violated=violation(ranking, q.qrels, q.violating),
        assoc10=(sum(d in q.violating for d in ranking[:10]) / 10) if q.violating else None,
    )


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def summarize(scores: Sequence[QueryScores]) -> dict[str, float]:
    vio = [s.violated for s in scores if s.violated is not None]
    assoc = [s.assoc10 for s in scores if s.assoc10 is not None]
    return {
        "nDCG@10": mean([s.ndcg10 for s in scores]),
        "R@10": mean([s.recall10 for s in scores]),
        "R@100": mean([s.recall100 for s in scores]),
        "MRR@10": mean([s.mrr10 for s in scores]),
        "violation": mean([float(v) for v in vio]) if vio else float("nan"),
        "assoc@10": mean(assoc) if assoc else float("nan"),
    }


System = Callable[[EvalQuery], list[str]]
