from pathlib import Path

import pytest
from rolecall import Direction, KnowledgeGraph, KnowledgeGraphError, Polarity, RelationConstraint
from rolecall.graph import DocLinks


def rc(rel: str, obj: str, **kw: object) -> RelationConstraint:
    return RelationConstraint(relation=rel, object=obj, **kw)  # type: ignore[arg-type]


def test_is_a_closure_and_types(tiny_kg: KnowledgeGraph) -> None:
    assert tiny_kg.has_type("sleepyhist", "drug")
    assert tiny_kg.has_type("sleepyhist", "antihistamine")
    assert not tiny_kg.has_type("painrelief", "antihistamine")
    assert tiny_kg.descendants("pain") == {"headache"}
    assert "headache" not in tiny_kg.ancestors("pain")


def test_relation_direction_descendants_and_hops(tiny_kg: KnowledgeGraph) -> None:
    # headache is a pain, so a drug for pain holds for "treats pain"; not the other way round.
    assert tiny_kg.holds("painrelief", rc("treats", "pain"), "pain")
    assert not tiny_kg.holds("painrelief", rc("treats", "headache"), "headache")
    assert tiny_kg.holds("vasodil", rc("causes", "pain"), "pain")
    # object direction: what is caused *by* vasodil, seen from the symptom.
    assert tiny_kg.holds("headache", rc("causes", "vasodil", direction=Direction.OBJECT), "vasodil")
    assert not tiny_kg.holds("vasodil", rc("treats", "headache"), "headache")


def test_k_hop() -> None:
    kg = KnowledgeGraph()
    for e in ("a", "b", "c"):
        kg.add_entity({"id": e})
    kg.add_relation({"subject": "a", "relation": "part_of", "object": "b"})
    kg.add_relation({"subject": "b", "relation": "part_of", "object": "c"})
    assert not kg.holds("a", rc("part_of", "c"), "c")
    assert kg.holds("a", rc("part_of", "c", max_hops=2), "c")


def test_evaluate_allows_and_blocks_with_reasons(tiny_kg: KnowledgeGraph) -> None:
    links = [DocLinks(about=["painrelief"]), DocLinks(about=["vasodil"]),
             DocLinks(about=["sleepyhist"]), DocLinks(about=["clearhist"]), DocLinks(about=[])]
    v = tiny_kg.evaluate(links, target_type="drug",
                         relations=[(rc("treats", "allergy"), "allergy"),
                                    (rc("causes", "drowsiness", polarity=Polarity.MUST_NOT),
                                     "drowsiness")])
    assert v.allowed == {3}
    assert v.blocked == {2: "sleepyhist causes drowsiness"}
    none = tiny_kg.evaluate(links, target_type=None, relations=[])
    assert none.allowed is None and not none.active
    checks = tiny_kg.explain_doc(links[2], target_type="drug",
                                 relations=[(rc("causes", "drowsiness",
                                                polarity=Polarity.MUST_NOT), "drowsiness")])
    assert [c.satisfied for c in checks] == [True, False]
    assert "sleepyhist causes drowsiness" in checks[1].evidence


def test_mentions_are_whole_word_longest_match() -> None:
    kg = KnowledgeGraph()
    kg.add_entity({"id": "pain", "name": "pain"})
    kg.add_entity({"id": "back_pain", "name": "back pain"})
    kg.add_entity({"id": "cafe", "name": "Café"})
    found = [m[0] for m in kg.find_mentions("Back pain and painting, pain; a CAFE")]
    assert found == ["back_pain", "pain", "cafe"]


def test_link_prefers_explicit_ids_else_title_and_frequency(tiny_kg: KnowledgeGraph) -> None:
    assert tiny_kg.link("mentions Vasodil", "x", ["painrelief"]).about == ["painrelief"]
    auto = tiny_kg.link("Vasodil once. Painrelief twice, Painrelief.", "Clearhist")
    assert auto.about == ["clearhist", "painrelief"]
    assert auto.mentions["vasodil"] == 1


def test_lookup_exact_alias_fuzzy(tiny_kg: KnowledgeGraph) -> None:
    assert tiny_kg.lookup("headache")[0][:2] == ("headache", "exact")
    assert tiny_kg.lookup("Headaches")[0][:2] == ("headache", "alias")
    fuzzy = tiny_kg.lookup("sleepyhistt")
    assert fuzzy and fuzzy[0][0] == "sleepyhist" and fuzzy[0][1] == "fuzzy"
    assert tiny_kg.lookup("zzzz") == []


def test_load_all_formats(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("id,name,type,aliases,is_a\nx,X,thing,ex|eks,\n"
                                    "y,Y,thing,,x\n", encoding="utf-8")
    (tmp_path / "t.tsv").write_text("subject\trelation\tobject\nx\tlikes\tz\n", encoding="utf-8")
    (tmp_path / "k.jsonl").write_text(
        '{"kind": "entity", "id": "w", "type": "thing"}\n'
        '{"kind": "relation", "subject": "w", "relation": "likes", "object": "x"}\n',
        encoding="utf-8")
    kg = KnowledgeGraph.load([tmp_path / "k.jsonl", tmp_path / "e.csv", tmp_path / "t.tsv"])
    assert kg.entities["x"].aliases == ["ex", "eks"]
    assert kg.has_type("y", "x")
    assert "z" in kg.entities  # a TSV triple's undeclared end becomes an entity
    assert sorted(kg.relation_names()) == ["likes"]
    again = KnowledgeGraph.from_json(kg.to_json())
    assert again.entities.keys() == kg.entities.keys() and len(again.relations) == 2


@pytest.mark.parametrize("name, content, line, fragment", [
    ("a.jsonl", '{"kind": "entity", "id": "a"}\n{oops\n', 2, "not valid JSON"),
    ("a.jsonl", '{"kind": "relation", "subject": "a", "relation": "r", "object": "b"}\n', 1,
     "unknown entity"),
    ("a.jsonl", '{"kind": "thing"}\n', 1, "unknown kind"),
    ("a.jsonl", '{"kind": "entity", "id": ""}\n', 1, "id"),
    ("a.tsv", "a\tb\n", 1, "subject<TAB>relation<TAB>object"),
])
def test_bad_files_name_the_line(
    tmp_path: Path, name: str, content: str, line: int, fragment: str
) -> None:
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    with pytest.raises(KnowledgeGraphError) as err:
        KnowledgeGraph.load([p])
    assert err.value.line == line and fragment in str(err.value)


def test_unknown_format_and_missing_parent(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("<x/>", encoding="utf-8")
    with pytest.raises(KnowledgeGraphError, match="unknown knowledge-graph format"):
        KnowledgeGraph.load([tmp_path / "a.xml"])
    (tmp_path / "b.jsonl").write_text('{"id": "a", "is_a": ["ghost"]}\n', encoding="utf-8")
    with pytest.raises(KnowledgeGraphError, match="is_a names unknown"):
        KnowledgeGraph.load([tmp_path / "b.jsonl"])
