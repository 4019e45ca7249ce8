"""Bulk (indexing) embedding in float32 and bfloat16: throughput, closeness, retrieval quality.

    .venv/bin/python benchmarks/bulk_precision.py [DATA_DIR] [--limit N] [--synthetic N]

For each `SentenceTransformerEmbedder(bulk_precision=...)`, on a BEIR corpus (SciFact by
default: long abstracts) and on `--synthetic` documents from `latency.make_docs` (short, like
the scale benchmark's): documents per second, the cosine of each vector to its float32
counterpart (worst and mean), and — on the BEIR corpus — exact dense retrieval with the
float32 query encoder over each precision's vectors (nDCG@10, Recall@100, and how many of the
top 10 the two precisions share).  The question it answers: is an index embedded in bfloat16
searched as well as one embedded in float32?
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from latency import make_docs  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from rolecall.embedding.sentence import SentenceTransformerEmbedder  # noqa: E402
from rolecall.eval import load_beir, mean, ndcg_at_k, recall_at_k  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
PRECISIONS = ("float32", "bfloat16")


def embed(texts: list[str], precision: str) -> tuple[np.ndarray, float, str]:
    e = SentenceTransformerEmbedder(bulk_precision=precision)  # type: ignore[arg-type]
    e.encode(["warm up"] * 16)  # loads the model and checks the precision outside the clock
    t = time.perf_counter()
    vecs = e.encode(texts, batch_size=64)
    return vecs, len(texts) / (time.perf_counter() - t), e.bulk_precision


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("data", nargs="?", default=str(DEFAULT_DATA))
    ap.add_argument("--limit", type=int, help="only the first N documents of the corpus")
    ap.add_argument("--synthetic", type=int, default=10_000)
    args = ap.parse_args()
    console = Console(width=140)
    ds = load_beir(args.data)
    docs = ds.documents[: args.limit] if args.limit else ds.documents
    corpora = {ds.name: [d.full_text for d in docs],
               f"synthetic ({args.synthetic:,})": [d.full_text for d in
                                                   make_docs(args.synthetic, random.Random(7))]}
    query_encoder = SentenceTransformerEmbedder()  # float32, as every search runs
    qvecs = query_encoder.encode([q.text for q in ds.queries])
    ids = [d.id for d in docs]

    table = Table(title="bulk embedding precision (MiniLM, exact dense search)")
    for col in ("corpus", "precision (ran)", "docs/s", "× float32", "worst cos",
                "mean cos", "nDCG@10", "R@100", "top-10 shared"):
        table.add_column(col, justify="left" if col in ("corpus", "precision (ran)") else "right")
    for name, texts in corpora.items():
        runs = {p: embed(texts, p) for p in PRECISIONS}
        ref = runs["float32"][0]
        ref_top = None
        for vecs, rate, ran in runs.values():
            cos = (vecs * ref).sum(axis=1)
            quality = ["—", "—", "—"]
            if name == ds.name:
                top = np.argsort(-(qvecs @ vecs.T), axis=1)[:, :100]
                rankings = [[ids[i] for i in row] for row in top]
                ref_top = top if ref_top is None else ref_top
                pairs = list(zip(rankings, ds.queries, strict=True))
                shared = [len(set(a[:10]) & set(b[:10])) / 10
                          for a, b in zip(top, ref_top, strict=True)]
                quality = [f"{mean([ndcg_at_k(r, q.qrels) for r, q in pairs]):.4f}",
                           f"{mean([recall_at_k(r, q.qrels, 100) for r, q in pairs]):.4f}",
                           f"{mean(shared):.3f}"]
            table.add_row(name, ran, f"{rate:.0f}", f"{rate / runs['float32'][1]:.2f}",
                          f"{cos.min():.6f}", f"{cos.mean():.6f}", *quality)
    console.print(table)
    console.print(f"{args.synthetic:,} synthetic and {len(docs):,} corpus documents; "
                  f"{len(ds.queries)} queries; query vectors float32 throughout")
    console.print(f"[dim]command: {' '.join([Path(sys.executable).name, *sys.argv])}[/dim]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
