"""Checks of numeric arguments that name the argument and its range (`InvalidSettingError`).

Used by every place that takes a number from a caller: search settings, the LLM client,
the index writer.  A bool is refused where a number is asked for (`depth=True` is a
mistake, not 1), and so is anything not finite.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import InvalidSettingError

__all__ = ["check_integer", "check_real"]


def check_integer(name: str, value: Any, low: int, high: int) -> None:
    # bool is an int subclass: `depth=True` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidSettingError(name, value, f"an integer from {low:,} to {high:,}")


def check_real(name: str, value: Any, low: float, high: float) -> None:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and low <= value <= high
    )
    if not ok:
        raise InvalidSettingError(name, value, f"a finite number from {low:g} to {high:g}")
