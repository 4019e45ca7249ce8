"""Search settings: given at construction, overridable per call (`search(..., **overrides)`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from ._checks import check_integer as _integer
from ._checks import check_real as _real
from .errors import InvalidQueryError, InvalidSettingError
from .pipeline.fusion import DEFAULT_RRF_K

__all__ = ["LEGS", "MAX_DEPTH", "MAX_K", "MAX_RRF_K", "MAX_WEIGHT", "SearchSettings"]

LEGS = ("lexical", "dense")
MAX_K = 10_000
#: Candidates per leg.  Fusion, evidence and explanations are linear in it; past ~10k a
#: search stops being interactive, and tantivy aborts the process (no exception) when asked
#: to allocate a result heap of 10**12.
MAX_DEPTH = 10_000
MAX_RRF_K = 10_000
#: Weights are relative; a bound keeps the fused score finite and the ratio meaningful.
MAX_WEIGHT = 1_000.0


@dataclass(frozen=True)
class SearchSettings:
    """How one search runs.

    * `k` — hits to return (1..10,000).
    * `depth` — candidates each leg retrieves before fusion (1..10,000).
    * `legs` / `weights` — which legs run and their RRF weights (see `rolecall.pipeline.fusion`):
      a non-empty tuple of leg names, weights finite in 0..1,000 keyed by leg name.
    * `rrf_k` — the RRF constant (1..10,000).
    * `constraint_mode` — `"hard"`: the graph's type/relation verdict filters the legs;
      `"soft"`: violators stay but are penalised by `role_penalty`.
    * `exclusion_mode` — `"soft"` (default): documents about an excluded thing are demoted
      by up to `exclusion_penalty` times the evidence; `"hard"`: candidates whose evidence
      reaches `exclusion_threshold` are suppressed.  Evidence is aboutness, not mention
      (`rolecall.pipeline.evidence`): Aaron's page, which names his brother Moses in passing,
      is neither demoted much nor suppressed by "Aaron, but don't mention Moses".  The two
      modes side by side: BENCHMARKS.md.
    * `unknown_mode` — how a graph constraint treats a document linked to no entity, whose
      role the graph cannot know: `"soft"` (default) keeps it, demoted by `role_penalty`
      below the documents the graph allows; `"hard"` filters it with the violators.  The
      plan says how many there were and what was done.
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
    unknown_mode: Literal["hard", "soft"] = "soft"
    min_score: float = 0.0

    def override(self, **overrides: Any) -> SearchSettings:
        names = {f.name for f in fields(self)}
        unknown = set(overrides) - names
        if unknown:
            raise InvalidQueryError(
                f"unknown search setting(s) {sorted(unknown)}; valid: {sorted(names)}"
            )
        given = {k: v for k, v in overrides.items() if v is not None}
        if isinstance(given.get("legs"), list):
            given["legs"] = tuple(given["legs"])
        new = replace(self, **given)
        new.validate()
        return new

    def validate(self) -> None:
        """Check every setting's type and range before any work, naming the setting."""
        _integer("k", self.k, 1, MAX_K)
        _integer("depth", self.depth, 1, MAX_DEPTH)
        _integer("rrf_k", self.rrf_k, 1, MAX_RRF_K)
        legs = self.legs
        if (not isinstance(legs, tuple) or not legs or len(set(legs)) != len(legs)
                or any(leg not in LEGS for leg in legs)):
            raise InvalidSettingError(
                "legs", legs, f"a non-empty tuple of distinct leg names from {LEGS}"
            )
        if not isinstance(self.weights, dict):
            raise InvalidSettingError("weights", self.weights, "a dict of leg name -> weight")
        for leg, w in self.weights.items():
            if leg not in LEGS:
                raise InvalidSettingError(
                    "weights", self.weights, f"keyed by leg names from {LEGS} ({leg!r} is not one)"
                )
            _real(f"weights[{leg!r}]", w, 0.0, MAX_WEIGHT)
        for name, allowed in (("constraint_mode", _MODES), ("exclusion_mode", _MODES),
                              ("unknown_mode", _MODES)):
            if getattr(self, name) not in allowed:
                raise InvalidSettingError(name, getattr(self, name), "'hard' or 'soft'")
        for name in ("role_penalty", "exclusion_penalty", "exclusion_threshold", "min_score"):
            _real(name, getattr(self, name), 0.0, 1.0)


_MODES = ("hard", "soft")
