"""`Backend`: what a `Retriever` needs from the place documents live.

Everything that decides what a search *means* (rewrite, grounding, fusion, exclusion evidence,
explanations) stays in rolecall; a backend only stores documents and runs the legs and the
symbolic filters.  Two implement it: the embedded `Index` (tantivy, memory-mapped vectors,
networkx) and `rolecall_postgres.PostgresIndex` (tsvector, pgvector, recursive CTEs).  Legs
address documents by *ordinal* — the 0-based position in load order — so allowed and blocked
sets, fused rankings and evidence are plain sets of ints whichever backend produced them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..documents import Document
from ..embedding.sentence import Embedder
from ..graph import DocLinks, GraphVerdict, KnowledgeGraph
from ..query import AttributeFilter, RelationConstraint

__all__ = [
    "Backend", "BackendReader", "BackendWriter", "DenseLeg", "LexicalLeg", "LinksView",
    "PassageVectorReader",
]


class LexicalLeg(Protocol):
    """BM25 over title and body, with the index's analyzer."""

    def search(
        self,
        text: str,
        k: int,
        *,
        allowed: AbstractSet[int] | None = None,
        blocked: Iterable[int] = (),
        must_not_phrases: Sequence[str] = (),
    ) -> list[tuple[int, float]]:
        """Top-k (ordinal, score) matching any token of `text`; `allowed`/`blocked` restrict
        ordinals and a document containing any of `must_not_phrases` is left out."""
        ...

    def phrase_scores(self, phrase: str, ords: Iterable[int]) -> dict[int, float]:
        """Score of `phrase` (as a phrase) in each of `ords` that contains it."""
        ...

    def tokens(self, text: str) -> list[str]:
        ...

    def doc_freq(self, token: str) -> int:
        ...


class DenseLeg(Protocol):
    """Cosine similarity over normalised document embeddings."""

    def search(
        self,
        query: np.ndarray,
        k: int,
        *,
        allowed: AbstractSet[int] | None = None,
        blocked: Iterable[int] = (),
    ) -> list[tuple[int, float]]:
        ...

    def similarity(self, query: np.ndarray, ords: Iterable[int]) -> dict[int, float]:
        ...


class LinksView(Protocol):
    """The entities each document is linked to, by ordinal."""

    def __getitem__(self, ordinal: int, /) -> DocLinks:
        ...


class BackendReader(Protocol):
    """What a search needs: legs, symbolic filters and the documents themselves."""

    @property
    def kg(self) -> KnowledgeGraph:
        """The graph grounding resolves against (entities, aliases, types, relations)."""
        ...

    @property
    def lexical(self) -> LexicalLeg:
        ...

    @property
    def dense(self) -> DenseLeg:
        ...

    @property
    def links(self) -> LinksView:
        ...

    @property
    def embedder(self) -> Embedder:
        ...

    def __len__(self) -> int:
        ...

    def ordinal(self, doc_id: str) -> int | None:
        ...

    def document(self, ordinal: int) -> Document:
        ...

    def metadata_fields(self) -> set[str]:
        ...

    def graph_verdict(
        self, target_type: str | None, relations: list[tuple[RelationConstraint, str]]
    ) -> GraphVerdict:
        ...

    def passing(self, filters: Sequence[AttributeFilter]) -> frozenset[int]:
        ...

    def unlinked(self) -> frozenset[int]:
        """Ordinals of the documents about no entity: the graph cannot know their role."""
        ...

    def close(self) -> None:
        """Release files, descriptors and connections; idempotent."""
        ...


@runtime_checkable
class BackendWriter(Protocol):
    """Adding documents: a new generation (embedded) or one transaction (PostgreSQL)."""

    def add(
        self, documents: Iterable[Document | dict[str, Any]], *, progress: bool = True
    ) -> BackendReader:
        """Add documents; returns the backend to search from now on."""
        ...


@runtime_checkable
class PassageVectorReader(Protocol):
    """A backend that may store its documents' passage vectors (optional: without it, the
    agent embeds the sentences it verifies at query time)."""

    def passage_vectors(self, ordinal: int, count: int) -> np.ndarray | None:
        """Document `ordinal`'s vectors of its `count` passages (`rolecall.passages`), or
        None when they are not stored."""
        ...


class Backend(BackendReader, BackendWriter, Protocol):
    """A backend that is searched and written: both halves."""
