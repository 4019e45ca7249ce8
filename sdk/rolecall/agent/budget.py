"""Per-search limits for the agent loop: LLM calls, tokens and wall time.

The defaults allow one rewrite and one verification call, which is what the local 1.5B model
can afford inside a chatbot's turn.  A step that would exceed a limit does not run; the plan
says which limit stopped it (`Spend.exhausted`).  Limits are checked before each step and the
remaining time is passed down as the LLM call's deadline, so a slow or failing provider
cannot overrun the budget by more than one request's timeout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..errors import InvalidQueryError
from ..explain import Spend

__all__ = ["Budget", "BudgetTracker"]


@dataclass(frozen=True)
class Budget:
    """Limits for one agent search (`None` = unlimited)."""

    max_llm_calls: int | None = 2
    max_tokens: int | None = 6_000
    max_seconds: float | None = 60.0

    def __post_init__(self) -> None:
        for name in ("max_llm_calls", "max_tokens", "max_seconds"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise InvalidQueryError(f"Budget.{name} must be a number >= 0 or None, got {v!r}")


@dataclass
class BudgetTracker:
    """Running spend of one search against a Budget."""

    budget: Budget
    started: float = field(default_factory=time.perf_counter)
    llm_calls: int = 0
    tokens: int = 0
    exhausted: list[str] = field(default_factory=list)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def remaining_seconds(self) -> float | None:
        if self.budget.max_seconds is None:
            return None
        return max(0.0, self.budget.max_seconds - self.elapsed())

    def allows_llm_call(self, calls: int = 1) -> bool:
        """Whether `calls` more LLM calls fit; records the limit that says no."""
        b = self.budget
        if b.max_llm_calls is not None and self.llm_calls + calls > b.max_llm_calls:
            return self._refuse("llm_calls")
        if b.max_tokens is not None and self.tokens >= b.max_tokens:
            return self._refuse("tokens")
        remaining = self.remaining_seconds()
        if remaining is not None and remaining <= 0:
            return self._refuse("seconds")
        return True

    def charge(self, calls: int, tokens: int) -> None:
        self.llm_calls += calls
        self.tokens += tokens

    def spend(self) -> Spend:
        return Spend(
            llm_calls=self.llm_calls,
            tokens=self.tokens,
            seconds=round(self.elapsed(), 3),
            exhausted=list(self.exhausted),
        )

    def _refuse(self, limit: str) -> bool:
        if limit not in self.exhausted:
            self.exhausted.append(limit)
        return False
