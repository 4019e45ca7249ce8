"""How a lexical leg applies allowed/blocked ordinals: inside the query, or afterwards.

A restrictive set (up to `MAX_IN_QUERY` ordinals) goes into the query, so it cannot starve
the leg of results; a larger, permissive one is applied to a result oversampled by the
inverse of the share of documents that pass — cheaper than a huge term set, and safe because
most documents pass.  Shared by the tantivy leg and the PostgreSQL one so that both return
the same hits.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

__all__ = ["MAX_IN_QUERY", "FilterPlan", "as_set", "plan_filters"]

MAX_IN_QUERY = 4_096


@dataclass(frozen=True)
class FilterPlan:
    #: ordinals the query itself must keep to (None: no restriction) or leave out
    allowed: AbstractSet[int] | None = None
    blocked: AbstractSet[int] = frozenset()
    #: ordinals applied to the fetched hits instead
    post_allowed: AbstractSet[int] | None = None
    post_blocked: AbstractSet[int] = frozenset()
    #: how many hits to fetch for k to survive the post-filter
    limit: int = 0

    def apply(self, hits: list[tuple[int, float]], k: int) -> list[tuple[int, float]]:
        if self.post_allowed is not None:
            hits = [(o, s) for o, s in hits if o in self.post_allowed]
        if self.post_blocked:
            hits = [(o, s) for o, s in hits if o not in self.post_blocked]
        return hits[:k]


def plan_filters(
    allowed: AbstractSet[int] | None, blocked: Iterable[int], *, k: int, n: int
) -> FilterPlan:
    """The plan for a top-`k` search over `n` documents.  The sets are read, never copied:
    they are a memoised verdict's, shared by every search with the same constraints."""
    blocked_set = as_set(blocked)
    if allowed is not None and blocked_set:
        allowed, blocked_set = allowed - blocked_set, frozenset()
    in_allowed: AbstractSet[int] | None = None
    in_blocked: AbstractSet[int] = frozenset()
    post_allowed: AbstractSet[int] | None = None
    post_blocked: AbstractSet[int] = frozenset()
    if allowed is not None:
        if len(allowed) <= MAX_IN_QUERY:
            in_allowed = allowed
        else:
            post_allowed = allowed
    if blocked_set:
        if len(blocked_set) <= MAX_IN_QUERY:
            in_blocked = blocked_set
        else:
            post_blocked = blocked_set
    limit = k
    if post_allowed is not None or post_blocked:
        n = max(1, n)
        share = len(post_allowed) / n if post_allowed is not None else 1 - len(post_blocked) / n
        limit = min(n, int(k / max(share, 0.05) * 1.5) + 1)
    return FilterPlan(in_allowed, in_blocked, post_allowed, post_blocked, limit)


def as_set(ordinals: Iterable[int]) -> AbstractSet[int]:
    """`ordinals` as a set: itself when it is one (no copy), else a new frozenset."""
    return ordinals if isinstance(ordinals, AbstractSet) else frozenset(ordinals)
