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
    assert v.allowed == frozenset({3})
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


def test_link_prefers_explicit_ids_else_title_else_frequency(tiny_kg: KnowledgeGraph) -> None:
    assert tiny_kg.link("mentions Vasodil", "x", ["painrelief"]).about == ["painrelief"]
    text = "Vasodil once. Painrelief twice, Painrelief."
    # A title naming an entity states the subject; what the text repeats is a neighbour.
    titled = tiny_kg.link(text, "Clearhist")
    assert titled.about == ["clearhist"]
    assert titled.mentions["vasodil"] == 1 and titled.mentions["painrelief"] == 2
    # With a title that names nothing, repetition decides (and the short text's lead).
    assert tiny_kg.link(text, "Notes").about == ["painrelief", "vasodil"]


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


# -- TSV headers: detected by shape, or declared --------------------------------------------


def _load_tsv(tmp_path: Path, content: str, **kw: object) -> KnowledgeGraph:
    (tmp_path / "t.tsv").write_text(content, encoding="utf-8")
    return KnowledgeGraph.load([tmp_path / "t.tsv"], **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("content, header, source, triples", [
    ("subject\trelation\tobject\nx\tlikes\tz\n", ["subject", "relation", "object"],
     "column name", 1),
    ("drug\trelation\tcondition\naspirin\tused_for\theadache\nibuprofen\tused_for\tfever\n",
     ["drug", "relation", "condition"], "column name", 2),
    ("film\tpredicate\tperson\nvertigo\tdirected_by\thitchcock\n",
     ["film", "predicate", "person"], "column name", 1),
    ("head\tlabel\ttail\nvertigo\tdirected_by\thitchcock\n", ["head", "label", "tail"],
     "end names", 1),
    # by shape: a middle cell used nowhere else, written unlike the repeated relation names
    ("Drug\tInteracts with\tDrug\nwarfarin\tinteracts_with\taspirin\n"
     "aspirin\tinteracts_with\tibuprofen\nibuprofen\tinteracts_with\twarfarin\n",
     ["Drug", "Interacts with", "Drug"], "shape", 3),
    # no header: the first row's relation repeats below
    ("aspirin\ttreats\theadache\nibuprofen\ttreats\tfever\n", None, None, 2),
    # no header: a rare relation first, written like the others, stays a fact
    ("warfarin\tinteracts_with\tvitamin_k\naspirin\ttreats\theadache\n"
     "ibuprofen\ttreats\tpain\nparacetamol\ttreats\tfever\n", None, None, 4),
    # a one-row file is a fact, unless the row names columns
    ("aspirin\ttreats\theadache\n", None, None, 1),
    ("subject\trelation\tobject\n", ["subject", "relation", "object"], "column name", 0),
    # a `#` first line with three cells declares the header
    ("#drug\trelation\tcondition\naspirin\tused_for\theadache\n",
     ["drug", "relation", "condition"], "comment", 1),
])
def test_tsv_header_is_detected_by_shape(
    tmp_path: Path, content: str, header: list[str] | None, source: str | None, triples: int
) -> None:
    kg = _load_tsv(tmp_path, content)
    (rep,) = kg.load_report.files
    assert (rep.header, rep.header_source) == (header, source)
    assert len(kg.relations) == sum(rep.relations.values()) == triples
    assert "relation" not in kg.entities and "subject" not in kg.entities


def test_tsv_header_names_the_types_of_the_ends(tmp_path: Path) -> None:
    kg = _load_tsv(tmp_path, "drug\trelation\tcondition\naspirin\tused_for\theadache\n"
                             "ibuprofen\tused_for\tfever\n")
    assert kg.entities["aspirin"].type == "drug" and kg.entities["fever"].type == "condition"
    rt = kg.relation_type("used_for")
    assert (rt.subject_type, rt.object_type) == ("drug", "condition")
    assert kg.load_report.files[0].relation_types == ["used_for"]
    generic = _load_tsv(tmp_path, "subject\trelation\tobject\nx1\tlikes\tz1\n")
    assert generic.entities["x1"].type is None and "likes" not in generic.schema


def test_declarations_elsewhere_win_over_a_headers_types(tmp_path: Path) -> None:
    (tmp_path / "k.jsonl").write_text(
        '{"kind": "entity", "id": "drug", "type": "type"}\n'
        '{"kind": "entity", "id": "aspirin", "type": "medicine"}\n'
        '{"kind": "relation", "name": "used_for", "subject_type": "medicine"}\n',
        encoding="utf-8")
    (tmp_path / "t.tsv").write_text("drug\trelation\tcondition\naspirin\tused_for\theadache\n",
                                    encoding="utf-8")
    # the TSV comes first: files may come in any order
    kg = KnowledgeGraph.load([tmp_path / "t.tsv", tmp_path / "k.jsonl"])
    assert kg.load_report.files[0].header == ["drug", "relation", "condition"]  # despite `drug`
    assert kg.entities["aspirin"].type == "medicine" and kg.entities["headache"].type == "condition"
    rt = kg.relation_type("used_for")
    assert (rt.subject_type, rt.object_type) == ("medicine", "condition")
    assert any("subject_type stays 'medicine'" in n for n in kg.load_report.files[0].notes)


def test_a_declared_header_wins(tmp_path: Path) -> None:
    content = "drug\ttreats\tcondition\naspirin\ttreats\theadache\n"
    assert _load_tsv(tmp_path, content).load_report.files[0].header is None  # `treats` repeats
    kg = _load_tsv(tmp_path, content, header=True)
    assert kg.load_report.files[0].header_source == "declared" and len(kg.relations) == 1
    assert kg.entities["aspirin"].type == "drug"
    literal = _load_tsv(tmp_path, "subject\trelation\tobject\nx1\tlikes\tz1\n", header=False)
    assert "subject" in literal.entities and len(literal.relations) == 2
    commented = _load_tsv(tmp_path, "#drug\trelation\tcondition\na1\tr\tb1\n", header=False)
    assert commented.load_report.files[0].header is None and commented.entities["a1"].type is None


def test_malformed_rows_still_raise_after_a_header(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeGraphError) as err:
        _load_tsv(tmp_path, "subject\trelation\tobject\nx1\tlikes\n")
    assert err.value.line == 2


def test_csv_without_header_when_declared(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("aspirin,Aspirin,drug,ASA|acetylsalicylic acid,\n",
                                    encoding="utf-8")
    with pytest.raises(KnowledgeGraphError, match="header=False"):
        KnowledgeGraph.load([tmp_path / "e.csv"])
    kg = KnowledgeGraph.load([tmp_path / "e.csv"], header=False)
    assert kg.entities["aspirin"].aliases == ["ASA", "acetylsalicylic acid"]
    assert kg.load_report.files[0].header is None


# -- the load report --------------------------------------------------------------------------


def test_load_report_counts_skips_and_notes(tmp_path: Path) -> None:
    (tmp_path / "k.jsonl").write_text(
        '{"kind": "entity", "id": "aspirin", "alias": ["ASA"]}\n'
        '{"kind": "entity", "id": "headache"}\n'
        '{"kind": "relation", "subject": "aspirin", "relation": "treats", "object": "headache"}\n'
        '{"kind": "entity", "id": "aspirin", "type": "drug"}\n', encoding="utf-8")
    (tmp_path / "t.tsv").write_text("# comments and blank lines are not skipped rows\n\n"
                                    "aspirin\ttreats\theadache\taspirin.org\n"
                                    "aspirin\tcauses\tnausea\n", encoding="utf-8")
    kg = KnowledgeGraph.load([tmp_path / "k.jsonl", tmp_path / "t.tsv"])
    jsonl, tsv = kg.load_report.files
    assert (jsonl.format, jsonl.entities, dict(jsonl.relations)) == ("jsonl", 3, {"treats": 1})
    assert any("alias (first at line 1)" in n for n in jsonl.notes)  # a typo is not silent
    assert any("'aspirin' at line 4 replaces its declaration at line 1" in n for n in jsonl.notes)
    assert (tsv.entities_created, dict(tsv.relations)) == (1, {"causes": 1})
    assert [(s.line, s.reason) for s in tsv.skipped] == [(3, f"duplicate of {tmp_path}/k.jsonl:3")]
    assert any("after the third are ignored" in n for n in tsv.notes)
    assert tsv.summary().startswith(f"{tmp_path}/t.tsv (tsv): no header; 0 entities (+1 from")
    assert "1 row skipped" in tsv.summary()
    text = str(kg.load_report)
    assert text.splitlines()[0] == jsonl.summary() and "line 3: skipped, duplicate of" in text
    assert kg.load_report.summary() == f"{jsonl.summary()}\n{tsv.summary()}"


def test_load_all_formats_round_trips_the_new_keys(tmp_path: Path) -> None:
    kg = _load_tsv(tmp_path, "drug\trelation\tcondition\naspirin\tused_for\theadache\n")
    again = KnowledgeGraph.from_json(kg.to_json())
    assert again.load_report == kg.load_report and again.short_doc_words == kg.short_doc_words
    assert again.entities == kg.entities and again.schema == kg.schema
    old = kg.to_json()
    del old["load_report"], old["short_doc_words"], old["schema"]  # a kg.json from before
    legacy = KnowledgeGraph.from_json(old)
    assert legacy.load_report.files == [] and legacy.short_doc_words == 60
    assert KnowledgeGraph().to_json().get("load_report") is None  # built in code: no report


# -- aliases that would match almost everywhere ----------------------------------------------


def test_generic_aliases_are_dropped_reported_and_warned_once(tmp_path: Path) -> None:
    (tmp_path / "k.jsonl").write_text(
        '{"kind": "entity", "id": "aspirin", "aliases": ["the", "ASA", "it", "x", "2", "of the"]}\n'
        '{"kind": "entity", "id": "it", "name": "It"}\n', encoding="utf-8")
    with pytest.warns(UserWarning, match=r"dropped 5 aliases that would match almost any text"):
        kg = KnowledgeGraph.load([tmp_path / "k.jsonl"])
    assert kg.entities["aspirin"].aliases == ["ASA"]
    (rep,) = kg.load_report.files
    assert [(d.entity, d.alias, d.reason) for d in rep.aliases_dropped] == [
        ("aspirin", "the", "a common English word"), ("aspirin", "it", "a common English word"),
        ("aspirin", "x", "one character"), ("aspirin", "2", "a number"),
        ("aspirin", "of the", "common English words only")]
    assert "it" in kg.entities and kg.entities["it"].name == "It"  # a name is never dropped...
    assert kg.link("It is what it is, and it is the same.").about == []  # ...but never matched
    assert any("never matched in text" in n and "'it'" in n for n in rep.notes)


def test_an_alias_the_does_not_link_every_document() -> None:
    kg = KnowledgeGraph()  # built in code: nothing to report, but nothing matched either
    kg.add_entity({"id": "aspirin", "aliases": ["the", "ASA"]})
    assert kg.find_mentions("the cat sat on the mat; the end") == []
    assert kg.link("The cat. The dog. The end.", "The news").about == []
    assert kg.link("ASA relieves pain.").about == ["aspirin"]
    assert kg.lookup("the") == []


# -- aboutness --------------------------------------------------------------------------------

_FILLER = " ".join(["The committee met on Tuesday and discussed the budget at length."] * 8)


def test_a_short_untitled_document_is_about_what_its_first_sentence_names(
    tiny_kg: KnowledgeGraph,
) -> None:
    assert tiny_kg.link("Painrelief relieves headache.").about == ["headache", "painrelief"]
    # only the lead: a single mention later in a short text is not what it is about
    assert tiny_kg.link("Rest helps. Painrelief also does.").about == []


def test_a_long_document_naming_an_entity_once_in_passing_is_not_about_it(
    tiny_kg: KnowledgeGraph,
) -> None:
    deep = f"{_FILLER} A member had taken Painrelief. {_FILLER}"
    assert tiny_kg.link(deep).about == []
    assert tiny_kg.link(f"Painrelief was on the table. {_FILLER}").about == []  # lead, but long
    assert tiny_kg.link(f"{_FILLER} Painrelief. {_FILLER} Painrelief.").about == ["painrelief"]


def test_title_and_explicit_ids_still_win(tiny_kg: KnowledgeGraph) -> None:
    # the title names the subject; the lead's other entity is a neighbour
    assert tiny_kg.link("Unlike Vasodil, it does not cause headache.", "Clearhist").about == [
        "clearhist"]
    assert tiny_kg.link(f"{_FILLER} {_FILLER}", "Clearhist").about == ["clearhist"]
    assert tiny_kg.link("Painrelief relieves headache.", "", ["vasodil"]).about == ["vasodil"]
    narrow = KnowledgeGraph(short_doc_words=2)
    for e in ("painrelief", "headache"):
        narrow.add_entity({"id": e})
    assert narrow.link("Painrelief relieves headache.").about == []
