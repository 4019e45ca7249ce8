"""The dense leg: cosine similarity over memory-mapped embeddings, exact or HNSW.

Exact search is the default: for a small index a matrix-vector product costs a few
milliseconds and is never wrong.  From `ann_threshold` documents on (where exact search
starts to dominate a query's cost; BENCHMARKS.md) an hnswlib index is built and used; its filter
callback applies the same allowed/blocked sets the exact path applies, and a small allowed
set is still scored exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import IndexCorruptError, MissingDependencyError
from ..filter_plan import as_set
from ._blas import single_threaded_blas

__all__ = ["DEFAULT_ANN_THRESHOLD", "DenseIndex"]

DEFAULT_ANN_THRESHOLD = 50_000
_EMB = "embeddings.npy"
#: From this share of allowed documents on, filter after an unfiltered HNSW search (measured
#: at 100k: faster at 20% and 50%, slower at 5%, where the callback filter wins).
_POST_FILTER_SHARE = 0.1
#: Allowed sets up to this size are scored exactly even when an HNSW graph exists.
_ANN_EXACT_MAX = 2_048
_ANN = "hnsw.bin"


def default_ef(n: int) -> int:
    """HNSW search beam for an index of `n` documents.  A fixed beam loses recall as the
    graph grows (recall and cost per beam at 100k and 1M: BENCHMARKS.md, the 1M section),
    so it widens with the index: 128 up to 256k documents, n/2000 after, at most 512."""
    return min(512, max(128, n // 2000))


class DenseIndex:
    """Normalised float32 embeddings, one row per document ordinal."""

    def __init__(self, vectors: np.ndarray, ann: Any = None) -> None:
        self.vectors = vectors
        self.ann = ann

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    # -- persistence -----------------------------------------------------------------------------

    @staticmethod
    def save(
        directory: Path,
        vectors: np.ndarray,
        *,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        ef_construction: int = 200,
        m: int = 16,
    ) -> bool:
        """Write embeddings (and an HNSW graph above the threshold); True if ANN was built."""
        np.save(directory / _EMB, np.ascontiguousarray(vectors, dtype=np.float32))
        if len(vectors) < ann_threshold:
            return False
        hnswlib = _hnswlib()
        index = hnswlib.Index(space="ip", dim=vectors.shape[1])
        index.init_index(max_elements=len(vectors), ef_construction=ef_construction, M=m)
        index.add_items(vectors, np.arange(len(vectors)))
        index.save_index(str(directory / _ANN))
        return True

    @classmethod
    def open(cls, directory: Path, *, expected_rows: int, dim: int) -> DenseIndex:
        path = directory / _EMB
        try:
            vectors = np.load(path, mmap_mode="r")
        except FileNotFoundError:
            raise IndexCorruptError("embeddings file is missing; rebuild the index", path=path)
        except ValueError as exc:
            raise IndexCorruptError(f"embeddings file unreadable ({exc}); rebuild", path=path)
        if vectors.ndim != 2 or vectors.shape != (expected_rows, dim):
            raise IndexCorruptError(
                f"embeddings have shape {vectors.shape}, manifest says ({expected_rows}, {dim}); "
                "the file is truncated or from another build: rebuild the index",
                path=path,
            )
        ann = None
        ann_path = directory / _ANN
        if ann_path.exists():
            hnswlib = _hnswlib()
            ann = hnswlib.Index(space="ip", dim=dim)
            try:
                ann.load_index(str(ann_path), max_elements=expected_rows)
            except RuntimeError as exc:
                raise IndexCorruptError(f"HNSW index unreadable ({exc}); rebuild", path=ann_path)
            ann.set_ef(default_ef(expected_rows))
        return cls(vectors, ann)

    # -- querying --------------------------------------------------------------------------------

    def search(
        self,
        query: np.ndarray,
        k: int,
        *,
        allowed: AbstractSet[int] | None = None,
        blocked: Iterable[int] = (),
        exact: bool | None = None,
    ) -> list[tuple[int, float]]:
        """Top-k (ordinal, cosine) for a normalised query vector, honouring the filters."""
        with single_threaded_blas():
            return self._search(query, k, allowed=allowed, blocked=blocked, exact=exact)

    def _search(
        self,
        query: np.ndarray,
        k: int,
        *,
        allowed: AbstractSet[int] | None,
        blocked: Iterable[int],
        exact: bool | None,
    ) -> list[tuple[int, float]]:
        n = len(self)
        if k <= 0 or n == 0 or (allowed is not None and not allowed):
            return []
        blocked_set = as_set(blocked)  # a memoised verdict's set: read, not copied
        use_ann = self.ann is not None and not exact
        small = _ANN_EXACT_MAX if use_ann else 20_000
        if allowed is not None and len(allowed) <= small:
            # A small allowed set: scoring just those rows is exact and cheaper than ANN.
            ords = np.fromiter((o for o in allowed if o not in blocked_set), dtype=np.int64)
            if ords.size == 0:
                return []
            ords.sort()
            scores = self.vectors[ords] @ query
            return _top(ords, scores, k)
        if use_ann:
            return self._ann_search(query, k, allowed, blocked_set)
        scores = np.asarray(self.vectors @ query, dtype=np.float32)
        if allowed is not None or blocked_set:
            mask = np.zeros(n, dtype=bool)
            if allowed is not None:
                mask[np.fromiter(allowed, dtype=np.int64)] = True
            else:
                mask[:] = True
            if blocked_set:
                mask[np.fromiter(blocked_set, dtype=np.int64)] = False
            scores = np.where(mask, scores, -np.inf).astype(np.float32)
        return _top(np.arange(n), scores, k)

    def _ann_search(
        self, query: np.ndarray, k: int, allowed: AbstractSet[int] | None, blocked: AbstractSet[int]
    ) -> list[tuple[int, float]]:
        n = len(self)
        k = min(k, n)
        q = query.reshape(1, -1)
        if allowed is None and not blocked:
            labels, dists = self.ann.knn_query(q, k=k)
            return _pairs(labels[0], dists[0])
        share = (len(allowed) if allowed is not None else n - len(blocked)) / n
        if share >= _POST_FILTER_SHARE:
            # hnswlib's filter is a Python callback per visited node; for a permissive set
            # an unfiltered search wide enough to hold k allowed documents, filtered
            # afterwards, is cheaper with the same recall.
            fetch = min(n, int(k / share * 1.3) + 16)
            labels, dists = self.ann.knn_query(q, k=fetch)
            kept = [
                (int(lab), float(1.0 - d))
                for lab, d in zip(labels[0].tolist(), dists[0].tolist(), strict=True)
                if (allowed is None or lab in allowed) and lab not in blocked
            ]
            if len(kept) >= k or fetch == n:
                return kept[:k]

        def flt(label: int) -> bool:
            return (allowed is None or label in allowed) and label not in blocked

        labels, dists = self.ann.knn_query(q, k=min(k, max(1, int(share * n))), filter=flt)
        return _pairs(labels[0], dists[0])

    def similarity(self, query: np.ndarray, ords: Iterable[int]) -> dict[int, float]:
        """Cosine of the query with specific documents (for penalties and explanations)."""
        idx = np.fromiter(ords, dtype=np.int64)
        if idx.size == 0:
            return {}
        with single_threaded_blas():
            scores = self.vectors[idx] @ query
        return {int(o): float(s) for o, s in zip(idx, scores, strict=True)}


def _pairs(labels: np.ndarray, dists: np.ndarray) -> list[tuple[int, float]]:
    return [(int(lab), float(1.0 - d)) for lab, d in zip(labels, dists, strict=True)]


def _top(ords: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    k = min(k, scores.size)
    if k <= 0:
        return []
    part = np.argpartition(-scores, k - 1)[:k]
    part = part[np.argsort(-scores[part], kind="stable")]
    return [(int(ords[i]), float(scores[i])) for i in part if np.isfinite(scores[i])]


def _hnswlib() -> Any:
    try:
        import hnswlib
    except ImportError as exc:
        raise MissingDependencyError("hnswlib", "ann") from exc
    return hnswlib
