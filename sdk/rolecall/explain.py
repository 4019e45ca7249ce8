"""What a search returns: hits with their explanations, and the plan that was executed.

Everything here is a pydantic model so that a `SearchResult` serialises to JSON as is
(`rolecall search --json`, adapters' metadata, logs).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .query import RoleQuery

__all__ = [
    "AgentStep",
    "Clarification",
    "ConstraintCheck",
    "Degradation",
    "Explanation",
    "GroundedValue",
    "Hit",
    "LegScore",
    "MappedAlternative",
    "Plan",
    "SearchResult",
    "Spend",
    "StageRecord",
]


class LegScore(BaseModel):
    """How one retrieval leg ranked a document (rank is 1-based)."""

    leg: str
    rank: int
    score: float
    weight: float
    contribution: float = Field(description="weight / (rrf_k + rank), this leg's RRF share")


class ConstraintCheck(BaseModel):
    """The verdict of one constraint (relation, type, exclusion, filter) on one document."""

    constraint: str = Field(description="Human-readable form, e.g. 'must treats headache'.")
    kind: Literal["type", "relation", "exclusion", "filter"]
    satisfied: bool
    evidence: str = ""
    strength: float = Field(default=1.0, description="0..1; how strongly the evidence holds.")


class Explanation(BaseModel):
    """Why a hit ranked where it did."""

    legs: list[LegScore] = Field(default_factory=list)
    checks: list[ConstraintCheck] = Field(default_factory=list)
    fused: float = Field(default=0.0, description="Weighted RRF before penalties.")
    penalty: float = Field(default=0.0, description="Multiplicative penalty applied, 0..1.")
    suppressed: bool = Field(default=False, description="Removed by a hard constraint.")

    def summary(self) -> str:
        """One line for a terminal table."""
        legs = ", ".join(f"{s.leg}#{s.rank}" for s in self.legs) or "no leg"
        failed = [c.constraint for c in self.checks if not c.satisfied]
        held = [c.constraint for c in self.checks if c.satisfied]
        parts = [legs]
        if held:
            parts.append("ok: " + "; ".join(held))
        if failed:
            parts.append("violates: " + "; ".join(failed))
        if self.penalty:
            parts.append(f"penalty {self.penalty:.2f}")
        return " | ".join(parts)


class Hit(BaseModel):
    """One ranked document."""

    id: str
    score: float = Field(description="Bounded 0..1: fused RRF / best possible, after penalty.")
    title: str = ""
    text: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    explanation: Explanation = Field(default_factory=Explanation)


class MappedAlternative(BaseModel):
    """A catalog name a value could be mapped to, with the mapping's confidence."""

    name: str
    confidence: float


class GroundedValue(BaseModel):
    """One value of the RoleQuery and what it was linked to.

    A value the catalog does not have (a relation name, a target type, a filter field) may
    be *mapped* to the catalog name the evidence points to (`rolecall.pipeline.mapping`):
    `method="mapped"`, `mapped_to` that name, `confidence` the mapping's, `alternatives` the
    other names with theirs.  `enforcement` says what the search does with the value:
    `"hard"` — used like any resolved value (the search's constraint mode then decides
    filter or demote); `"soft"` — it only demotes documents that violate it; `"none"` —
    reported, not used."""

    value: str
    slot: str = Field(description="Where it came from: 'target_type', 'relation.object', ...")
    entity_id: str | None = None
    method: Literal["exact", "alias", "fuzzy", "vocabulary", "mapped", "unresolved"] = (
        "unresolved"
    )
    confidence: float = 0.0
    candidates: list[str] = Field(default_factory=list)
    mapped_to: str | None = Field(
        default=None, description="The catalog name an unknown value was mapped to."
    )
    alternatives: list[MappedAlternative] = Field(
        default_factory=list,
        description="Other catalog names the value could mean, with their confidence, best "
        "first (mapped and unresolved values).",
    )
    enforcement: Literal["hard", "soft", "none"] = Field(
        default="none",
        description="'hard': used like a resolved value; 'soft': only demotes violators; "
        "'none': reported, not used.",
    )

    @property
    def resolved(self) -> bool:
        return self.method != "unresolved"


class Degradation(BaseModel):
    """Something that did not run as configured; the result is still usable."""

    stage: str
    reason: str


class StageRecord(BaseModel):
    """One stage of a search as it ran (`rolecall.pipeline.stages`): its time and a one-line
    account of what it changed."""

    name: str
    ms: float = 0.0
    detail: str = ""


class AgentStep(BaseModel):
    """One step of the agent loop (`rolecall.agent.loop`), as it ran."""

    kind: Literal[
        "rewrite", "search", "deepen", "relax", "verify", "judge", "clarify", "budget"
    ]
    detail: str
    llm_calls: int = 0
    ms: float = 0.0


class Spend(BaseModel):
    """What a search spent against its budget."""

    llm_calls: int = 0
    tokens: int = 0
    seconds: float = 0.0
    exhausted: list[str] = Field(
        default_factory=list, description="Limits that stopped a step ('llm_calls', ...)."
    )


class Clarification(BaseModel):
    """A question for the user when the query cannot be acted on as asked; the hits beside
    it are the best effort under the first reading."""

    question: str
    readings: list[str] = Field(default_factory=list, description="Candidate interpretations.")
    reason: Literal["underspecified", "ambiguous_entity", "unresolved_follow_up"]


class Plan(BaseModel):
    """The search as executed."""

    query: RoleQuery
    grounding: list[GroundedValue] = Field(default_factory=list)
    legs: list[str] = Field(default_factory=list, description="Legs that ran.")
    weights: dict[str, float] = Field(default_factory=dict)
    exclusion_mode: str = "soft"
    candidates: int = 0
    allowed: int | None = Field(
        default=None, description="Documents the graph/filters allowed; null = unconstrained."
    )
    blocked: int = 0
    timings_ms: dict[str, float] = Field(default_factory=dict)
    stages: list[StageRecord] = Field(
        default_factory=list, description="Each stage that ran, in order, with what it did."
    )
    notes: list[str] = Field(default_factory=list)
    steps: list[AgentStep] = Field(
        default_factory=list, description="The agent loop's steps (empty for one pass)."
    )
    spent: Spend | None = Field(default=None, description="Budget use (agent searches).")

    @property
    def unresolved(self) -> list[GroundedValue]:
        return [g for g in self.grounding if not g.resolved]


class SearchResult(BaseModel):
    """Hits, the plan that produced them, and anything that degraded."""

    hits: list[Hit]
    plan: Plan
    degraded: list[Degradation] = Field(default_factory=list)
    clarification: Clarification | None = None

    @property
    def ids(self) -> list[str]:
        return [h.id for h in self.hits]

    def to_json_dict(self) -> dict[str, Any]:
        """The shape `rolecall search --json` prints (`clarification` only when there is
        one)."""
        out = {
            "hits": [
                {
                    "id": h.id,
                    "score": h.score,
                    "title": h.title,
                    "explanation": h.explanation.model_dump(mode="json"),
                }
                for h in self.hits
            ],
            "plan": self.plan.model_dump(mode="json"),
            "degraded": [d.model_dump(mode="json") for d in self.degraded],
        }
        if self.clarification is not None:
            out["clarification"] = self.clarification.model_dump(mode="json")
        return out
