"""Hits: the state a search ends in, as the top-k documents with their explanations.

`document_checks` is every constraint's verdict on one document; the hits of a search and
`Retriever.explain_document` both read it, so what a hit says and what "why is X not in my
results?" says cannot differ.
"""

from __future__ import annotations

from typing import Any

from ..explain import ConstraintCheck, Explanation, Hit, Plan, StageRecord
from ..filters import describe_filter, matches_all
from .state import SearchState

__all__ = ["document_checks", "hits", "plan"]


def document_checks(
    state: SearchState, ordinal: int, metadata: dict[str, Any] | None = None
) -> list[ConstraintCheck]:
    """The type and relation verdicts of the graph, each attribute filter on the document's
    metadata (read from the index unless given), and the exclusion evidence against it."""
    g, index = state.grounding, state.index
    checks: list[ConstraintCheck] = []
    if g.target_type or g.relations:
        checks += index.kg.explain_doc(
            index.links[ordinal], target_type=g.target_type, relations=g.relations
        )
    if g.filters:
        if metadata is None:
            metadata = index.document(ordinal).metadata
        checks += [
            ConstraintCheck(constraint=describe_filter(f), kind="filter",
                            satisfied=matches_all(metadata, [f]))
            for f in g.filters
        ]
    return checks + _restriction_checks(state, ordinal) + state.evidence.checks.get(ordinal, [])


def _restriction_checks(state: SearchState, ordinal: int) -> list[ConstraintCheck]:
    """What demoted a document without filtering it: a soft (mapped, uncertain) constraint
    it does not meet, and a graph constraint that cannot judge it (linked to no entity)."""
    r = state.restriction
    if r is None:
        return []
    checks = [
        ConstraintCheck(constraint=f"mapped: {soft.label}", kind="relation",
                        satisfied=not soft.violated_by(ordinal),
                        evidence=f"a soft mapping ({soft.confidence:.2f}): demotes, never "
                                 "filters")
        for soft in r.soft
    ]
    if ordinal in r.unknown:
        checks.append(ConstraintCheck(
            constraint="graph: role unknown", kind="relation", satisfied=False,
            evidence="linked to no entity, so the graph cannot judge it: kept, demoted",
        ))
    return checks


def hits(state: SearchState) -> list[Hit]:
    """The first `k` candidates neither suppressed nor below `min_score`, explained."""
    s, index = state.settings, state.index
    out: list[Hit] = []
    for f in state.fused:
        if f.suppressed or f.score < s.min_score:
            continue
        if len(out) >= s.k:
            break
        doc = index.document(f.key)
        out.append(Hit(
            id=doc.id, score=round(f.score, 6), title=doc.title, text=doc.text,
            metadata=doc.metadata,
            explanation=Explanation(
                legs=f.legs, checks=document_checks(state, f.key, doc.metadata),
                fused=round(f.fused, 6), penalty=round(f.penalty, 4), suppressed=False,
            ),
        ))
    return out


def plan(state: SearchState, timings: dict[str, float], stages: list[StageRecord]) -> Plan:
    """The plan of the search as it ran."""
    r = state.restriction
    return Plan(
        query=state.query,
        grounding=state.grounding.values,
        legs=list(state.rankings),
        weights={leg: float(state.settings.weights.get(leg, 1.0)) for leg in state.rankings},
        exclusion_mode=state.settings.exclusion_mode,
        candidates=len(state.fused),
        allowed=None if r is None or r.allowed is None else len(r.allowed),
        blocked=(len(r.blocked) if r else 0) + len(state.suppressed),
        timings_ms=timings,
        stages=stages,
        notes=list(state.notes),
    )
