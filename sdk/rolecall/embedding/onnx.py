"""The query encoder on ONNX Runtime: the same vectors as torch, in half the time.

A search embeds one to three short texts.  For that size the cost is per-operator dispatch,
not arithmetic, and ONNX Runtime's fused kernels run MiniLM's forward faster than torch.
Bulk indexing stays on torch: for large batches torch under bfloat16 autocast
(`SentenceTransformerEmbedder(bulk_precision=...)`) beat ONNX Runtime float32.

The model is exported once (Transformer → mean pooling → L2 normalisation, dynamic batch and
length) to `<ROLECALL_HOME>/onnx/<weights digest>.onnx`, written atomically, and the session
is trusted only after it reproduces the torch vectors on a probe batch.  Needs the `onnx`
extra (onnxruntime to run, onnx to export).
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependencyError

__all__ = ["onnx_query_encoder", "onnxruntime_errors"]

_PROBE = ["a probe sentence about headaches", "x", "an exclusion clause, as typed"]
_TOLERANCE = 1e-5
_OPSET = 17
#: texts embedded one per thread; more than this (a probe, a caller's batch) run as a batch
_SIDE_BY_SIDE = 4

Encode = Callable[[list[str]], np.ndarray]

# ONNX Runtime against torch per query, and for batches against torch float32 and bfloat16:
# BENCHMARKS.md, "The query encoder on ONNX Runtime" and "Bulk embedding in bfloat16".


def onnxruntime_errors() -> tuple[type[Exception], ...]:
    """The exception classes of ONNX Runtime's native layer (`Fail`, `InvalidGraph`,
    `RuntimeException`, …), which derive from `Exception` only; none before it is imported,
    since nothing else can raise them."""
    state = sys.modules.get("onnxruntime.capi.onnxruntime_pybind11_state")
    if state is None:
        return ()
    return tuple(
        v for v in vars(state).values() if isinstance(v, type) and issubclass(v, Exception)
    )


def onnx_query_encoder(model: Any, torch: Any, cache_dir: Path, threads: int) -> Encode:
    """An encode function for a Transformer → mean Pooling → Normalize sentence-transformers
    model on ONNX Runtime.  Raises `MissingDependencyError` without the `onnx` extra and
    `ValueError` when the exported graph does not reproduce the model (the caller keeps torch
    and says why)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime", "onnx") from exc
    names = [type(m).__name__ for m in model]
    if names != ["Transformer", "Pooling", "Normalize"]:
        raise ValueError(f"only Transformer → Pooling → Normalize models export, not {names}")
    tokenizer, bert = model[0].tokenizer, model[0].auto_model
    max_len = int(getattr(model[0], "max_seq_length", 256) or 256)
    path = cache_dir / f"{_weights_digest(bert)}.onnx"
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle workers must sleep, not spin: a spinning pool starves the BM25, graph and HNSW
    # stages that run right after the query is embedded (measured; BENCHMARKS.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    want = model.encode(_PROBE, normalize_embeddings=True, convert_to_numpy=True)

    def load() -> Encode:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        encode = _per_text(session, ort, path, options, tokenizer, max_len, threads)
        # Both paths: side by side (the probe's three texts) and one text alone.
        worst = max(np.abs(encode(_PROBE) - want).max(),
                    np.abs(encode(_PROBE[:1]) - want[:1]).max())
        if worst > _TOLERANCE:
            raise ValueError(f"the ONNX graph at {path} does not reproduce the model")
        return encode

    if path.exists():
        try:
            return load()
        except Exception:  # noqa: BLE001 - a damaged or foreign cached graph: export anew
            path.unlink(missing_ok=True)
    _export(bert, tokenizer, torch, path)
    return load()


def _per_text(session: Any, ort: Any, path: Path, options: Any, tokenizer: Any, max_len: int,
              threads: int) -> Encode:
    """The encode function.  One text runs on the `threads`-thread session.  Several
    texts (a search with exclusions embeds two or three) run each on its own one-thread
    session, side by side: a batch pads every text to the longest and one short sequence
    uses two threads poorly.  On NegConstraint-dev's pairs that is 17 → 14 ms where one
    text takes 9.5 (BENCHMARKS.md, "Speed").  ONNX Runtime releases the GIL in `run`."""

    def run(on: Any, texts: list[str]) -> np.ndarray:
        batch = tokenizer(texts, padding=True, truncation=True, max_length=max_len,
                          return_tensors="np")
        out = on.run(None, {
            "input_ids": batch["input_ids"].astype(np.int64),
            "attention_mask": batch["attention_mask"].astype(np.int64),
        })
        return np.ascontiguousarray(out[0], dtype=np.float32)

    if threads < 2:
        return lambda texts: run(session, texts)
    single = ort.SessionOptions()
    single.intra_op_num_threads = 1
    single.inter_op_num_threads = 1
    single.graph_optimization_level = options.graph_optimization_level
    single.add_session_config_entry("session.intra_op.allow_spinning", "0")
    one = ort.InferenceSession(str(path), single, providers=["CPUExecutionProvider"])
    pool = ThreadPoolExecutor(threads, thread_name_prefix="rolecall-embed")

    def encode(texts: list[str]) -> np.ndarray:
        if len(texts) == 1 or len(texts) > _SIDE_BY_SIDE:
            return run(session, texts)
        parts = list(pool.map(lambda t: run(one, [t]), texts))
        return np.concatenate(parts)

    return encode


def _weights_digest(bert: Any) -> str:
    """Names the export after the weights it holds, so another model or a fine-tune never
    loads a stale graph."""
    h = hashlib.sha256()
    for name, tensor in sorted(bert.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def _export(bert: Any, tokenizer: Any, torch: Any, path: Path) -> None:
    try:
        import onnx  # noqa: F401 - torch's exporter needs it
    except ImportError as exc:
        raise MissingDependencyError("onnx", "onnx") from exc

    class Pooled(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    example = tokenizer(["an example", "two"], padding=True, return_tensors="pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():
            # The tracer's notes on constants it folds (the causal flag, mask padding) hold
            # for every input: the graph is checked against the model after loading.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled().eval(), (example["input_ids"], example["attention_mask"]), str(tmp),
                input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                dynamic_axes={"input_ids": {0: "batch", 1: "length"},
                              "attention_mask": {0: "batch", 1: "length"},
                              "embedding": {0: "batch"}},
                opset_version=_OPSET, dynamo=False,
            )
        os.replace(tmp, path)  # readers see a whole graph or none
    finally:
        tmp.unlink(missing_ok=True)
