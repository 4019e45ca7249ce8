"""Arbitrary text through the whole pipeline (rule rewrite -> ground -> legs -> fuse):
a result or a typed error, never anything else.  A longer run: ROLECALL_FUZZ_EXAMPLES=5000."""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rolecall import InvalidQueryError, Retriever

EXAMPLES = int(os.environ.get("ROLECALL_FUZZ_EXAMPLES", "150"))
SYNTAX = st.sampled_from(['"', "(", ")", ":", "AND", "OR", "NOT", "*", "~", "^", "\\", "'",
                          ";", "--", "DROP TABLE", "excluding", "without", "non-", "but not",
                          "treats", "causes", "headache", "drowsy", "Moses", "🤕", "中文", "\x00",
                          "\u202e", " ", "\n", "\t"])
QUERIES = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(SYNTAX, st.text(max_size=12)), max_size=30).map(" ".join),
)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(query=QUERIES, k=st.integers(min_value=-5, max_value=20_000))
def test_any_text_gives_results_or_a_typed_error(tiny: Retriever, query: str, k: int) -> None:
    try:
        result = tiny.search(query, k=k)
    except InvalidQueryError as exc:
        assert str(exc)  # says what to fix
        return
    assert len(result.hits) <= k
    assert all(0.0 <= h.score <= 1.0 for h in result.hits)
    assert len({h.id for h in result.hits}) == len(result.hits)


@settings(max_examples=max(10, EXAMPLES // 3), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(query=QUERIES, k=st.integers(min_value=-5, max_value=50))
def test_the_agent_too(tiny: Retriever, query: str, k: int) -> None:
    from rolecall import Agent

    try:
        result = Agent(tiny).search(query, k=k)
    except InvalidQueryError as exc:
        assert str(exc)
        return
    assert len(result.hits) <= k and result.plan.steps and result.plan.spent is not None
    assert len({h.id for h in result.hits}) == len(result.hits)
