"""Linking documents to entities by a metadata field ("your schema, your words").

A user's drug reviews say which drug they review in `metadata["drug"]`, in the user's own
spelling; the text rarely names it.  With `link_fields=["drug"]` each review is about its
drug, so a search for drugs used for anxiety keeps only reviews of those drugs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from rolecall import (
    Document,
    Entity,
    Index,
    KnowledgeGraph,
    Relation,
    RelationConstraint,
    Retriever,
    RoleQuery,
    UsageError,
)
from rolecall.linking import FUZZY_THRESHOLD, LinkReport, link_value

DRUGS = {
    "sertraline": ["Zoloft"],
    "escitalopram": ["Lexapro"],
    "fluoxetine": ["Prozac"],
    "ibuprofen": ["Advil"],
    "zolpidem": ["Ambien"],
}
USED_FOR = [
    ("sertraline", "anxiety"), ("sertraline", "depression"), ("escitalopram", "anxiety"),
    ("fluoxetine", "depression"), ("ibuprofen", "pain"), ("zolpidem", "insomnia"),
]
#: (id, drug as the user wrote it, review); no review names its drug in the text.
REVIEWS: list[tuple[str, Any, str]] = [
    ("r1", "Sertraline", "Three months in and the panic attacks are much rarer now."),
    ("r2", "  sertraline ", "Nausea the first week, then calm; I worry far less."),
    ("r3", "ZOLOFT", "It took the edge off my constant worrying within a month."),
    ("r4", "Sertralin", "Helped my nerves before exams, with some trouble sleeping."),
    ("r5", "Lexapro", "My social nerves are finally manageable at work."),
    ("r6", "fluoxetine", "Lifted my mood after a long dark winter."),
    ("r7", "Ibuprofen", "Works for my back after a long day in the garden."),
    ("r8", ["Zolpidem"], "I fall asleep in twenty minutes instead of two hours."),
    ("r9", "Wellbutrin", "More energy, less appetite, and my mood is steadier."),
    ("r10", "Escitalopram", "Fewer racing thoughts at night; my worry is under control."),
]
ANXIETY_DRUG_REVIEWS = {"r1", "r2", "r3", "r4", "r5", "r10"}


def drug_kg() -> KnowledgeGraph:
    kg = KnowledgeGraph()
    for drug, aliases in DRUGS.items():
        kg.add_entity(Entity(id=drug, name=drug.capitalize(), type="drug", aliases=aliases))
    for condition in ("anxiety", "depression", "pain", "insomnia"):
        kg.add_entity(Entity(id=condition, name=condition, type="condition"))
    for drug, condition in USED_FOR:
        kg.add_relation(Relation(subject=drug, relation="used_for", object=condition))
    return kg


def reviews() -> list[Document]:
    return [Document(id=i, title="", text=text, metadata={"drug": drug, "rating": 8})
            for i, drug, text in REVIEWS]


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Index:
    root = tmp_path_factory.mktemp("linked") / "idx"
    return Index.build(root, reviews(), kg=drug_kg(), link_fields=["drug"], progress=False)


def about(index: Index, doc_id: str) -> list[str]:
    ordinal = index.ordinal(doc_id)
    assert ordinal is not None
    return index.links[ordinal].about


def anxiety_query() -> RoleQuery:
    return RoleQuery(text="a drug for anxiety", target_type=None,
                     relations=[RelationConstraint(relation="used_for", object="anxiety")])


def test_documents_are_about_their_drug(linked: Index) -> None:
    expected = {"r1": "sertraline", "r2": "sertraline", "r3": "sertraline",
                "r4": "sertraline", "r5": "escitalopram", "r6": "fluoxetine",
                "r7": "ibuprofen", "r8": "zolpidem", "r10": "escitalopram"}
    for doc_id, drug in expected.items():
        assert about(linked, doc_id) == [drug], doc_id
    assert about(linked, "r9") == []
    assert linked.link_fields == ("drug",)


def test_the_unknown_drug_is_counted_not_dropped(linked: Index) -> None:
    report = linked.link_report
    assert (report.documents, report.by_field, report.unlinked) == (10, 9, 1)
    assert report.by_explicit == report.by_text == 0
    drug = report.per_field["drug"]
    assert drug.values == 10 and drug.not_linked == {"unmatched": 1}
    assert drug.examples == ["Wellbutrin"] and drug.absent == 0
    assert drug.linked == {"exact": 6, "alias": 2, "fuzzy": 1}
    assert report.summary() == ("linked 9 of 10 documents by drug; 1 value unmatched, "
                                "e.g. 'Wellbutrin'; 1 document about no entity")
    # The manifest holds it, so a reader in another process sees the same counts.
    data = json.loads((linked.directory / "manifest.json").read_text())
    assert data["link_fields"] == ["drug"] and data["link_report"]["unlinked"] == 1
    assert LinkReport.from_json(data["link_report"]) == report


def test_a_fuzzy_link_records_its_method_and_confidence(linked: Index) -> None:
    ordinal = linked.ordinal("r4")
    assert ordinal is not None
    [fl] = linked.field_links(ordinal)
    assert (fl.field, fl.value, fl.entity_id, fl.method) == ("drug", "Sertralin",
                                                              "sertraline", "fuzzy")
    assert FUZZY_THRESHOLD <= fl.confidence < 0.9
    assert linked.link_report.per_field["drug"].fuzzy == [
        {"value": "Sertralin", "entity": "sertraline", "confidence": round(fl.confidence, 4)}]
    r9 = linked.ordinal("r9")
    assert r9 is not None
    assert [(f.entity_id, f.method) for f in linked.field_links(r9)] == [(None, "unmatched")]


def test_values_are_accepted_only_when_unambiguous_and_close() -> None:
    kg = drug_kg()
    # An added word ("XR") is a near miss, refused: it names the candidate it nearly was.
    near = link_value(kg, "drug", "Zoloft XR")
    assert near.entity_id is None and near.method == "below_threshold"
    assert near.candidates == ("sertraline",) and near.confidence < FUZZY_THRESHOLD
    kg.add_entity(Entity(id="citalopram", name="Citalopram", type="drug", aliases=["SSRI"]))
    kg.add_entity(Entity(id="paroxetine", name="Paroxetine", type="drug", aliases=["SSRI"]))
    shared = link_value(kg, "drug", "ssri")
    assert shared.entity_id is None and shared.method == "ambiguous"
    assert set(shared.candidates) == {"citalopram", "paroxetine"}
    assert link_value(kg, "drug", 42).method == "not_text"
    assert link_value(kg, "drug", "lexapro").entity_id == "escitalopram"


def test_add_links_new_documents_by_the_stored_fields(
    linked: Index, tmp_path: Path
) -> None:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(linked.root, root)
    new = Index.open(root).add([
        Document(id="r11", text="Steadier, finally.", metadata={"drug": "Prozac"}),
        Document(id="r12", text="Same as the plain one.", metadata={"drug": "Zoloft XR"}),
        Document(id="r13", text="No field at all.", metadata={}),
    ], progress=False)
    assert new.link_fields == ("drug",)
    assert about(new, "r11") == ["fluoxetine"] and about(new, "r12") == []
    report = new.link_report
    assert (report.documents, report.by_field, report.unlinked) == (13, 10, 3)
    drug = report.per_field["drug"]
    assert drug.examples == ["Wellbutrin", "Zoloft XR"] and drug.absent == 1
    assert drug.not_linked == {"unmatched": 1, "below_threshold": 1}


def test_hard_constraints_keep_only_reviews_of_anxiety_drugs(
    linked: Index, tmp_path: Path
) -> None:
    found = Retriever(linked).search(anxiety_query(), k=10, constraint_mode="hard",
                                     unknown_mode="hard")
    assert set(found.ids) == ANXIETY_DRUG_REVIEWS
    # By default the review of a drug the graph does not know is kept, below them all: the
    # graph cannot say it violates anything.
    kept = Retriever(linked).search(anxiety_query(), k=10, constraint_mode="hard")
    unknown = [h.id for h in kept.hits if h.id not in ANXIETY_DRUG_REVIEWS]
    assert set(kept.ids[: len(ANXIETY_DRUG_REVIEWS)]) == ANXIETY_DRUG_REVIEWS
    assert len(unknown) == 1 and all(h.explanation.penalty > 0 for h in kept.hits[-1:])
    assert any("link to no entity" in n for n in kept.plan.notes)
    # The same corpus and graph without link fields: no review is about a drug, so the
    # graph allows nothing — what the issue reported — and every review is unknown.
    plain = Index.build(tmp_path / "plain", reviews(), kg=drug_kg(), progress=False)
    assert all(not dl.about for dl in plain.links)
    assert plain.link_report.unlinked == 10
    strict = Retriever(plain).search(anxiety_query(), k=10, unknown_mode="hard")
    assert strict.ids == [] and strict.plan.allowed == 0


def test_retriever_build_passes_link_fields(tmp_path: Path) -> None:
    r = Retriever.build(tmp_path / "r", reviews(), kg=drug_kg(), link_fields="drug",
                        progress=False)
    assert isinstance(r.index, Index) and r.index.link_fields == ("drug",)
    with pytest.raises(UsageError, match="knowledge graph"):
        Index.build(tmp_path / "nokg", reviews(), link_fields=["drug"], progress=False)
    with pytest.raises(UsageError, match="entities"):
        Index.build(tmp_path / "ent", reviews(), kg=drug_kg(), link_fields=["entities"],
                    progress=False)


def test_an_index_written_before_link_fields_still_opens(linked: Index, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "legacy"
    shutil.copytree(linked.root, root)
    gen = root / (root / "CURRENT").read_text().strip()
    manifest = json.loads((gen / "manifest.json").read_text())
    for key in ("link_fields", "kg_digest", "link_report"):
        del manifest[key]
    (gen / "manifest.json").write_text(json.dumps(manifest))
    lines = [json.loads(line) for line in (gen / "links.jsonl").read_text().splitlines()]
    (gen / "links.jsonl").write_text("".join(
        json.dumps({k: v for k, v in line.items() if k != "fields"}) + "\n" for line in lines))
    old = Index.open(root)
    assert old.link_fields == () and old.manifest.link_report is None
    assert old.field_links(0) == [] and about(old, "r1") == ["sertraline"]
    # Derived from the stored links: nine documents about something, none by a field.
    report = old.link_report
    assert (report.documents, report.by_text, report.unlinked) == (10, 9, 1)
    assert old.built_with(drug_kg()) and not old.built_with(drug_kg(), ["drug"])
    assert not old.built_with(None)


def test_cli_index_prints_the_link_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rolecall.cli import main

    corpus, kg_file = tmp_path / "reviews.jsonl", tmp_path / "kg.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d.id, "text": d.text, "metadata": d.metadata})
                              + "\n" for d in reviews()), encoding="utf-8")
    kg = drug_kg()
    kg_file.write_text("".join(
        [json.dumps({"kind": "entity", **e.model_dump()}) + "\n" for e in kg.entities.values()]
        + [json.dumps({"kind": "relation", **r.model_dump()}) + "\n" for r in kg.relations]
    ), encoding="utf-8")
    out = tmp_path / "idx"
    assert main(["index", str(corpus), "--out", str(out), "--kg", str(kg_file),
                 "--link-field", "drug", "--no-progress"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == ("linked 9 of 10 documents by drug; 1 value unmatched, "
                           "e.g. 'Wellbutrin'; 1 document about no entity")
    assert Index.open(out).link_fields == ("drug",)
    assert main(["index", str(corpus), "--out", str(out), "--add", "--link-field", "drug"]) == 2
    assert "--link-field" in capsys.readouterr().err


def test_the_eval_index_is_rebuilt_when_graph_or_link_fields_differ(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rolecall.cli import _eval_index

    kg_file = tmp_path / "kg.jsonl"
    kg_file.write_text("".join(
        json.dumps({"kind": "entity", **e.model_dump()}) + "\n"
        for e in drug_kg().entities.values()), encoding="utf-8")
    ds = argparse.Namespace(name="reviews", documents=reviews())

    def index_for(kg: list[str], fields: list[str]) -> Index:
        args = argparse.Namespace(index=str(tmp_path / "eval"), rebuild=False, kg=kg,
                                  link_fields=fields, no_progress=True)
        index = _eval_index(args, ds)
        assert isinstance(index, Index)
        return index

    first = index_for([str(kg_file)], ["drug"])
    assert index_for([str(kg_file)], ["drug"]).directory == first.directory  # cached
    relinked = index_for([str(kg_file)], [])
    assert relinked.directory != first.directory and relinked.link_fields == ()
    assert "rebuilding" in capsys.readouterr().err
    without_graph = index_for([], [])
    assert without_graph.directory != relinked.directory and len(without_graph.kg) == 0


def test_postgres_links_by_the_same_fields(linked: Index) -> None:
    """The PostgreSQL backend links with the same function: same `about`, same report, and
    `add` and `copy_from` keep the fields.  Skipped where PostgreSQL cannot run."""
    pytest.importorskip("psycopg", reason="install rolecall[postgres] for this test")
    from rolecall.errors import BackendError, MissingDependencyError
    from rolecall_postgres import EmbeddedPostgres, PostgresIndex

    try:
        server = EmbeddedPostgres().start()
    except (BackendError, MissingDependencyError) as exc:
        pytest.skip(f"PostgreSQL cannot run here: {exc}")
    with server:
        with PostgresIndex.build(server.dsn, reviews(), kg=drug_kg(), schema="reviews",
                                 link_fields=["drug"], progress=False) as built:
            assert [built.links[i].about for i in range(len(built))] == [
                dl.about for dl in linked.links]
            assert built.link_fields == ("drug",)
            assert built.link_report is not None
            assert built.link_report.to_json() == linked.link_report.to_json()
            more = built.add([Document(id="r11", text="Steady.", metadata={"drug": "Prozac"})],
                             progress=False)
            assert more.link_fields == ("drug",) and more.links[10].about == ["fluoxetine"]
            assert more.link_report is not None and more.link_report.by_field == 10
        with PostgresIndex.copy_from(linked, server.dsn, schema="copied",
                                     progress=False) as copied:
            assert copied.link_fields == ("drug",)
            assert [copied.links[i].about for i in range(len(copied))] == [
                dl.about for dl in linked.links]
