"""NegConstraint (or any BEIR folder): BM25, dense, hybrid RRF and rolecall side by side.

    .venv/bin/python benchmarks/negconstraint.py [DATA_DIR] [--index DIR] [--rebuild]

Prints, in one run: nDCG@10, Recall@10, MRR@10, the violation rate (a violating document
ranked above the best satisfying one) and assoc@10 per system, the same by query category,
search latency p50/p99 per system (no LLM), and indexing throughput when it builds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from rolecall import Index, Retriever, RoleQuery  # noqa: E402
from rolecall.eval import EvalQuery, load_beir, score_ranking, summarize  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "negconstraint-dev"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("data", nargs="?", default=str(DEFAULT_DATA))
    ap.add_argument("--index", help="index directory (default: .rolecall/bench/<name>)")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--split", default="test")
    args = ap.parse_args()
    console = Console(width=160)
    ds = load_beir(args.data, split=args.split)
    index_dir = Path(args.index or Path(".rolecall") / "bench" / ds.name)
    built = ""
    try:
        if args.rebuild:
            raise FileNotFoundError
        index = Index.open(index_dir)
        if len(index) != len(ds.documents):
            raise FileNotFoundError
    except Exception:  # noqa: BLE001 - (re)build whenever the cached index is unusable
        t = time.perf_counter()
        index = Index.build(index_dir, ds.documents, progress=True)
        dt = time.perf_counter() - t
        n = len(ds.documents)
        built = f"indexed {n} documents in {dt:.1f}s = {n / dt:.0f} docs/s"
    r = Retriever(index)
    r.search(RoleQuery.plain("warm up"))  # load the model before timing

    systems: dict[str, Callable[[EvalQuery], list[str]]] = {
        "BM25": lambda q: r.search(RoleQuery.plain(q.text), k=100, legs=("lexical",)).ids,
        "dense": lambda q: r.search(RoleQuery.plain(q.text), k=100, legs=("dense",)).ids,
        "hybrid RRF": lambda q: r.search(RoleQuery.plain(q.text), k=100).ids,
        "rolecall (rules)": lambda q: r.search(q.text, k=100).ids,
        "rolecall (rules, hard excl.)": lambda q: r.search(
            q.text, k=100, exclusion_mode="hard"
        ).ids,
    }
    rows = {}
    latencies: dict[str, list[float]] = {}
    per_query = {}
    for name, run in systems.items():
        scores, lat = [], []
        for q in ds.queries:
            t = time.perf_counter()
            ranking = run(q)
            lat.append((time.perf_counter() - t) * 1000)
            scores.append(score_ranking(ranking, q))
        rows[name] = summarize(scores)
        latencies[name] = lat
        per_query[name] = scores

    table = Table(title=f"{ds.name}: {len(ds.queries)} queries, {len(ds.documents)} documents")
    for col in ("system", "nDCG@10", "R@10", "MRR@10", "violation", "assoc@10", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right" if col != "system" else "left")
    for name, m in rows.items():
        lat = sorted(latencies[name])
        table.add_row(
            name, f"{m['nDCG@10']:.3f}", f"{m['R@10']:.3f}", f"{m['MRR@10']:.3f}",
            f"{m['violation']:.3f}", f"{m['assoc@10']:.3f}",
            f"{statistics.median(lat):.1f}", f"{lat[int(0.99 * (len(lat) - 1))]:.1f}",
        )
    console.print(table)

    categories = sorted({q.category for q in ds.queries if q.category})
    if categories:
        ct = Table(title="violation rate / nDCG@10 by query category")
        ct.add_column("system")
        for c in categories:
            n = sum(q.category == c for q in ds.queries)
            ct.add_column(f"{c} (n={n})", justify="right")
        for name, scores in per_query.items():
            cells = []
            for c in categories:
                sub = [s for s, q in zip(scores, ds.queries, strict=True) if q.category == c]
                m = summarize(sub)
                cells.append(f"{m['violation']:.3f} / {m['nDCG@10']:.3f}")
            ct.add_row(name, *cells)
        console.print(ct)
    base = min(rows[n]["violation"] for n in ("BM25", "dense", "hybrid RRF"))
    for name in ("rolecall (rules)", "rolecall (rules, hard excl.)"):
        ours = rows[name]["violation"]
        console.print(
            f"violation rate: {name} {ours:.3f} vs best baseline {base:.3f} "
            f"(ratio {ours / base:.2f})" if base else ""
        )
    if built:
        console.print(built)
    console.print(f"[dim]command: {' '.join([Path(sys.executable).name, *sys.argv])}[/dim]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
