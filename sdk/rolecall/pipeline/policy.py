"""The penalty and suppression policy: what the evidence and the verdict do to a rank.

One place decides it, for the search and for `explain_document` alike:

* an exclusion's evidence strength `s` demotes a candidate by `exclusion_penalty × s`
  (soft mode); in hard mode a candidate is suppressed when `s ≥ exclusion_threshold` — a
  document about the excluded thing, not one that names it in passing;
* in soft constraint mode a candidate the graph does not allow, or blocks, is demoted by
  `role_penalty` (combined multiplicatively with an exclusion penalty); in hard mode the
  legs never returned it — except a document linked to no entity, whose role the graph
  cannot know (`unknown_mode="soft"`): it is kept and demoted by `role_penalty`;
* in either mode a candidate a *soft* verdict (a value grounding mapped with a confidence
  `c` below `MAP_HARD`) does not allow, or blocks, is demoted by `role_penalty × c`: the
  less sure the mapping, the less it weighs, and it never filters.

Penalties multiply the bounded fused score; suppressed candidates stay in the list, flagged,
so that explanations can say what happened to them.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..settings import SearchSettings
from .evidence import ExclusionEvidence
from .state import Restriction

__all__ = ["decide"]


def decide(
    candidates: Sequence[int],
    evidence: ExclusionEvidence,
    restriction: Restriction | None,
    settings: SearchSettings,
) -> tuple[dict[int, float], set[int]]:
    """(penalty per candidate in 0..1, suppressed candidates)."""
    penalties: dict[int, float] = {}
    suppressed: set[int] = set()
    hard_exclusions = settings.exclusion_mode == "hard"
    for d, s in evidence.strength.items():
        if hard_exclusions and s >= settings.exclusion_threshold:
            suppressed.add(d)
        else:
            penalties[d] = settings.exclusion_penalty * s
    if settings.constraint_mode == "soft" and restriction is not None:
        allowed, blocked = restriction.allowed, restriction.blocked
        for d in candidates:
            if (allowed is not None and d not in allowed) or d in blocked:
                penalties[d] = _combined(penalties.get(d, 0.0), settings.role_penalty)
    if settings.constraint_mode == "hard" and restriction is not None:
        # Kept though the graph cannot vouch for them: below every document it allows.
        for d in candidates:
            if d in restriction.unknown:
                penalties[d] = _combined(penalties.get(d, 0.0), settings.role_penalty)
    for soft in restriction.soft if restriction is not None else ():
        for d in candidates:
            if soft.violated_by(d):
                penalties[d] = _combined(penalties.get(d, 0.0),
                                         settings.role_penalty * soft.confidence)
    return penalties, suppressed


def _combined(penalty: float, more: float) -> float:
    """Penalties multiply what they keep: 1 − (1 − p)(1 − q)."""
    return 1 - (1 - penalty) * (1 - more)
