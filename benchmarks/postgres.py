"""The PostgreSQL backend beside the embedded one: load throughput, search latency, parity.

    .venv/bin/python benchmarks/postgres.py --docs 100000 [--queries 200] [--dsn DSN]
    .venv/bin/python benchmarks/postgres.py --data ../shared/data/negconstraint-dev

`--docs N` uses the synthetic corpus and embedded index of `benchmarks/latency.py` (built
there if missing); `--data DIR` a BEIR folder (its index under .rolecall/eval, as `rolecall
eval` builds it) and its own queries.  The embedded index is copied into PostgreSQL with
`PostgresIndex.copy_from` (vectors copied, not recomputed), on an `EmbeddedPostgres` server
unless `--dsn` names one.  Both backends then answer the same queries with the rule
rewriter; printed: load docs/s, latency p50/p99 per system and stage, and the top-10 parity.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

from latency import QUERIES, SYMPTOMS, make_docs, make_kg, pct  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from rolecall import Index, Retriever, RoleQuery, SearchResult  # noqa: E402
from rolecall.backends.embedded.dense import DEFAULT_ANN_THRESHOLD  # noqa: E402
from rolecall_postgres import EmbeddedPostgres, PostgresIndex  # noqa: E402

STAGES = [
    "ground", "restrict", "encode", "lexical", "dense", "fuse", "exclusions", "policy", "hits",
]


def synthetic(n: int, ann_threshold: int) -> tuple[Index, list[str]]:
    rng = random.Random(7)
    kg = make_kg(rng)
    path = Path(f".rolecall/bench/synthetic-{n}")
    try:
        index = Index.open(path)
    except Exception:  # noqa: BLE001 - build when missing or unreadable
        index = Index.build(path, make_docs(n, rng), kg=kg, ann_threshold=ann_threshold)
    qrng = random.Random(11)
    queries = []
    for _ in range(400):
        s, t = qrng.sample(SYMPTOMS, 2)
        queries.append(qrng.choice(QUERIES).format(s=s, t=t))
    return index, queries


def beir(path: Path) -> tuple[Index, list[str]]:
    from rolecall.eval import load_beir

    ds = load_beir(path)
    where = Path(".rolecall/eval") / ds.name
    try:
        index = Index.open(where)
        if len(index) != len(ds.documents):
            raise ValueError("stale")
    except Exception:  # noqa: BLE001 - build when missing or stale
        index = Index.build(where, ds.documents)
    return index, [q.text for q in ds.queries]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--data", help="a BEIR folder instead of the synthetic corpus")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--dsn", help="an existing PostgreSQL (default: an EmbeddedPostgres)")
    ap.add_argument("--ann-threshold", type=int, default=DEFAULT_ANN_THRESHOLD)
    args = ap.parse_args()
    console = Console(width=160)
    index, queries = (
        beir(Path(args.data)) if args.data else synthetic(args.docs, args.ann_threshold)
    )
    queries = queries[: args.queries]
    server = None if args.dsn else EmbeddedPostgres().start()
    dsn = args.dsn or server.dsn  # type: ignore[union-attr]
    try:
        t = time.perf_counter()
        pg = PostgresIndex.copy_from(index, dsn, schema="rolecall_bench",
                                     ann_threshold=args.ann_threshold)
        load_s = time.perf_counter() - t
        backends = {"embedded": Retriever(index), "postgres": Retriever(pg)}
        for r in backends.values():
            r.search("warm up: a drug that treats headache")
        systems: dict[str, Callable[[Retriever, str], SearchResult]] = {
            "BM25": lambda r, q: r.search(RoleQuery.plain(q), legs=("lexical",)),
            "dense": lambda r, q: r.search(RoleQuery.plain(q), legs=("dense",)),
            "rolecall (rules)": lambda r, q: r.search(q),
        }
        table = Table(title=f"{len(index)} documents, {len(queries)} queries: latency (ms)")
        for col in ["backend", "system", "p50", "p99", *[f"{s} p50" for s in STAGES]]:
            table.add_column(col, justify="left" if col in ("backend", "system") else "right")
        tops: dict[tuple[str, str], list[list[str]]] = {}
        p50: dict[tuple[str, str], float] = {}
        for sname, run in systems.items():
            for bname, r in backends.items():
                wall: list[float] = []
                per: dict[str, list[float]] = {s: [] for s in STAGES}
                ranked: list[list[str]] = []
                for q in queries:
                    t = time.perf_counter()
                    res = run(r, q)
                    wall.append((time.perf_counter() - t) * 1000)
                    for s in STAGES:
                        per[s].append(res.plan.timings_ms.get(s, 0.0))
                    ranked.append([h.id for h in res.hits[:10]])
                tops[(bname, sname)] = ranked
                p50[(bname, sname)] = statistics.median(wall)
                table.add_row(bname, sname, f"{statistics.median(wall):.2f}",
                              f"{pct(wall, 0.99):.2f}",
                              *[f"{statistics.median(per[s]):.2f}" for s in STAGES])
        console.print(table)
        parity = Table(title="parity of the top 10, postgres vs embedded (same queries)")
        for col in ["system", "identical top 10", "same top 1", "mean overlap@10"]:
            parity.add_column(col, justify="left" if col == "system" else "right")
        for sname in systems:
            a, b = tops[("embedded", sname)], tops[("postgres", sname)]
            same = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
            top1 = sum(x[:1] == y[:1] for x, y in zip(a, b, strict=True)) / len(a)
            overlap = statistics.mean(
                len(set(x) & set(y)) / max(1, len(x)) for x, y in zip(a, b, strict=True)
            )
            parity.add_row(sname, f"{same:.3f}", f"{top1:.3f}", f"{overlap:.3f}")
        console.print(parity)
        console.print(
            f"load into PostgreSQL (vectors copied, not re-embedded; HNSW "
            f"{'built' if pg.dense.ann else 'not built'}): {len(pg)} documents in "
            f"{load_s:.1f}s = {len(pg) / load_s:.0f} docs/s"
        )
        ratio = p50[("postgres", "rolecall (rules)")] / p50[("embedded", "rolecall (rules)")]
        console.print(f"rolecall (rules) p50 postgres / embedded = {ratio:.2f}")
        console.print(f"[dim]command: {' '.join([Path(sys.executable).name, *sys.argv])}[/dim]")
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
