"""Restrict: the graph's verdict and the attribute filters, as one `Restriction`.

Attribute filters are never soft (a user's "after 2000" is a fact about the document, not
a role it plays); role constraints are hard or soft by `constraint_mode`.  In soft mode
the legs see only the filters and the policy demotes role violators instead.
"""

from __future__ import annotations

from ..backends.interface import BackendReader
from ..settings import SearchSettings
from .grounding import Grounding
from .state import Restriction

__all__ = ["restrict"]


def restrict(index: BackendReader, g: Grounding, settings: SearchSettings) -> Restriction:
    verdict = index.graph_verdict(g.target_type, g.relations)
    allowed = verdict.allowed
    passing = index.passing(g.filters) if g.filters else None
    if passing is not None:
        allowed = passing if allowed is None else allowed & passing
    hard = settings.constraint_mode == "hard"
    return Restriction(
        allowed=allowed,
        blocked=dict(verdict.blocked),
        leg_allowed=allowed if hard else passing,
        leg_blocked=set(verdict.blocked) if hard else set(),
        constraints=list(verdict.constraints),
    )
