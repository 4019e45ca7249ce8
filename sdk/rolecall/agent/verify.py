"""Cheap verification: where in a candidate document an excluded thing appears, and how
strongly.

For each candidate and each exclusion, the sentence that best matches the exclusion:
a sentence holding every content word of the excluded phrase (a verbatim mention) wins with
strength 1.0; otherwise the sentence closest to the exclusion's embedding, with its cosine as
the strength.  No LLM: one batched embedding of the window's sentences.

This is evidence, not a verdict: demoting by it re-ranks worse than the pipeline's own
whole-document evidence (on NegConstraint-dev, since a document about A always has
sentences close to a sub-topic a of A).  The sentences are reported in the explanation, and
they are the windows the LLM judge reads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..embedding.sentence import Embedder
from ..passages import passages
from ..query import Exclusion

__all__ = ["Passage", "best_passages", "sentences"]

# Sentence-similarity demotion on NegConstraint-dev raised the violation rate from 0.174 to
# 0.19-0.32 over a grid of thresholds (BENCHMARKS.md, the cheap path's dead ends).

_WORD_RE = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    "the of and a an in on to for with by from as at is are was were be its his her their "
    "this that these those other than any all about into over".split()
)
#: a document's sentences, as verification reads them (and as an index stores their vectors)
sentences = passages


def _content(text: str) -> set[str]:
    return {w for w in _WORD_RE.findall(text.casefold()) if w not in _STOP and len(w) > 1}


@dataclass
class Passage:
    """The sentence of one document that best matches one exclusion."""

    exclusion: str
    sentence: str
    strength: float
    verbatim: bool

    @property
    def short(self) -> str:
        """The sentence, cut to 160 characters (for explanations and the judge's window)."""
        return self.sentence if len(self.sentence) <= 160 else self.sentence[:157] + "…"

    def describe(self) -> str:
        how = "names it" if self.verbatim else f"cos {self.strength:.2f}"
        return f"“{self.short}” ({how})"


def best_passages(
    texts: Sequence[str], exclusions: Sequence[Exclusion], embedder: Embedder | None,
    stored: Sequence[np.ndarray | None] = (),
) -> list[list[Passage]]:
    """For each text, the best-matching sentence per exclusion (see the module docstring).
    Without an embedder only verbatim mentions are found.  `stored[i]`, when given and not
    None, holds text i's sentence vectors (an index's `passage_vectors`): only the others'
    sentences are embedded."""
    if not exclusions:
        return [[] for _ in texts]
    sents = [sentences(t) for t in texts]
    words = [[_content(s) for s in ss] for ss in sents]
    wanted = [_content(e.looks_like or e.text) or _content(e.text) for e in exclusions]
    need_embed = embedder is not None and any(
        not any(w and w <= ws for ws in doc_words) for doc_words in words for w in wanted
    )
    sims = (_similarities(sents, exclusions, embedder, stored)
            if need_embed and embedder is not None else [])
    out: list[list[Passage]] = []
    for i, ss in enumerate(sents):
        found: list[Passage] = []
        for j, ex in enumerate(exclusions):
            hit = next((k for k, ws in enumerate(words[i]) if wanted[j] and wanted[j] <= ws), None)
            if hit is not None:
                found.append(Passage(ex.text, ss[hit], 1.0, True))
            elif sims:
                k = int(np.argmax(sims[i][:, j]))
                found.append(Passage(ex.text, ss[k], round(float(sims[i][k, j]), 3), False))
        out.append(found)
    return out


def _similarities(
    sents: list[list[str]], exclusions: Sequence[Exclusion], embedder: Embedder,
    stored: Sequence[np.ndarray | None],
) -> list[np.ndarray]:
    """Per text, the (sentences, exclusions) cosines: stored sentence vectors where there
    are some, the rest embedded in one batch with the exclusions."""
    have = [stored[i] if i < len(stored) else None for i in range(len(sents))]
    flat = [s for ss, v in zip(sents, have, strict=True) if v is None for s in ss]
    vecs = embedder.encode(flat + [e.looks_like or e.text for e in exclusions])
    fresh, ev = vecs[: len(flat)], vecs[len(flat):]
    out: list[np.ndarray] = []
    start = 0
    for ss, v in zip(sents, have, strict=True):
        if v is None:
            v = fresh[start : start + len(ss)]
            start += len(ss)
        out.append(v @ ev.T)
    return out
