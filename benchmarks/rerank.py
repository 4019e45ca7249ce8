"""What the cross-encoder reranker costs and buys: per-search latency and quality for a few
values of N (the candidates it re-orders), beside the same system without it.

    .venv/bin/python benchmarks/rerank.py ../shared/data/negconstraint-dev [--limit 50]
        [--n 10,20,50] [--system rules|hybrid] [--embedder minilm|bge-small] [--threads 2]

The index is `rolecall eval`'s own cache (`.rolecall/eval/<data set>[-<embedder>]`, built on
first use), and every row runs through `rolecall.eval.run_systems` over the same retriever,
so the numbers are those `rolecall eval --systems rules,rerank` would print.  Prints a
markdown table: search p50/p95 in ms (rewrite to hits), the reranker's own share, its
pairs per second, nDCG@10 and the violation rate.  Run it on a quiet machine: the
cross-encoder is compute-bound, and a busy core shows up directly in every column of time.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import numpy as np  # noqa: E402
from rolecall import Reranker, Retriever  # noqa: E402
from rolecall.cli import _eval_index  # noqa: E402
from rolecall.eval import BeirDataset, load_beir, report, run_systems  # noqa: E402
from rolecall.pipeline.stages import compose  # noqa: E402


class Timed:
    """The reranker's cross-encoder, with the time and pairs of every call kept."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name = inner, inner.name
        self.ms: list[float] = []
        self.pairs = 0

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        t = time.perf_counter()
        out: np.ndarray = self.inner.score(query, passages)
        self.ms.append((time.perf_counter() - t) * 1000)
        self.pairs += len(passages)
        return out


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _row(label: str, run: Any, ds: BeirDataset, timed: Timed | None) -> str:
    metrics = report([run], ds)[0].metrics
    lat = run.latency_ms
    model = "—" if timed is None else f"{statistics.median(timed.ms):.0f}"
    rate = "—" if timed is None else f"{timed.pairs / max(sum(timed.ms) / 1000, 1e-9):.1f}"
    return (f"| {label} | {_percentile(lat, 0.5):.0f} | {_percentile(lat, 0.95):.0f} | "
            f"{model} | {rate} | {_fmt(metrics['nDCG@10'])} | {_fmt(metrics['violation'])} |")


def _fmt(v: float) -> str:
    return "—" if v != v else f"{v:.3f}"  # NaN: the data set marks no violating documents


def _reranking(retriever: Retriever, n: int, threads: int | None) -> tuple[Retriever, Timed]:
    """The retriever with a reranker of the top `n` after fusion, its model timed."""
    reranker = Reranker(top_n=n, threads=threads)
    timed = Timed(reranker.encoder)
    reranker.encoder = timed  # type: ignore[assignment]
    used = copy.copy(retriever)
    used.stages = compose([reranker.stage], base=retriever.stages)
    return used, timed


def _measured(retriever: Retriever, ds: BeirDataset, args: argparse.Namespace,
              timed: Timed | None = None) -> Any:
    """The system's run over the data set, after one untimed search: loading the models is
    a process's cost, not a search's."""
    warm = BeirDataset(ds.name, ds.documents, ds.queries[:1])
    run_systems(retriever, warm, [args.system], k=args.k, progress=False)
    if timed is not None:
        timed.ms, timed.pairs = [], 0
    return run_systems(retriever, ds, [args.system], k=args.k, progress=False)[0]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("data", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, help="only the first N queries")
    p.add_argument("--n", default="10,20,50", help="comma-separated candidate counts")
    p.add_argument("--system", default="rules", choices=["rules", "hybrid"],
                   help="the search that is reranked (rules: the rule rewriter; hybrid: raw)")
    p.add_argument("--embedder", choices=["minilm", "bge-small"])
    p.add_argument("--index", help="index directory (default: rolecall eval's cache)")
    p.add_argument("--kg", nargs="*", default=[])
    p.add_argument("--threads", type=int, help="ONNX Runtime threads for the cross-encoder")
    p.add_argument("-k", type=int, default=100)
    args = p.parse_args(argv)
    ds = load_beir(args.data, split=args.split)
    ds.queries = ds.queries[: args.limit] if args.limit else ds.queries
    index_args = argparse.Namespace(index=args.index, embedder=args.embedder, kg=args.kg,
                                    link_fields=[], rebuild=False, no_progress=True)
    retriever = Retriever(_eval_index(index_args, ds))
    rows = [_row(f"{args.system} (no rerank)", _measured(retriever, ds, args), ds, None)]
    for n in (int(x) for x in args.n.split(",") if x.strip()):
        used, timed = _reranking(retriever, n, args.threads)
        run = _measured(used, ds, args, timed)
        rows.append(_row(f"{args.system} + rerank N={n}", run, ds, timed))
    print(f"### {ds.name} ({args.split}): {len(ds.queries)} queries, {len(ds.documents)} "
          f"documents, dense model {retriever.index.embedder.name}\n")
    print("| system | p50 ms | p95 ms | rerank p50 ms | pairs/s | nDCG@10 | violation |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
