"""Candidate documents as the aboutness reader sees them: title and sentences, analysed.

Analysing a document is the cost of aboutness, so each is analysed once per index and kept
in a bounded memo (a search reads its candidates, and the next search reads many of the
same).  Documents are only ever added under an ordinal, never changed, so a memo entry
stays true.
"""

from __future__ import annotations

import weakref

from ..backends.interface import BackendReader
from ..backends.memo import BoundedMemo
from .aboutness import (
    Aboutness,
    AboutnessWeights,
    PhraseTokens,
    Reading,
    aboutness,
    sentences,
)

__all__ = ["AnalysedDocuments", "analysed_documents"]

_MEMO_SIZE = 20_000



class AnalysedDocuments:
    """`aboutness(ordinal, phrase)` over one index's documents."""

    def __init__(self, index: BackendReader) -> None:
        self._index = index
        self._docs: BoundedMemo[Reading] = BoundedMemo(_MEMO_SIZE)
        self._phrases: BoundedMemo[PhraseTokens] = BoundedMemo(1_000)

    def _analyse(self, ordinal: int) -> Reading:
        doc = self._index.document(ordinal)
        tokens = self._index.lexical.tokens
        analysed = [tokens(s) for s in sentences(doc.text)]
        return Reading(tuple(tokens(doc.title)) if doc.title else (),
                       tuple(tuple(s) for s in analysed))

    def phrase(self, text: str, subject: frozenset[str]) -> PhraseTokens:
        lex = self._index.lexical
        return self._phrases.get((text, subject), lambda: PhraseTokens.of(
            text, lex.tokens, subject=subject))

    def subject(self, text: str) -> frozenset[str]:
        """The analysed tokens of what the query is about."""
        return frozenset(self._index.lexical.tokens(text))

    def aboutness(self, ordinal: int, phrase: PhraseTokens, subject: frozenset[str],
                  weights: AboutnessWeights) -> Aboutness:
        doc = self._docs.get(ordinal, lambda: self._analyse(ordinal))
        return aboutness(phrase, doc, subject, weights)


_BY_INDEX: weakref.WeakKeyDictionary[BackendReader, AnalysedDocuments] = (
    weakref.WeakKeyDictionary())


def analysed_documents(index: BackendReader) -> AnalysedDocuments:
    """The one reader of `index`, dropped with it."""
    try:
        return _BY_INDEX[index]
    except KeyError:
        reader = _BY_INDEX[index] = AnalysedDocuments(index)
        return reader
    except TypeError:  # an index that cannot be weakly referenced: no memo across searches
        return AnalysedDocuments(index)
