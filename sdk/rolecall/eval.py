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

from ._jsonl import read_jsonl
from .documents import Document, read_corpus
from .errors import CorpusError

__all__ = [
    "ABLATIONS",
    "SYSTEMS",
    "BeirDataset",
    "SystemReport",
    "SystemRun",
    "EvalQuery",
    "QueryScores",
    "load_beir",
    "load_rewrites",
    "record_rewrite",
    "recorded_prompts",
    "report",
    "run_systems",
    "to_markdown",
    "write_trec_run",
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
    for lineno, rec in read_jsonl(qpath, CorpusError):
        if not isinstance(rec, dict):
            raise CorpusError("expected a JSON object", path=qpath, line=lineno)
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


# -- systems side by side ------------------------------------------------------------------------

#: name -> what it is; every system runs over the same index in the same process.
SYSTEMS: dict[str, str] = {
    "bm25": "BM25 on the raw query (lexical leg only)",
    "dense": "cosine on the raw query (dense leg only; the index's model, MiniLM by default)",
    "hybrid": "BM25 + dense, weighted RRF, raw query",
    "rules": "rolecall with the rule rewriter (soft exclusions)",
    "rules-hard": "rolecall, rule rewriter, hard exclusions",
    "llm": "rolecall with the LLM rewriter (rewrites from --rewrites, else the model)",
    "agent": "the agent loop, rule rewriter, cheap verification only (no LLM)",
    "agent-llm": "the agent loop, LLM rewrite (as for llm) + one LLM judge call "
                 "(--judgements, else the model)",
    "agent-judge2": "the agent loop, rule rewrite + the judge asked in two orders, "
                    "demoting on agreement (2 calls)",
    "rerank": "rules, then a cross-encoder re-orders the top 20 fused (rerank extra)",
}
#: ablations: which part removes the association errors.
ABLATIONS: dict[str, str] = {
    "rules-no-penalty": "rules rewrite, but no exclusion penalty (query cleaning only)",
    "rules-hard-about": "rules rewrite, hard exclusions at threshold 1.0: suppress only what "
                        "the title or the graph says a document is about",
    "rules-no-graph": "rules rewrite, knowledge-graph constraints soft-penalised, not filtered",
    "rerank-10": "rerank, the top 10 only",
    "rerank-50": "rerank, the top 50",
    "hybrid-rerank": "hybrid on the raw query, the top 20 re-ordered by the cross-encoder",
}


@dataclass
class SystemRun:
    """One system's rankings over a data set."""

    name: str
    rankings: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    latency_ms: list[float] = field(default_factory=list)
    llm_calls: int = 0
    degraded: int = 0
    note: str = ""


def load_rewrites(path: str | Path) -> dict[str, Any]:
    """Query id -> RoleQuery, from a JSONL file written by `record_rewrite`."""
    from .query import RoleQuery

    out: dict[str, Any] = {}
    p = Path(path)
    if not p.exists():
        return out
    for lineno, rec in read_jsonl(p, CorpusError):
        try:
            out[str(rec["query_id"])] = RoleQuery.model_validate(rec["rolequery"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CorpusError(f"bad rewrite record ({exc})", path=p, line=lineno) from None
    return out


def record_rewrite(
    path: str | Path, query_id: str, model: str, rq: Any, *, prompt: str | None = None
) -> None:
    """Append one recorded rewrite; `prompt` is the prompt's hash (`prompt_hash`), so a
    replay can tell rewrites made with another prompt."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"query_id": query_id, "model": model,
                              "rolequery": rq.model_dump(mode="json")}
    if prompt is not None:
        record["prompt"] = prompt
    with p.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def recorded_prompts(path: str | Path) -> dict[str, str | None]:
    """Query id -> the hash of the prompt its recorded rewrite was made with (None for a
    record older than prompt hashes)."""
    p = Path(path)
    if not p.exists():
        return {}
    return {str(rec["query_id"]): rec.get("prompt")
            for _, rec in read_jsonl(p, CorpusError) if isinstance(rec, dict)}


#: The settings each plain and rule system searches with (the rest have their own path).
_PLAIN_SETTINGS: dict[str, dict[str, Any]] = {
    "bm25": {"legs": ("lexical",)},
    "dense": {"legs": ("dense",)},
    "hybrid": {},
}
_RULE_SETTINGS: dict[str, dict[str, Any]] = {
    "rules": {},
    "rules-hard": {"exclusion_mode": "hard"},
    "rules-no-penalty": {"exclusion_penalty": 0.0},
    "rules-hard-about": {"exclusion_mode": "hard", "exclusion_threshold": 1.0},
    "rules-no-graph": {"constraint_mode": "soft"},
}
#: The reranked systems: the system whose search is reranked, and how many candidates.
_RERANKED: dict[str, tuple[str, int]] = {
    "rerank": ("rules", 20),
    "rerank-10": ("rules", 10),
    "rerank-50": ("rules", 50),
    "hybrid-rerank": ("hybrid", 20),
}


@dataclass
class _Harness:
    """What every system's searches share: the retriever, recorded rewrites, the model."""

    retriever: Any
    rewrites: dict[str, Any]
    llm: Any
    judge: Any
    record_to: str | Path | None
    k: int
    cues: Any


def run_systems(
    retriever: Any,
    dataset: BeirDataset,
    systems: Sequence[str],
    *,
    k: int = 100,
    rewrites: dict[str, Any] | None = None,
    llm: Any = None,
    judge: Any = None,
    record_to: str | Path | None = None,
    progress: bool = True,
) -> list[SystemRun]:
    """Run every named system over every query; see SYSTEMS and ABLATIONS."""
    import time

    from ._progress import progress_bar
    from .rewrite.rules import RuleRewriter

    h = _Harness(retriever, dict(rewrites or {}), llm, judge, record_to, k, RuleRewriter())
    runs: list[SystemRun] = []
    for name in systems:
        if name not in SYSTEMS and name not in ABLATIONS:
            raise ValueError(f"unknown system {name!r}; choose from {sorted(SYSTEMS | ABLATIONS)}")
        run = SystemRun(name, note=_skip_reason(name, dataset, h))
        runs.append(run)
        if run.note:
            continue
        agent = _agent_for(name, h)
        base, used = _reranked(name, h)
        with progress_bar(name, total=len(dataset.queries), enabled=progress) as advance:
            for q in dataset.queries:
                t = time.perf_counter()
                res = _search_one(base, q, used, agent, run)
                run.latency_ms.append((time.perf_counter() - t) * 1000)
                run.degraded += bool(res.degraded)
                run.rankings[q.id] = [(hit.id, hit.score) for hit in res.hits]
                advance(1)
    return runs


def _reranked(name: str, h: _Harness) -> tuple[str, _Harness]:
    """The system a reranked one searches as, and a harness whose retriever reranks (the
    same index, rewriter and stages, with the cross-encoder after fusion); others as given."""
    if name not in _RERANKED:
        return name, h
    import copy
    from dataclasses import replace

    from .pipeline.stages import compose
    from .rerank import Reranker

    base, top_n = _RERANKED[name]
    retriever = copy.copy(h.retriever)
    retriever.stages = compose([Reranker(top_n=top_n).stage], base=h.retriever.stages)
    return base, replace(h, retriever=retriever)


def _skip_reason(name: str, dataset: BeirDataset, h: _Harness) -> str:
    missing = sum(q.id not in h.rewrites for q in dataset.queries)
    if name in ("llm", "agent-llm") and h.llm is None and missing:
        return (f"skipped: {missing} queries have no recorded rewrite and no model is "
                "configured (set ROLECALL_MODEL or start `make llm`)")
    if name in ("agent-llm", "agent-judge2") and h.judge is None:
        return "skipped: no judge — give --judgements, set ROLECALL_MODEL or start `make llm`"
    if name in _RERANKED:
        from .embedding.packaged import require
        from .errors import MissingDependencyError

        try:
            require("rerank")
        except MissingDependencyError as exc:
            return f"skipped: {exc}"
    return ""


def _agent_for(name: str, h: _Harness) -> Any:
    if not name.startswith("agent"):
        return None
    import copy

    from .agent.loop import Agent

    used = None
    if name == "agent-llm":
        used = h.judge
    elif name == "agent-judge2":
        used = copy.copy(h.judge)  # same client and cache, asked in both orders
        used.orders = 2
    return Agent(h.retriever, judge=used)


def _search_one(name: str, q: EvalQuery, h: _Harness, agent: Any, run: SystemRun) -> Any:
    from .query import RoleQuery

    if name in _PLAIN_SETTINGS:
        return h.retriever.search(RoleQuery.plain(q.text), k=h.k, **_PLAIN_SETTINGS[name])
    if name in ("llm", "agent-llm"):
        rq = _llm_rewrite(q, h, run)
        if agent is None:
            return h.retriever.search(rq, k=h.k)
        res = agent.search(rq, k=h.k)
        run.llm_calls += sum(max(1, s.llm_calls) for s in res.plan.steps if s.kind == "judge")
        return res
    if agent is not None:
        res = agent.search(q.text, k=h.k)
        run.llm_calls += sum(
            max(agent.judge.orders if agent.judge else 1, s.llm_calls)
            for s in res.plan.steps if s.kind == "judge"
        )
        return res
    return h.retriever.search(h.retriever.rewrite(q.text), k=h.k, **_RULE_SETTINGS[name])


def _llm_rewrite(q: EvalQuery, h: _Harness, run: SystemRun) -> Any:
    """The recorded rewrite of the query, else the model's (recorded when asked).  Calls
    are counted as the system makes them, replayed or not: one rewrite (plus repairs when
    live)."""
    from .rewrite.merge import merge_explicit

    rq = h.rewrites.get(q.id)
    if rq is not None:
        run.llm_calls += 1
        # The rewriter's post-processing is re-applied to recorded readings, as the rewrite
        # cache does on hits (it is idempotent).
        return merge_explicit(rq, q.text, [], h.retriever.catalog, h.cues)
    calls = h.llm.calls
    rq = h.llm.rewrite(q.text, catalog=h.retriever.catalog)
    run.llm_calls += h.llm.calls - calls
    if h.record_to is not None and not rq.provenance.degraded:
        from .rewrite.prompts import prompt_hash

        record_rewrite(h.record_to, q.id, h.llm.model, rq,
                       prompt=prompt_hash(h.retriever.catalog))
    return rq


@dataclass
class SystemReport:
    name: str
    metrics: dict[str, float]
    by_category: dict[str, dict[str, float]]
    p50_ms: float
    p99_ms: float
    llm_calls_per_query: float
    note: str = ""


def report(runs: Sequence[SystemRun], dataset: BeirDataset) -> list[SystemReport]:
    import statistics

    out = []
    for run in runs:
        if not run.rankings:
            out.append(SystemReport(run.name, {}, {}, float("nan"), float("nan"), 0.0, run.note))
            continue
        scores = {q.id: score_ranking([d for d, _ in run.rankings[q.id]], q)
                  for q in dataset.queries}
        cats: dict[str, list[QueryScores]] = {}
        for q in dataset.queries:
            if q.category:
                cats.setdefault(q.category, []).append(scores[q.id])
        lat = sorted(run.latency_ms)
        out.append(SystemReport(
            name=run.name,
            metrics=summarize(list(scores.values())),
            by_category={c: summarize(v) for c, v in sorted(cats.items())},
            p50_ms=statistics.median(lat),
            p99_ms=lat[min(len(lat) - 1, int(0.99 * (len(lat) - 1)))],
            llm_calls_per_query=run.llm_calls / max(1, len(dataset.queries)),
            note=run.note,
        ))
    return out


METRIC_NAMES = ("nDCG@10", "R@10", "R@100", "MRR@10", "violation", "assoc@10")


def to_markdown(reports: Sequence[SystemReport], title: str) -> str:
    head = "| system | " + " | ".join(METRIC_NAMES) + " | p50 ms | p99 ms | LLM calls/q |"
    lines = [f"### {title}", "", head, "|" + "---|" * (len(METRIC_NAMES) + 4)]
    for r in reports:
        if not r.metrics:
            lines.append(f"| {r.name} | {r.note} |")
            continue
        cells = [_fmt(r.metrics[m]) for m in METRIC_NAMES]
        lines.append(f"| {r.name} | " + " | ".join(cells)
                     + f" | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.llm_calls_per_query:.2f} |")
    cats = sorted({c for r in reports for c in r.by_category})
    if cats:
        lines += ["", "violation / nDCG@10 by category:", "",
                  "| system | " + " | ".join(cats) + " |", "|" + "---|" * (len(cats) + 1)]
        for r in reports:
            if r.by_category:
                lines.append(f"| {r.name} | " + " | ".join(
                    f"{_fmt(r.by_category[c]['violation'])} / {_fmt(r.by_category[c]['nDCG@10'])}"
                    for c in cats) + " |")
    return "\n".join(lines) + "\n"


def _fmt(v: float) -> str:
    return "—" if v != v else f"{v:.3f}"  # NaN: the metric does not apply


def write_trec_run(runs: Sequence[SystemRun], path: str | Path) -> None:
    """Every system's ranking in TREC run format: `qid Q0 docid rank score system`."""
    with Path(path).open("w", encoding="utf-8") as fh:
        for run in runs:
            for qid, ranking in run.rankings.items():
                for rank, (doc, score) in enumerate(ranking, start=1):
                    fh.write(f"{qid} Q0 {doc} {rank} {score:.6f} {run.name}\n")
