"""Sentence vectors stored with an index generation, so verification reads them instead of
embedding a window's sentences at query time.

    ROOT/gen-N/sentences.npy          float16 (rows, dim): every document's passages, in order
    ROOT/gen-N/sentence_offsets.npy   int64 (count + 1): document i owns rows offsets[i]:[i+1]

The rows are the vectors of `rolecall.passages.passages(document.text)` — the same
splitter the agent uses — so a reader checks, per document, that the row count still
matches the passages it cuts (a splitter changed since the build reads as "not stored").
float16 halves the file at a cosine within 1e-3 of float32, far below what verification
tells apart.  Opt-in (`Index.build(sentence_vectors=True)`, `rolecall index
--sentence-vectors`): embedding every sentence costs about as much again as embedding the
documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..._progress import progress_bar
from ...documents import Document
from ...embedding.sentence import Embedder
from ...errors import IndexCorruptError
from ...passages import passages

__all__ = ["SentenceVectors", "write_sentence_vectors"]

VECTORS_FILE = "sentences.npy"
OFFSETS_FILE = "sentence_offsets.npy"
_BATCH = 512


class SentenceVectors:
    """The stored passage vectors of one generation (memory-mapped)."""

    def __init__(self, vectors: np.ndarray, offsets: np.ndarray) -> None:
        self.vectors = vectors
        self.offsets = offsets

    @classmethod
    def open(cls, directory: Path, count: int) -> SentenceVectors:
        try:
            offsets = np.load(directory / OFFSETS_FILE)
            vectors = np.load(directory / VECTORS_FILE, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"sentence vectors unreadable ({exc}); rebuild",
                                    path=directory / VECTORS_FILE) from exc
        if offsets.shape != (count + 1,) or int(offsets[-1]) != vectors.shape[0]:
            raise IndexCorruptError(
                f"sentence vectors hold {vectors.shape[0]} rows for {count} documents, "
                f"the offsets say {int(offsets[-1]) if len(offsets) else 0}; rebuild",
                path=directory / VECTORS_FILE,
            )
        return cls(vectors, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def of(self, ordinal: int, expected: int) -> np.ndarray | None:
        """Document `ordinal`'s passage vectors as float32, or None when it holds a number
        of rows other than the `expected` passages."""
        a, b = int(self.offsets[ordinal]), int(self.offsets[ordinal + 1])
        if b - a != expected:
            return None
        return np.asarray(self.vectors[a:b], dtype=np.float32)


def write_sentence_vectors(
    out: Path, previous: SentenceVectors | None, new_docs: Sequence[Document],
    embedder: Embedder, progress: bool,
) -> None:
    """The previous generation's rows followed by the new documents' passages, embedded."""
    chunks: list[np.ndarray] = []
    offsets = [0]
    if previous is not None:
        chunks.append(np.asarray(previous.vectors, dtype=np.float16))
        offsets = [int(x) for x in previous.offsets]
    pending: list[str] = []

    def flush() -> None:
        if pending:
            chunks.append(embedder.encode(pending, batch_size=64).astype(np.float16))
            pending.clear()

    with progress_bar("embedding sentences", total=len(new_docs), enabled=progress) as advance:
        for doc in new_docs:
            cut = passages(doc.text)
            pending.extend(cut)
            offsets.append(offsets[-1] + len(cut))
            if len(pending) >= _BATCH:
                flush()
            advance(1)
        flush()
    vectors = (np.concatenate(chunks) if chunks
               else np.zeros((0, embedder.dim), dtype=np.float16))
    np.save(out / VECTORS_FILE, vectors)
    np.save(out / OFFSETS_FILE, np.asarray(offsets, dtype=np.int64))
