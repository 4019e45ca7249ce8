"""`BoundedMemo`: the per-generation memo of graph verdicts and filter results.

A generation of an index never changes, and chat traffic repeats the same few constraint
patterns, so a backend memoises what it computed for a key.  Bounded, oldest first out:
a long-running server sees unbounded distinct queries.  Thread-safe enough for readers:
a race computes a value twice, never returns a wrong one.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

from ..query import AttributeFilter, RelationConstraint

__all__ = ["BoundedMemo", "filters_key", "verdict_key"]

V = TypeVar("V")


class BoundedMemo(Generic[V]):
    """`get(key, compute)`: the memoised value, computing and storing it on a miss."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: dict[Hashable, V] = {}

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        try:
            return self._values[key]
        except KeyError:
            pass
        value = compute()
        if len(self._values) >= self.size:
            self._values.pop(next(iter(self._values)), None)
        self._values[key] = value
        return value

    def clear(self) -> None:
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)


def verdict_key(target_type: str | None, relations: Sequence[tuple[RelationConstraint, str]]
                ) -> Hashable:
    """The memo key of a graph verdict: the grounded constraints, exactly."""
    return (target_type, tuple((rc.model_dump_json(), o) for rc, o in relations))


def filters_key(filters: Sequence[AttributeFilter]) -> Hashable:
    """The memo key of an attribute-filter result."""
    return tuple(f.model_dump_json() for f in filters)
