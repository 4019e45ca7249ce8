"""Attribute filters over document metadata."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .query import AttributeFilter, Operator

__all__ = ["describe_filter", "matches", "matches_all"]


def _comparable(a: Any, b: Any) -> tuple[Any, Any] | None:
    if isinstance(a, bool) or isinstance(b, bool):
        return (a, b) if isinstance(a, bool) and isinstance(b, bool) else None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a, b
    if isinstance(a, (int, float)) and isinstance(b, str):
        try:
            return a, float(b)
        except ValueError:
            return None
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold(), b.casefold()
    return None


def matches(metadata: dict[str, Any], flt: AttributeFilter) -> bool:
    """Whether one document's metadata satisfies one filter; a missing field never matches
    (except for `ne`), and incomparable types never match rather than raising."""
    if flt.field not in metadata:
        return flt.op == Operator.NE
    value = metadata[flt.field]
    values = value if isinstance(value, list) else [value]
    want = flt.value
    if flt.op == Operator.IN:
        options = want if isinstance(want, list) else [want]
        return any(
            (pair := _comparable(v, o)) is not None and pair[0] == pair[1]
            for v in values
            for o in options
        )
    if flt.op == Operator.CONTAINS:
        needle = str(want).casefold()
        return any(needle in str(v).casefold() for v in values)
    if isinstance(want, list):
        return False
    results = []
    for v in values:
        pair = _comparable(v, want)
        if pair is None:
            results.append(flt.op == Operator.NE)
            continue
        a, b = pair
        results.append(
            {
                Operator.EQ: a == b,
                Operator.NE: a != b,
                Operator.LT: a < b,
                Operator.LE: a <= b,
                Operator.GT: a > b,
                Operator.GE: a >= b,
            }[flt.op]
        )
    return all(results) if flt.op == Operator.NE else any(results)


def matches_all(metadata: dict[str, Any], filters: Sequence[AttributeFilter]) -> bool:
    return all(matches(metadata, f) for f in filters)


def describe_filter(flt: AttributeFilter) -> str:
    return f"{flt.field} {flt.op.value} {flt.value!r}"
