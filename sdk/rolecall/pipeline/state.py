"""`SearchState`: the one value a search hands from stage to stage.

Each stage reads what the stages before it produced and returns the state with its own part
filled in (`dataclasses.replace`); nothing is computed twice, and nothing is hidden in a
stage's locals that a later stage (a reranker, an aboutness scorer) or `explain_document`
would have to compute again.  The fields, in the order the default stages fill them:

* `query`, `settings`, `index`, `weights` — the caller: the RoleQuery, the search
  settings, the backend, the evidence calibration;
* `grounding` — ground: every value linked to the graph or the vocabulary;
* `restriction` — restrict: the graph verdict and the attribute filters, and what each leg
  is given (`Restriction`);
* `vectors` — encode: the query's embeddings, once (`QueryVectors`);
* `rankings` — lexical, dense: each leg's (ordinal, score) list;
* `fused` — fuse: documents by weighted RRF (`Fused`), re-ordered by the policy;
* `evidence` — exclusions: per-candidate exclusion strength and its checks;
* `penalties`, `suppressed` — policy: what the policy decided per candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ..backends.interface import BackendReader
from ..explain import Degradation
from ..query import RoleQuery
from ..settings import SearchSettings
from .evidence import EvidenceWeights, ExclusionEvidence
from .fusion import Fused
from .grounding import Grounding

__all__ = ["FunctionStage", "Outcome", "QueryVectors", "Restriction", "SearchState",
           "SoftVerdict", "Stage", "stage"]


@dataclass(frozen=True)
class SoftVerdict:
    """What one soft (mapped, not certain) constraint allows: the policy demotes the
    candidates it does not allow, or blocks, by `role_penalty` × `confidence`."""

    label: str
    confidence: float
    allowed: frozenset[int] | None
    blocked: frozenset[int] = frozenset()

    def violated_by(self, ordinal: int) -> bool:
        return (self.allowed is not None and ordinal not in self.allowed) or (
            ordinal in self.blocked)


@dataclass(frozen=True)
class Restriction:
    """What the symbolic part allows: the graph verdict and the attribute filters.

    `allowed` is None when nothing restricts; `blocked` maps an ordinal to the reason the
    graph blocks it.  `leg_allowed` / `leg_blocked` are what the legs are given: in hard
    constraint mode the verdict itself (`leg_blocked` empty when there is an allowed set,
    which already leaves the blocked out); in soft mode only the attribute filters (never
    soft), the role verdict being left to the policy to demote.  `soft` holds the verdicts
    of soft mapped values (`Grounding.soft_*`), which only ever demote, in either mode.
    `unknown` are documents linked to no entity under a graph constraint: in soft unknown
    mode the legs see them and the policy demotes them."""

    allowed: frozenset[int] | None
    blocked: Mapping[int, str]
    leg_allowed: frozenset[int] | None
    leg_blocked: frozenset[int]
    constraints: list[str] = field(default_factory=list)
    soft: tuple[SoftVerdict, ...] = ()
    #: documents about no entity that a graph constraint would have dropped, kept for the
    #: policy to demote (`unknown_mode="soft"`); empty when nothing constrains
    unknown: frozenset[int] = frozenset()


@dataclass(frozen=True)
class QueryVectors:
    """The embeddings one search needs, from one batched encoder call.

    `query` embeds what the legs search (the description, else the text); `exclusions`
    one row per exclusion (None when that evidence kind is off); `original` the query as
    typed, when it differs from `query` (the "unconstrained" evidence compares the two)."""

    query: np.ndarray
    exclusions: np.ndarray | None = None
    original: np.ndarray | None = None


@dataclass(frozen=True)
class SearchState:
    query: RoleQuery
    settings: SearchSettings
    index: BackendReader
    weights: EvidenceWeights
    grounding: Grounding = field(default_factory=Grounding)
    restriction: Restriction | None = None
    vectors: QueryVectors | None = None
    rankings: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    fused: list[Fused] = field(default_factory=list)
    evidence: ExclusionEvidence = field(default_factory=ExclusionEvidence)
    penalties: dict[int, float] = field(default_factory=dict)
    suppressed: frozenset[int] = frozenset()
    #: only these ordinals are scored (explain_document asks about one document)
    only: tuple[int, ...] | None = None
    notes: tuple[str, ...] = ()
    degraded: tuple[Degradation, ...] = ()

    @property
    def candidates(self) -> list[int]:
        """The ordinals later stages score: the fused list, or the ones asked about."""
        if self.only is not None:
            return list(self.only)
        return [f.key for f in self.fused]


@dataclass(frozen=True)
class Outcome:
    """What a stage returns: the state with its part filled in, and a one-line account of
    what it changed (shown in the plan)."""

    state: SearchState
    detail: str = ""


@runtime_checkable
class Stage(Protocol):
    """One step of a search: `name`, the name of the stage it runs `after` ("" for the
    first), and `run`.  A class with the two as attributes is one; so is a function
    decorated with `@stage`."""

    @property
    def name(self) -> str: ...

    @property
    def after(self) -> str: ...

    def run(self, state: SearchState) -> Outcome:
        ...


@dataclass(frozen=True)
class FunctionStage:
    """A stage made of a function (`@stage`)."""

    name: str
    after: str
    fn: Callable[[SearchState], Outcome]

    def run(self, state: SearchState) -> Outcome:
        return self.fn(state)


def stage(name: str, *, after: str) -> Callable[[Callable[[SearchState], Outcome]], FunctionStage]:
    """Make a function `state -> Outcome` a stage that runs after the stage named `after`:

    ```python
    @stage("rerank", after="policy")
    def rerank(state: SearchState) -> Outcome:
        ...
    Retriever(index, stages=[rerank])
    ```
    """

    def make(fn: Callable[[SearchState], Outcome]) -> FunctionStage:
        return FunctionStage(name, after, fn)

    return make
