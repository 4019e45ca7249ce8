"""The reranking stage: a cross-encoder re-orders the top N fused candidates.

It runs right after `fuse` and before `exclusions`, so the exclusion evidence and the policy
judge the order the cross-encoder chose, and their penalties multiply the same bounded
score as without it:

    ground → restrict → encode → lexical → dense → fuse → rerank → exclusions → policy

Off unless asked for: `Retriever(index, reranker=Reranker(top_n=20))`, or
`Retriever(index, stages=[Reranker(top_n=20).stage])`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .._checks import check_integer
from ..errors import EmbeddingError
from ..explain import Degradation
from ..pipeline.fusion import Fused
from ..pipeline.state import Outcome, SearchState
from .cross_encoder import DEFAULT_MAX_TOKENS, CrossEncoder

__all__ = ["RERANK_STAGE", "RerankStage", "Reranker", "reorder"]

#: the stage's name in the plan (and in `RANKING_STAGES`)
RERANK_STAGE = "rerank"
#: Longest passage handed to the tokenizer: the pair is cut to `max_length` tokens anyway,
#: and tokenising a whole long document for its first few hundred tokens is wasted work.
_PASSAGE_CHARS = 2_000
_MAX_TOP_N = 1_000


class Reranker:
    """Re-orders the top `top_n` fused candidates of a search by a cross-encoder's score of
    (query, passage): the query as the dense leg embeds it (the rewrite's description, else
    the text: without the exclusion clauses, which a relevance model would read as wanted),
    the passage the document's title and text.  Candidates below `top_n` keep their fused
    order after them.  `model`, `threads`, `max_length` and `batch_size` are the
    `CrossEncoder`'s; the `rerank` extra must be installed (`MissingDependencyError`)."""

    def __init__(
        self, top_n: int = 20, *, model: str | Path | None = None, threads: int | None = None,
        max_length: int = DEFAULT_MAX_TOKENS, batch_size: int = 16,
    ) -> None:
        check_integer("top_n", top_n, 1, _MAX_TOP_N)
        check_integer("max_length", max_length, 8, 512)
        check_integer("batch_size", batch_size, 1, 1_024)
        self.top_n = top_n
        self.encoder = CrossEncoder(model, threads=threads, max_length=max_length,
                                    batch_size=batch_size)

    @property
    def stage(self) -> RerankStage:
        """This reranker as a search stage, after `fuse`."""
        return RerankStage(self)

    def run(self, state: SearchState) -> Outcome:
        """The state with its top candidates re-ordered, and what was done."""
        if state.only is not None or not state.fused:
            return Outcome(state, "nothing to rerank")
        head = state.fused[: self.top_n]
        passages = [state.index.document(f.key).full_text[:_PASSAGE_CHARS] for f in head]
        t = time.perf_counter()
        try:
            scores = self.encoder.score(state.query.embed_text, passages)
        except EmbeddingError as exc:
            down = Degradation(stage=RERANK_STAGE, reason=f"{type(exc).__name__}: {exc}")
            return Outcome(replace(state, degraded=(*state.degraded, down)),
                           "model failed: fused order kept")
        ms = (time.perf_counter() - t) * 1000
        fused = reorder(state.fused, scores)
        moved = sum(a.key != b.key for a, b in zip(head, fused, strict=False))
        return Outcome(replace(state, fused=fused),
                       f"{len(head)} pairs scored by {self.encoder.name} in {ms:.1f} ms, "
                       f"{moved} moved")


@dataclass(frozen=True)
class RerankStage:
    """A `Reranker` in the stage chain (`Stage`): named `rerank`, after `fuse`."""

    reranker: Reranker
    name: str = RERANK_STAGE
    after: str = "fuse"

    def run(self, state: SearchState) -> Outcome:
        return self.reranker.run(state)


def reorder(fused: list[Fused], scores: np.ndarray) -> list[Fused]:
    """The first `len(scores)` candidates in descending score order (ties keep their fused
    order), then the rest as they were.

    The candidates keep the fused scores of the positions they move into: the i-th by the
    cross-encoder takes the i-th best fused score among them.  A cross-encoder's logit is
    not on fusion's scale (unbounded, and not comparable across queries), while the policy's
    penalties, `min_score` and the hits all read the fused score as bounded 0..1; a
    sigmoid of the logit would be bounded, but could put a scored candidate below one the
    model never read.  Permuting the scores keeps the range, the values and the head above
    the tail, and changes only the order, which is what the cross-encoder decides.  Each
    moved candidate's explanation gains a `rerank` leg: its rank and logit (no RRF share,
    so weight and contribution 0)."""
    n = len(scores)
    head, tail = fused[:n], fused[n:]
    values = sorted((f.fused for f in head), reverse=True)
    order = sorted(range(n), key=lambda i: (-float(scores[i]), i))
    ranked = [
        replace(head[i], fused=values[rank],
                shares=[*head[i].shares, ("rerank", rank + 1, float(scores[i]), 0.0, 0.0)])
        for rank, i in enumerate(order)
    ]
    return ranked + tail
