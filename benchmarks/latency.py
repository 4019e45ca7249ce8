"""Search latency per stage and indexing throughput on a synthetic corpus of N documents.

    .venv/bin/python benchmarks/latency.py --docs 100000 [--queries 200] [--ann-threshold N]
    .venv/bin/python benchmarks/latency.py --docs 100000 --llm 20   # with `make llm` running
    .venv/bin/python benchmarks/latency.py --beir ../shared/data/negconstraint-dev --rounds 3

The corpus is generated (seeded) from a fixed vocabulary plus drug/symptom names linked to a
small knowledge graph, so the graph leg has work to do; embeddings come from the real
packaged MiniLM.  Prints indexing docs/s, per-stage p50/p99 for plain BM25, plain dense and
rolecall with the rule rewriter (no LLM), and, when an HNSW index is built, its recall@10
against exact search.  `--llm N` adds rolecall with the local LLM rewriter on the first N
queries, twice: uncached (an empty in-memory rewrite cache: one model call per query) and
cached (the same queries again: no call), every stage timed.  `--beir DIR` times a BEIR
data set's own queries instead, on the index `rolecall eval` builds for it
(`.rolecall/eval/<name>`).  `--rounds R` runs every system over all queries R times,
alternating systems round by round, so that the host's drift lands on each system alike; a
last row gives each stage's p50 as a ratio of hybrid RRF's.
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
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from rolecall import (  # noqa: E402
    Agent,
    Document,
    Index,
    KnowledgeGraph,
    Retriever,
    RoleQuery,
    SearchResult,
)
from rolecall.backends.embedded.dense import DEFAULT_ANN_THRESHOLD  # noqa: E402
from rolecall.demo import demo_data_dir  # noqa: E402

WORDS = (
    "study patients dose trial effect risk treatment clinical result group analysis reported "
    "increase decrease daily week month year adults children women men blood pressure heart "
    "liver kidney stomach skin sleep pain relief symptom common rare severe mild tablet capsule "
    "syrup injection morning evening food water doctor pharmacist label warning interaction "
    "alcohol driving pregnancy elderly first second long short term chronic acute"
).split()
DRUGS = [f"drug{i:03d}" for i in range(200)]
SYMPTOMS = ["headache", "nausea", "drowsiness", "insomnia", "dizziness", "rash", "cough",
            "fever", "diarrhea", "constipation"]
QUERIES = [
    "a drug that treats {s}", "medicine for {s} that doesn't cause {t}",
    "which drugs cause {s}", "{s} relief without {t}", "long term {s} treatment in adults",
]


def make_kg(rng: random.Random) -> KnowledgeGraph:
    kg = KnowledgeGraph()
    kg.add_entity({"id": "drug", "type": "type", "aliases": ["drugs", "medicine"]})
    for s in SYMPTOMS:
        kg.add_entity({"id": s, "type": "symptom"})
    for d in DRUGS:
        kg.add_entity({"id": d, "type": "drug"})
        for s in rng.sample(SYMPTOMS, 2):
            kg.add_relation({"subject": d, "relation": "treats", "object": s})
        for s in rng.sample(SYMPTOMS, 2):
            kg.add_relation({"subject": d, "relation": "causes", "object": s})
    # The synthetic graph speaks the demo's relations as the demo's file declares them.
    for declared in KnowledgeGraph.load([demo_data_dir() / "kg.jsonl"]).schema.values():
        kg.declare_relation(declared)
    return kg


def make_docs(n: int, rng: random.Random) -> list[Document]:
    docs = []
    for i in range(n):
        drug = rng.choice(DRUGS)
        words = rng.choices(WORDS, k=40) + rng.choices(SYMPTOMS, k=3) + [drug]
        rng.shuffle(words)
        docs.append(Document(id=f"s{i}", title=drug, text=" ".join(words),
                             metadata={"entities": [drug], "year": 1950 + i % 70}))
    return docs


def _only(queries: list[str], run: Any) -> Any:
    """`run`, marked to be timed on these queries only."""
    def call(q: str) -> Any:
        return run(q)
    call.queries = queries  # type: ignore[attr-defined]
    return call


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(p * (len(v) - 1)))]


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b >= 0.005 else ("-" if a < 0.005 else f"+{a:.2f}")


def beir_queries(data: Path, n: int | None) -> list[str]:
    """The first `n` query texts of a BEIR data set (all of them without `n`)."""
    from rolecall.eval import load_beir

    return [q.text for q in load_beir(data).queries][:n]


def make_queries(n: int) -> list[str]:
    qrng = random.Random(11)
    queries = []
    for _ in range(n):
        s, t = qrng.sample(SYMPTOMS, 2)
        queries.append(qrng.choice(QUERIES).format(s=s, t=t))
    return queries


def measure_search(index: Index, queries: list[str], console: Console, *, llm: int = 0,
                   rounds: int = 1) -> None:
    """Per-stage latency of plain BM25, plain dense, hybrid RRF and rolecall (rules) over one
    index in one run (and the LLM rewriter on the first `llm` queries), the ratios between
    them, and HNSW recall@10 against exact search when the index has an HNSW graph."""
    r = Retriever(index)
    r.search("warm up: a drug that treats headache")  # loads the model and the catalog
    systems: dict[str, Callable[[str], SearchResult]] = {
        "BM25": lambda q: r.search(RoleQuery.plain(q), legs=("lexical",)),
        "dense": lambda q: r.search(RoleQuery.plain(q), legs=("dense",)),
        "hybrid RRF": lambda q: r.search(RoleQuery.plain(q)),
        "rolecall (rules)": lambda q: r.search(q),
        # The agent without an LLM: strict search, deepen/relax, verify (sentence vectors
        # read from the index when it stores them, else embedded per search).
        "agent (no LLM)": lambda q: agent.search(q),
    }
    agent = Agent(r)
    if llm:
        from rolecall import LLMRewriter, RewriteCache
        from rolecall.rewrite.auto import LOCAL_ALIAS, local_api_base

        with_llm = Retriever(index, rewriter=LLMRewriter(
            f"openai/{LOCAL_ALIAS}", api_base=local_api_base(), cache=RewriteCache(":memory:"),
            timeout=120.0,
        ))
        asked = queries[:llm]
        for label in ("rolecall (LLM, uncached)", "rolecall (LLM, cached)"):
            systems[label] = _only(asked, with_llm.search)
    table = Table(title=f"search latency, {len(index)} documents, {len(queries)} queries (ms)")
    stages = ["rewrite", "ground", "restrict", "encode", "lexical", "dense", "fuse", "exclusions",
              "policy", "hits"]
    table.add_column("system")
    table.add_column("total p50", justify="right")
    table.add_column("total p99", justify="right")
    table.add_column("no-embed p50", justify="right")
    table.add_column("no-embed p99", justify="right")
    for s in stages:
        table.add_column(f"{s} p50", justify="right")
    totals: dict[str, float] = {}
    slowest: list[tuple[float, str, dict[str, float]]] = []
    wall: dict[str, list[float]] = {name: [] for name in systems}
    per: dict[str, dict[str, list[float]]] = {name: {s: [] for s in stages} for name in systems}
    overhead: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(rounds):
        for name, run in systems.items():
            for q in getattr(run, "queries", queries):
                t = time.perf_counter()
                res = run(q)
                if res.degraded:
                    console.print(f"[yellow]{name}: degraded ({res.degraded[0].reason})[/yellow]")
                wall[name].append((time.perf_counter() - t) * 1000)
                for s in stages:
                    per[name][s].append(res.plan.timings_ms.get(s, 0.0))
                overhead[name].append(wall[name][-1] - res.plan.timings_ms.get("encode", 0.0))
                if name == "rolecall (rules)":
                    slowest.append((wall[name][-1], q, res.plan.timings_ms))
    for name in systems:
        totals[name] = statistics.median(wall[name])
        table.add_row(name, f"{totals[name]:.2f}", f"{pct(wall[name], 0.99):.2f}",
                      f"{statistics.median(overhead[name]):.2f}",
                      f"{pct(overhead[name], 0.99):.2f}",
                      *[f"{statistics.median(per[name][s]):.2f}" for s in stages])
    table.add_row("rolecall / hybrid", *[
        _ratio(statistics.median(a), statistics.median(b)) for a, b in (
            (wall["rolecall (rules)"], wall["hybrid RRF"]),
            ([pct(wall["rolecall (rules)"], 0.99)], [pct(wall["hybrid RRF"], 0.99)]),
            (overhead["rolecall (rules)"], overhead["hybrid RRF"]),
            ([pct(overhead["rolecall (rules)"], 0.99)], [pct(overhead["hybrid RRF"], 0.99)]),
            *((per["rolecall (rules)"][s], per["hybrid RRF"][s]) for s in stages),
        )])
    console.print(table)
    console.print(
        f"agent (no LLM) p50 / rolecall (rules) p50 = "
        f"{totals['agent (no LLM)'] / totals['rolecall (rules)']:.2f} (sentence vectors "
        f"{'stored' if getattr(index, 'sentences', None) is not None else 'embedded per search'})"
    )
    console.print(
        "rolecall (rules) p50 / hybrid RRF p50 = "
        f"{totals['rolecall (rules)'] / totals['hybrid RRF']:.2f}; "
        f"/ BM25 = {totals['rolecall (rules)'] / totals['BM25']:.2f}; "
        f"/ dense = {totals['rolecall (rules)'] / totals['dense']:.2f}"
    )
    # The tail, explained: the slowest rolecall queries and their stages over 1 ms.
    for took, q, timings in sorted(slowest, key=lambda x: -x[0])[:5]:
        stages_ms = ", ".join(f"{k} {v:.0f}" for k, v in timings.items() if v > 1 and k != "total")
        console.print(f"slow: {took:.0f} ms {q!r}: {stages_ms}")
    if index.dense.ann is not None:
        vecs = index.embedder.encode(queries[:100])
        truth = [{o for o, _ in index.dense.search(v, 10, exact=True)} for v in vecs]
        t = time.perf_counter()
        for v in vecs:
            index.dense.search(v, 10, exact=True)
        exact_ms = (time.perf_counter() - t) * 1000 / len(vecs)
        # The serving ef (rolecall's default for this size) first, then others: what recall
        # costs.
        serving = index.dense.ann.ef
        for ef in dict.fromkeys((serving, 128, 256, 512)):
            index.dense.ann.set_ef(ef)
            hits, ms = 0, []
            for v, want in zip(vecs, truth, strict=True):
                t = time.perf_counter()
                got = index.dense.search(v, 10)
                ms.append((time.perf_counter() - t) * 1000)
                hits += len(want & {o for o, _ in got})
            what = " (serving default)" if ef == serving else ""
            console.print(f"HNSW recall@10 vs exact at ef={ef}{what}: "
                          f"{hits / (10 * len(vecs)):.3f} "
                          f"({statistics.median(ms):.2f} ms p50 per ANN query; exact search "
                          f"{exact_ms:.1f} ms)")
        index.dense.ann.set_ef(serving)


def _synthetic(args: argparse.Namespace, console: Console) -> tuple[Index, float | None]:
    """The synthetic index of `--docs` documents (built when missing, with its HNSW graph
    when large enough), and how long building took (None when it was opened)."""
    rng = random.Random(7)
    kg = make_kg(rng)
    path = Path(args.index or f".rolecall/bench/synthetic-{args.docs}")
    built = None
    try:
        if args.rebuild:
            raise FileNotFoundError
        index = Index.open(path)
    except Exception:  # noqa: BLE001 - build when missing or unreadable
        docs = make_docs(args.docs, rng)
        t = time.perf_counter()
        index = Index.build(path, docs, kg=kg, ann_threshold=args.ann_threshold)
        built = time.perf_counter() - t
    if len(index) >= args.ann_threshold and index.dense.ann is None:
        # A new generation with the HNSW graph, from the stored vectors (nothing re-embedded).
        t = time.perf_counter()
        index = index.add([], ann_threshold=args.ann_threshold)
        console.print(f"built HNSW over {len(index)} stored vectors in "
                      f"{time.perf_counter() - t:.1f}s")
    return index, built


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=None,
                    help="how many queries (default 200 synthetic; every one of --beir)")
    ap.add_argument("--ann-threshold", type=int, default=DEFAULT_ANN_THRESHOLD)
    ap.add_argument("--index", help="index dir (default .rolecall/bench/synthetic-N)")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--llm", type=int, default=0, metavar="N",
                    help="also time the local LLM rewriter, uncached and cached, on N queries")
    ap.add_argument("--beir", type=Path, metavar="DIR",
                    help="time a BEIR data set's queries on its eval index instead")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every system over all queries this many times, alternating")
    args = ap.parse_args()
    console = Console(width=200)
    built = None
    if args.beir is not None:
        index = Index.open(args.index or f".rolecall/eval/{args.beir.name}")
        queries = beir_queries(args.beir, args.queries)
    else:
        index, built = _synthetic(args, console)
        queries = make_queries(args.queries or 200)
    measure_search(index, queries, console, llm=args.llm, rounds=args.rounds)
    if built is not None:
        console.print(f"indexing: {len(index)} documents in {built:.1f}s = "
                      f"{len(index) / built:.0f} docs/s (embedding included)")
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        console.print(f"peak RSS: {rss:.0f} MiB")
    except ImportError:  # pragma: no cover - non-POSIX
        pass
    console.print(f"[dim]command: {' '.join([Path(sys.executable).name, *sys.argv])}[/dim]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
