"""Scale: N synthetic documents (1M by default) searchable with ANN on one machine.

    .venv/bin/python benchmarks/scale.py [--docs 1000000] [--chunk 50000] [--queries 200]

Embedding a million documents with MiniLM on two CPU cores takes hours (~106 docs/s), more
than one working session, so the embedding is resumable: vectors are written chunk by chunk
(atomically) under `.rolecall/bench/vectors-N/`, and a rerun embeds only the missing chunks.
The corpus is `benchmarks/latency.py`'s generator with the same seed, so its first 100k
documents are exactly `synthetic-100000`'s: when that index exists its stored vectors are
reused for them (checked text by text).  Once every chunk exists the index is built from the
stored vectors (nothing embedded twice; HNSW over all), then searched in a fresh process
(whose peak memory is what serving the index costs, apart from the build's): latency per
stage, HNSW recall@10 against exact search, peak memory and size on disk, with plain BM25,
plain dense and hybrid RRF timed over the same index in the same run
(`latency.measure_search`).

`--embed-only` stops after the vectors (for a session that cannot wait for the build).

`--precision bfloat16` (the default here) embeds through torch autocast on a CPU with native
bfloat16: ~2.5× faster, vectors within 1e-4 cosine of float32's (checked when the model loads;
`SentenceTransformerEmbedder(bulk_precision=...)`).  That turns the embedding from ~2.5 h of
both cores into ~1 h, which one working session can hold.  Vectors of each precision are kept
apart (`vectors-N-<precision>`).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from latency import make_docs, make_kg, make_queries, measure_search  # noqa: E402
from rich.console import Console  # noqa: E402
from rolecall import Index  # noqa: E402
from rolecall._progress import progress_bar  # noqa: E402
from rolecall.embedding.sentence import SentenceTransformerEmbedder, default_embedder  # noqa: E402


class StoredVectors:
    """An Embedder that answers from vectors computed earlier, by text (Index.build embeds
    in its own batches; a lookup by text cannot misalign)."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray, name: str) -> None:
        self._row = {t: i for i, t in enumerate(texts)}
        self._vectors = vectors
        self.name = name
        self.dim = int(vectors.shape[1])

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        return self._vectors[[self._row[t] for t in texts]]


def embed_chunks(texts: list[str], out: Path, chunk: int, precision: str,
                 console: Console) -> np.ndarray | None:
    out.mkdir(parents=True, exist_ok=True)
    reuse = _vectors_of_100k(texts, console)
    embedder = SentenceTransformerEmbedder(bulk_precision=precision)  # type: ignore[arg-type]
    embedder.encode(["load the model"] * 9)  # a batch: loads and checks the bulk precision
    console.print(f"bulk precision: {embedder.bulk_precision} {embedder.bulk_precision_note}")
    n_chunks = (len(texts) + chunk - 1) // chunk
    missing = [c for c in range(n_chunks) if not (out / f"chunk-{c:05d}.npy").exists()]
    console.print(f"{n_chunks - len(missing)} of {n_chunks} chunks already embedded")
    with progress_bar("embedding", total=len(missing) * chunk) as advance:
        for c in missing:
            lo, hi = c * chunk, min(len(texts), (c + 1) * chunk)
            t = time.perf_counter()
            if reuse is not None and hi <= len(reuse):
                vecs = np.asarray(reuse[lo:hi])
                how = "reused from synthetic-100000"
            else:
                vecs = embedder.encode(texts[lo:hi], batch_size=64)
                how = f"{(hi - lo) / (time.perf_counter() - t):.0f} docs/s"
            tmp = out / f".chunk-{c:05d}.tmp.npy"
            np.save(tmp, vecs.astype(np.float32))
            os.replace(tmp, out / f"chunk-{c:05d}.npy")
            console.print(f"chunk {c}: documents {lo}..{hi - 1} ({how})")
            advance(hi - lo)
    if any(not (out / f"chunk-{c:05d}.npy").exists() for c in range(n_chunks)):
        return None
    return np.concatenate([np.load(out / f"chunk-{c:05d}.npy") for c in range(n_chunks)])


def _vectors_of_100k(texts: list[str], console: Console) -> np.ndarray | None:
    try:
        index = Index.open(".rolecall/bench/synthetic-100000")
    except Exception:  # noqa: BLE001 - nothing to reuse
        return None
    n = min(len(index), len(texts))
    rng = random.Random(3)
    for i in [0, n - 1, *rng.sample(range(n), 200)]:
        if index.document(i).full_text != texts[i]:
            console.print("synthetic-100000 holds other documents: not reused")
            return None
    return np.asarray(index.dense.vectors[:n])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--embed-only", action="store_true")
    ap.add_argument("--precision", choices=("float32", "bfloat16"), default="bfloat16")
    ap.add_argument("--search-only", action="store_true",
                    help="open the built index and search (what the script runs in a child "
                         "process after building)")
    args = ap.parse_args()
    console = Console(width=160)
    path = Path(f".rolecall/bench/synthetic-{args.docs}")
    if args.search_only:
        return _search(path, args.queries, console)
    rng = random.Random(7)
    kg = make_kg(rng)
    docs = make_docs(args.docs, rng)
    texts = [d.full_text for d in docs]
    vectors = embed_chunks(texts, Path(f".rolecall/bench/vectors-{args.docs}-{args.precision}"),
                           args.chunk, args.precision, console)
    if vectors is None or args.embed_only:
        console.print("vectors incomplete or --embed-only: rerun to continue")
        return 0
    try:
        index = Index.open(path)
        if len(index) != args.docs or index.dense.ann is None:
            raise ValueError("incomplete")
        console.print(f"{path} is built: searching it")
    except Exception:  # noqa: BLE001 - build when missing or incomplete
        stored = StoredVectors(texts, vectors, default_embedder().name)
        t = time.perf_counter()
        Index.build(path, docs, kg=kg, embedder=stored)
        built = time.perf_counter() - t
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        console.print(f"index build from stored vectors: {built:.0f} s ({args.docs / built:.0f}"
                      f" docs/s; embedding not included); peak RSS of the building process "
                      f"{rss:.2f} GiB (corpus generation, all vectors, build)")
    del vectors, texts, docs
    # Search in a fresh process: its memory is what serving the index costs, not the build's.
    return subprocess.call([sys.executable, __file__, "--docs", str(args.docs), "--queries",
                            str(args.queries), "--search-only"])


def _search(path: Path, queries: int, console: Console) -> int:
    index = Index.open(path)
    measure_search(index, make_queries(queries), console)
    size = sum(f.stat().st_size for f in index.directory.rglob("*") if f.is_file())
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork and exec, so a child would
    # report its parent's (the build's) peak.
    hwm = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
               if line.startswith("VmHWM:"))
    console.print(f"{len(index)} documents; index generation on disk {size / 2**30:.2f} GiB; "
                  f"peak RSS of the searching process {hwm / 2**20:.2f} GiB (open, {queries} "
                  "queries through four systems, recall check)")
    console.print(f"[dim]command: {' '.join([Path(sys.executable).name, *sys.argv])}[/dim]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
