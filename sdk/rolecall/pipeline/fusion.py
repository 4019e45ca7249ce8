"""Rank fusion: weighted reciprocal-rank fusion, dedup, penalties and a bounded score.

RRF (Cormack, Clarke & Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and
individual Rank Learning Methods", SIGIR 2009) scores a document by Σ_leg w / (k + rank).
It needs no score calibration between legs — BM25 and cosine live on different scales — and
the constant k (60 in the paper) flattens the head so that one leg's first place cannot
outvote agreement between legs.  Weights multiply a leg's share and are honoured exactly: a
leg with weight 0 contributes nothing; doubling a weight doubles that leg's share.

The fused score is divided by the best score possible (rank 1 on every leg that ran), which
bounds it to [0, 1] so that callers can threshold it across queries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import InvalidQueryError
from ..explain import LegScore

__all__ = ["DEFAULT_RRF_K", "Fused", "apply_penalties", "weighted_rrf"]

DEFAULT_RRF_K = 60


@dataclass
class Fused:
    """One document after fusion: its bounded score and each leg's share."""

    key: int
    fused: float
    #: (leg, rank, raw score, weight, contribution): tuples, because only the k hits shown
    #: need LegScore models — building ~200 per query was a tenth of the overhead at 100k.
    shares: list[tuple[str, int, float, float, float]] = field(default_factory=list)
    penalty: float = 0.0
    suppressed: bool = False

    @property
    def legs(self) -> list[LegScore]:
        return [
            LegScore.model_construct(leg=leg, rank=rank, score=raw, weight=w, contribution=c)
            for leg, rank, raw, w, c in self.shares
        ]

    @property
    def score(self) -> float:
        return 0.0 if self.suppressed else self.fused * (1.0 - self.penalty)


def weighted_rrf(
    rankings: Mapping[str, Sequence[tuple[int, float]]],
    weights: Mapping[str, float],
    *,
    rrf_k: int = DEFAULT_RRF_K,
) -> list[Fused]:
    """Fuse per-leg rankings of (key, raw score), best first; duplicates within a leg keep
    their best rank.  Returns documents by descending bounded score (ties: lower key)."""
    if rrf_k < 0:
        raise InvalidQueryError(f"rrf_k must be >= 0, got {rrf_k}")
    for leg, w in weights.items():
        if w < 0:
            raise InvalidQueryError(f"weight of leg {leg!r} must be >= 0, got {w}")
    best = sum(weights.get(leg, 1.0) / (rrf_k + 1) for leg in rankings)
    out: dict[int, Fused] = {}
    for leg, ranking in rankings.items():
        w = weights.get(leg, 1.0)
        seen: set[int] = set()
        rank = 0
        for key, raw in ranking:
            if key in seen:
                continue
            seen.add(key)
            rank += 1
            share = w / (rrf_k + rank)
            entry = out.get(key)
            if entry is None:
                entry = out[key] = Fused(key=key, fused=0.0)
            entry.fused += share / best if best > 0 else 0.0
            entry.shares.append((leg, rank, float(raw), float(w), share))
    return sorted(out.values(), key=lambda f: (-f.fused, f.key))


def apply_penalties(
    fused: list[Fused], penalties: Mapping[int, float], suppressed: set[int]
) -> list[Fused]:
    """Apply multiplicative penalties (0..1) and hard suppression, then re-sort.

    Suppressed documents stay in the list (flagged) so that explanations can report them;
    the caller decides whether to show them.
    """
    for f in fused:
        p = penalties.get(f.key, 0.0)
        f.penalty = min(1.0, max(0.0, p))
        f.suppressed = f.key in suppressed
    return sorted(fused, key=lambda f: (f.suppressed, -f.score, f.key))
