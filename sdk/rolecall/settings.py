"""Search settings: given at construction, overridable per call (`search(..., **overrides)`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from .errors import InvalidQueryError
from .fusion import DEFAULT_RRF_K

__all__ = ["LEGS", "MAX_K", "SearchSettings"]

LEGS = ("lexical", "dense")
MAX_K = 10_000


@dataclass(frozen=True)
class SearchSettings:
    """How one search runs.

    * `k` — hits to return (1..10,000).
    * `depth` — candidates each leg retrieves before fusion.
    * `legs` / `weights` — which legs run and their RRF weights (see `rolecall.fusion`).
    * `constraint_mode` — `"hard"`: the graph's type/relation verdict filters the legs;
      `"soft"`: violators stay but are penalised by `role_penalty`.
    * `exclusion_mode` — `"soft"` (default): documents matching an exclusion are demoted by
      up to `exclusion_penalty`; `"hard"`: they are suppressed (lexical must-not, and removal
      of candidates whose evidence reaches `exclusion_threshold`).  Soft is the default
      because "Aaron, but don't mention Moses" wants Aaron's page, which names his brother:
      hard mode drops it.  Hard leaves fewer violations on NegConstraint-dev (0.149 vs 0.174)
      for 0.011 nDCG@10 (BENCHMARKS.md).
    * `min_score` — drop hits whose bounded score is below it.
    """

    k: int = 10
    depth: int = 100
    legs: tuple[str, ...] = LEGS
    weights: dict[str, float] = field(default_factory=lambda: {"lexical": 1.0, "dense": 1.0})
    rrf_k: int = DEFAULT_RRF_K
    constraint_mode: Literal["hard", "soft"] = "hard"
    role_penalty: float = 0.9
    exclusion_mode: Literal["hard", "soft"] = "soft"
    exclusion_penalty: float = 0.9
    exclusion_threshold: float = 0.5
    min_score: float = 0.0

    def override(self, **overrides: Any) -> SearchSettings:
        names = {f.name for f in fields(self)}
        unknown = set(overrides) - names
        if unknown:
            raise InvalidQueryError(
                f"unknown search setting(s) {sorted(unknown)}; valid: {sorted(names)}"
            )
        new = replace(self, **{k: v for k, v in overrides.items() if v is not None})
        new.validate()
        return new

    def validate(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not 1 <= self.k <= MAX_K:
            raise InvalidQueryError(f"k must be an integer from 1 to {MAX_K}, got {self.k!r}")
        if not isinstance(self.depth, int) or self.depth < 1:
            raise InvalidQueryError(f"depth must be a positive integer, got {self.depth!r}")
        bad = [leg for leg in self.legs if leg not in LEGS]
        if bad or not self.legs:
            raise InvalidQueryError(f"legs must be a non-empty subset of {LEGS}, got {self.legs}")
        for leg, w in self.weights.items():
            if not isinstance(w, (int, float)) or w < 0:
                raise InvalidQueryError(f"weight of {leg!r} must be a number >= 0, got {w!r}")
        if self.constraint_mode not in ("hard", "soft"):
            raise InvalidQueryError("constraint_mode must be 'hard' or 'soft'")
        if self.exclusion_mode not in ("hard", "soft"):
            raise InvalidQueryError("exclusion_mode must be 'hard' or 'soft'")
        for name in ("role_penalty", "exclusion_penalty", "exclusion_threshold", "min_score"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise InvalidQueryError(f"{name} must be between 0 and 1, got {v!r}")
