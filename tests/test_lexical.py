from pathlib import Path

import pytest
from rolecall.backends.embedded.lexical import LexicalIndex, analyze, positioned_tokens


@pytest.fixture
def lexical(tmp_path: Path) -> LexicalIndex:
    ix = LexicalIndex.create(tmp_path / "lex")
    ix.add([
        (0, "Stravinsky", "The Rite of Spring premiered in Paris in 1913."),
        (1, "Notes", "A rite; spring came early that year."),
        (2, "Ballet", "Spring rite, reversed."),
        (3, "Firebird", "The Firebird premiered in Paris in 1910."),
    ])
    return ix


def test_positions_keep_the_gaps_stopwords_leave() -> None:
    assert positioned_tokens("The Rite of Spring") == [(1, "rite"), (3, "spring")]
    assert analyze("The Rite of Spring") == ["rite", "spring"]


def test_a_phrase_with_a_stopword_matches_the_phrase_only(lexical: LexicalIndex) -> None:
    # Before positions were kept, "rite of spring" was the phrase "rite spring": it missed
    # document 0, which says exactly that, and would have matched "rite spring".
    assert set(lexical.phrase_scores("rite of spring", [0, 1, 2, 3])) == {0}
    hits = lexical.search("premiered paris", 10, must_not_phrases=["Rite of Spring"])
    assert [o for o, _ in hits] == [3]


def test_analyzer_tokens_match_tantivys(lexical: LexicalIndex) -> None:
    text = "Thénardier's well-known café: 2.5 mg of aspirin_like compounds, in the 1900s"
    assert analyze(text) == lexical.tokens(text)


def test_filter_plan_keeps_small_sets_in_the_query_and_oversamples_for_large_ones() -> None:
    from rolecall.backends.filter_plan import MAX_IN_QUERY, plan_filters

    small = plan_filters({1, 2, 3}, {3}, k=10, n=100_000)
    assert small.allowed == {1, 2} and not small.blocked and small.limit == 10
    big = set(range(50_000))
    plan = plan_filters(big, (), k=10, n=100_000)
    assert plan.allowed is None and plan.post_allowed == big
    assert plan.limit == int(10 / 0.5 * 1.5) + 1  # enough hits survive a 50% filter
    hits = [(o, 1.0) for o in (99_999, 7, 60_000, 8)]
    assert plan.apply(hits, 10) == [(7, 1.0), (8, 1.0)]
    blocked = plan_filters(None, range(MAX_IN_QUERY + 1), k=5, n=10_000)
    assert blocked.post_blocked and not blocked.blocked
    assert blocked.apply([(1, 1.0), (MAX_IN_QUERY + 5, 0.5)], 5) == [(MAX_IN_QUERY + 5, 0.5)]
