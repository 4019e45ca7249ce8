"""Could a better fusion of BM25 and dense alone lift SciFact? Chosen on train, read on test.

    .venv/bin/rolecall eval ../shared/data/scifact --split train --systems bm25,dense,hybrid \
        --run /tmp/sf_train.trec
    .venv/bin/rolecall eval ../shared/data/scifact --systems bm25,dense,hybrid \
        --run /tmp/sf_test.trec
    .venv/bin/python benchmarks/fusion_sweep.py /tmp/sf_train.trec /tmp/sf_test.trec

Re-fuses the bm25 and dense rankings of the run files (top 100 each) with reciprocal-rank
fusion over a grid of k and BM25 weight, and with a min-max-normalised convex combination
over a grid of weights, and prints nDCG@10 on both splits beside the rolecall's hybrid RRF
(k 60, equal weights) from the same files.  The setting to trust is the one best on train.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rolecall.eval import ndcg_at_k

Ranked = list[tuple[str, float]]


def load_run(path: Path) -> dict[str, dict[str, Ranked]]:
    run: dict[str, dict[str, Ranked]] = defaultdict(lambda: defaultdict(list))
    for line in path.read_text().splitlines():
        qid, _, doc, _, score, system = line.split()
        run[system][qid].append((doc, float(score)))
    return run


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for line in path.read_text().splitlines()[1:]:
        qid, doc, grade = line.split()
        out[qid][doc] = int(grade)
    return out


def _rrf(lex: Ranked, dense: Ranked, *, k: int, w_lex: float) -> list[str]:
    score: dict[str, float] = defaultdict(float)
    for ranked, w in ((lex, w_lex), (dense, 1 - w_lex)):
        for i, (d, _) in enumerate(ranked):
            score[d] += w / (k + i + 1)
    return sorted(score, key=lambda d: -score[d])


def _convex(lex: Ranked, dense: Ranked, *, w_lex: float) -> list[str]:
    def minmax(ranked: Ranked) -> dict[str, float]:
        lo, hi = min(s for _, s in ranked), max(s for _, s in ranked)
        return {d: (s - lo) / (hi - lo) if hi > lo else 0.0 for d, s in ranked}

    a, b = (minmax(lex) if lex else {}), (minmax(dense) if dense else {})
    return sorted(set(a) | set(b), key=lambda d: -(w_lex * a.get(d, 0) + (1 - w_lex) * b.get(d, 0)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("train_run")
    ap.add_argument("test_run")
    ap.add_argument("--data", default="../shared/data/scifact")
    args = ap.parse_args()
    splits = {"train": Path(args.train_run), "test": Path(args.test_run)}
    runs = {s: load_run(p) for s, p in splits.items()}
    qrels = {s: load_qrels(Path(args.data) / "qrels" / f"{s}.tsv") for s in splits}

    def mean(split: str, fuse: Callable[[Ranked, Ranked], list[str]]) -> float:
        run, rel = runs[split], qrels[split]
        qids = [q for q in run["bm25"] if q in rel]
        scores = [ndcg_at_k(fuse(run["bm25"][q], run["dense"][q]), rel[q]) for q in qids]
        return sum(scores) / len(scores)

    rows: list[tuple[str, Callable[[Ranked, Ranked], list[str]]]] = [
        ("bm25", lambda lex, _d: [d for d, _ in lex]),
        ("dense", lambda _l, dense: [d for d, _ in dense]),
    ]
    for k in (10, 30, 60):
        for w in (0.4, 0.5, 0.6, 0.7):
            rows.append((f"RRF k={k}, BM25 weight {w}", partial(_rrf, k=k, w_lex=w)))
    for w in (0.3, 0.4, 0.5, 0.6, 0.7):
        rows.append((f"min-max convex, BM25 weight {w}", partial(_convex, w_lex=w)))
    table = Table(title="SciFact nDCG@10, fusions of the same bm25 and dense rankings")
    for col in ("fusion", "train", "test"):
        table.add_column(col, justify="right" if col != "fusion" else "left")
    scored = [(name, mean("train", f), mean("test", f)) for name, f in rows]
    best = max(scored[2:], key=lambda r: r[1])
    for name, tr, te in scored:
        mark = " (rolecall's defaults)" if name == "RRF k=60, BM25 weight 0.5" else ""
        mark += " ← best on train" if name == best[0] else ""
        table.add_row(name + mark, f"{tr:.4f}", f"{te:.4f}")
    Console(width=120).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
