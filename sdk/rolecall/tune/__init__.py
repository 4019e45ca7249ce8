"""Contrastive tuning of the dense model on triples mined from the user's own index.

`tune(index, out)` mines (query, positive, hard negative) triples (`mining`) and trains the
model on them (`train`); `rolecall tune INDEX --out DIR` is the same from the shell."""

from .api import DEFAULT_KINDS, tune
from .mining import MinedTriples, Triple, TripleKind, mine_triples
from .train import TUNE_MANIFEST, HeldBack, TuneReport, TuneSettings, train_on

__all__ = ["DEFAULT_KINDS", "TUNE_MANIFEST", "HeldBack", "MinedTriples", "Triple",
           "TripleKind", "TuneReport", "TuneSettings", "mine_triples", "train_on", "tune"]
