"""Restrict: the graph's verdict and the attribute filters, as one `Restriction`.

Attribute filters are never soft (a user's "after 2000" is a fact about the document, not
a role it plays); role constraints are hard or soft by `constraint_mode`.  In soft mode
the legs see only the filters and the policy demotes role violators instead.

Values grounding *mapped* with a confidence below `MAP_HARD` (`Grounding.soft_*`: a type,
a relation, even a filter) get a verdict of their own, one per value, apart from the hard
one: the legs never see it, and the policy only demotes what it does not allow.
"""

from __future__ import annotations

from ..backends.interface import BackendReader
from ..graph import describe_relation
from ..settings import SearchSettings
from .grounding import Grounding
from .state import Restriction, SoftVerdict

__all__ = ["restrict", "soft_verdicts"]


def restrict(index: BackendReader, g: Grounding, settings: SearchSettings) -> Restriction:
    """The restriction of one search.  The verdict's sets are shared, never copied: the
    backend memoises the verdict, and at a million documents copying its sets per search
    would cost more than the search."""
    verdict = index.graph_verdict(g.target_type, g.relations)
    allowed = verdict.allowed
    passing = index.passing(g.filters) if g.filters else None
    unknown = _unknown(index, verdict.allowed, passing, settings)
    if passing is not None:
        allowed = passing if allowed is None else allowed & passing
    hard = settings.constraint_mode == "hard"
    leg_allowed = allowed if hard else passing
    if hard and unknown and leg_allowed is not None:
        leg_allowed = leg_allowed | unknown
    # An allowed set already leaves the blocked documents out (`verdict_of`; the unknown are
    # about no entity, so none is blocked): the legs need the blocked set only without one.
    leg_blocked = verdict.blocked_ids if hard and leg_allowed is None else frozenset()
    return Restriction(
        allowed=allowed,
        blocked=verdict.blocked,
        leg_allowed=leg_allowed,
        leg_blocked=leg_blocked,
        constraints=list(verdict.constraints),
        soft=soft_verdicts(index, g),
        unknown=unknown,
    )


def _unknown(
    index: BackendReader, graph_allowed: frozenset[int] | None, passing: frozenset[int] | None,
    settings: SearchSettings,
) -> frozenset[int]:
    """Documents about no entity that the graph's allowed set leaves out (a must-not alone
    blocks only what it knows): kept for the policy in soft unknown mode, within the
    attribute filters, which are facts and never soft."""
    if graph_allowed is None or settings.unknown_mode == "hard":
        return frozenset()
    unknown = index.unlinked() - graph_allowed
    return unknown if passing is None else unknown & passing


def soft_verdicts(index: BackendReader, g: Grounding) -> tuple[SoftVerdict, ...]:
    """One verdict per soft value.  A soft relation is judged on its own (no target type):
    the type already has its verdict, and a document off-type would be demoted twice."""
    out: list[SoftVerdict] = []
    if g.soft_target_type is not None:
        t, conf = g.soft_target_type
        v = index.graph_verdict(t, [])
        out.append(SoftVerdict(f"type {t}", conf, v.allowed, v.blocked_ids))
    for rc, obj, conf in g.soft_relations:
        v = index.graph_verdict(None, [(rc, obj)])
        out.append(SoftVerdict(describe_relation(rc, obj), conf, v.allowed, v.blocked_ids))
    for flt, conf in g.soft_filters:
        out.append(SoftVerdict(f"filter {flt.field}", conf, index.passing([flt])))
    return tuple(out)
