"""Encode: the query's embeddings, computed once per search in one batched call.

The dense leg searches with `query`; the exclusion evidence reads `exclusions` and
`original`; nothing embeds the query a second time.  A model that fails to load or run
raises `EmbeddingError`, on which the search degrades to its other legs (and says so).
"""

from __future__ import annotations

from ..backends.interface import BackendReader
from ..embedding.sentence import encode_queries
from ..query import RoleQuery
from .evidence import EvidenceWeights
from .state import QueryVectors

__all__ = ["encode", "encode_texts"]


def encode_texts(rq: RoleQuery, weights: EvidenceWeights) -> tuple[list[str], int, bool]:
    """(texts to embed, how many exclusion rows, whether the last row is the original
    query).  Exclusions are embedded only when that evidence kind is switched on; the query
    as typed only when it has exclusions and differs from what the legs search."""
    embedded = rq.exclusions if weights.exclusion_weight > 0 else []
    texts = [rq.embed_text] + [e.looks_like or e.text for e in embedded]
    original = bool(rq.exclusions) and rq.text.strip() != rq.embed_text.strip()
    if original:
        texts.append(rq.text)
    return texts, len(embedded), original


def encode(index: BackendReader, rq: RoleQuery, weights: EvidenceWeights) -> QueryVectors:
    texts, n_excl, original = encode_texts(rq, weights)
    # Every text here is matched against documents, so each is embedded as a query.
    vecs = encode_queries(index.embedder, texts)
    return QueryVectors(
        query=vecs[0],
        exclusions=vecs[1 : 1 + n_excl] if n_excl else None,
        original=vecs[-1] if original else None,
    )
