from typing import Any

import pytest
from rolecall import (
    AttributeFilter,
    InvalidQueryError,
    Operator,
    RelationConstraint,
    Retriever,
    RoleQuery,
    SearchSettings,
)


def test_role_query_filters_both_legs(tiny: Retriever) -> None:
    res = tiny.search("a drug that causes headaches", k=5, unknown_mode="hard")
    assert res.ids == ["b"]
    assert res.plan.legs == ["lexical", "dense"] and res.plan.allowed == 1
    # By default the pages linked to no entity (Aaron, Moses) are kept, demoted below it:
    # the graph cannot know their role, so it does not call them violators.
    kept = tiny.search("a drug that causes headaches", k=5)
    assert kept.ids[0] == "b" and set(kept.ids[1:]) == {"f", "g"}
    assert all(h.explanation.penalty == pytest.approx(0.9) for h in kept.hits[1:])
    assert any("2 documents link to no entity" in n for n in kept.plan.notes)
    hit = res.hits[0]
    assert {ls.leg for ls in hit.explanation.legs} == {"lexical", "dense"}
    assert all(c.satisfied for c in hit.explanation.checks)
    assert 0 < hit.score <= 1


def test_plain_search_shows_the_association_error(tiny: Retriever) -> None:
    plain = tiny.search(RoleQuery.plain("a drug that treats pain like headaches"), k=3)
    assert "b" in plain.ids[:3]  # the drug that *causes* headaches ranks with the remedy
    role = tiny.search("a drug that treats pain like headaches", k=3, unknown_mode="hard")
    assert role.ids == ["a"]


def test_soft_constraints_demote_instead_of_dropping(tiny: Retriever) -> None:
    res = tiny.search("a drug that causes headaches", k=7, constraint_mode="soft")
    assert res.ids[0] == "b" and len(res.ids) > 1
    others = [h for h in res.hits if h.id != "b"]
    assert all(h.explanation.penalty >= 0.9 for h in others)


def test_exclusion_soft_and_hard(tiny: Retriever) -> None:
    soft = tiny.search("Aaron, but don't mention Moses", k=3)
    assert soft.ids[0] == "f"
    moses = [h for h in soft.hits if h.id == "g"]
    if moses:
        assert moses[0].explanation.penalty > 0
        assert any(c.kind == "exclusion" and not c.satisfied for c in moses[0].explanation.checks)
    hard = tiny.search("Aaron, but don't mention Moses", k=7, exclusion_mode="hard")
    # Moses's page is suppressed; Aaron's, which names Moses in passing, is not.
    assert "g" not in hard.ids and hard.ids[0] == "f"
    assert hard.plan.exclusion_mode == "hard"


def test_attribute_filters_and_unresolved_fields(tiny: Retriever) -> None:
    q = RoleQuery(text="allergy medicine", filters=[AttributeFilter(field="year", op=Operator.GT,
                                                                     value=2000)])
    assert tiny.search(q, k=5).ids == ["d"]
    bad = RoleQuery(text="allergy medicine", filters=[AttributeFilter(field="nope", value=1)])
    res = tiny.search(bad, k=5)
    assert len(res.ids) > 1  # an unknown field is reported, never enforced
    assert any(g.slot == "filters[0]" and not g.resolved for g in res.plan.grounding)
    assert any("unresolved" in n for n in res.plan.notes)


def test_unresolved_relation_object_is_not_enforced(tiny: Retriever) -> None:
    q = RoleQuery(text="x", relations=[RelationConstraint(relation="treats", object="zzqx")])
    res = tiny.search(q, k=3)
    assert res.plan.allowed is None and len(res.hits) == 3
    assert [g.value for g in res.plan.unresolved] == ["zzqx"]


def test_weights_change_the_ranking(tiny: Retriever) -> None:
    lex = tiny.search(RoleQuery.plain("headaches"), k=7, weights={"lexical": 1, "dense": 0})
    only = tiny.search(RoleQuery.plain("headaches"), k=7, legs=("lexical",))
    assert lex.ids[: len(only.ids)] == only.ids


def test_min_score_threshold(tiny: Retriever) -> None:
    res = tiny.search(RoleQuery.plain("headaches"), k=7, min_score=0.5)
    assert res.hits and all(h.score >= 0.5 for h in res.hits)


@pytest.mark.parametrize("query, kwargs", [
    ("", {}), ("   \n\t", {}), ("x" * 5000, {}), ("ok", {"k": 0}), ("ok", {"k": -3}),
    ("ok", {"k": 10**9}), ("ok", {"legs": ("sparse",)}), ("ok", {"exclusion_mode": "maybe"}),
    ("ok", {"nonsense": 1}), ("ok", {"weights": {"dense": -1}}),
])
def test_bad_input_raises_typed_errors(tiny: Retriever, query: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidQueryError):
        tiny.search(query, **kwargs)


def test_non_string_query_and_bad_history(tiny: Retriever) -> None:
    with pytest.raises(InvalidQueryError):
        tiny.search(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidQueryError, match="history"):
        tiny.search("ok", history=[{"role": "robot", "content": "x"}])


def test_query_syntax_is_plain_text(tiny: Retriever) -> None:
    for q in ['"unbalanced', "title:Moses AND (", "*", "a~2 OR b^3", "'; DROP TABLE docs; --"]:
        res = tiny.search(q, k=3)
        assert isinstance(res.hits, list)


def test_settings_at_construction_overridable_per_call(tiny_index_path) -> None:  # type: ignore[no-untyped-def]
    r = Retriever.open(tiny_index_path, settings=SearchSettings(k=2))
    assert len(r.search(RoleQuery.plain("drug")).hits) == 2
    assert len(r.search(RoleQuery.plain("drug"), k=4).hits) == 4
    r2 = Retriever.open(tiny_index_path, k=1)
    assert len(r2.search(RoleQuery.plain("drug")).hits) == 1


def test_json_shape(tiny: Retriever) -> None:
    d = tiny.search("a drug that causes headaches").to_json_dict()
    assert set(d) == {"hits", "plan", "degraded"}
    assert {"id", "score", "explanation"} <= set(d["hits"][0])
    assert d["plan"]["query"]["target_type"] == "drug"


def test_explain_document_for_a_missing_hit(tiny: Retriever) -> None:
    checks = tiny.explain_document("a drug that causes headaches", "a")
    assert any(c.kind == "relation" and not c.satisfied for c in checks)
    with pytest.raises(InvalidQueryError):
        tiny.explain_document("x", "not-a-doc")
