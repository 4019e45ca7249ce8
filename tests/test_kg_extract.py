"""`rolecall kg extract`: a grounded graph from a corpus.

Unit tests run against a scripted OpenAI-compatible server (`FakeLLM`): replies in document
order, so each test states what "the model" said and checks what was kept.  One test replays
a cassette recorded from the real local model (`pytest.mark.llm`) and checks only what any
real answer must satisfy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rolecall import Document, Index, KnowledgeGraph, LLMClient
from rolecall.cli import main
from rolecall.demo import demo_data_dir
from rolecall.documents import read_corpus
from rolecall.errors import ConfigurationError
from rolecall.extract import (
    ExtractionResult,
    ExtractionSchema,
    RelationSpec,
    extract_graph,
)
from rolecall.extract.ground import negates
from rolecall.extract.text import FoldedText, fold_key, snake
from rolecall.llm.kvcache import SqliteCache
from rolecall.testing import recorded_llm

from .conftest import CASSETTES, LOCAL_MODEL
from .fake_llm import FakeLLM

SCHEMA = ExtractionSchema.from_specs(relations=["treats:drug:symptom", "causes:drug:symptom"])

DOCS = [
    Document(id="p1", title="Paracetamol", text="Paracetamol, called acetaminophen in the "
             "United States, relieves headaches and lowers a fever. Taking too much can cause "
             "liver damage."),
    Document(id="p2", title="Acetaminophen and alcohol", text="Acetaminophen taken with "
             "alcohol causes liver damage. It does not cause drowsiness."),
    Document(id="p3", title="Xylodrin", text="Xylodrin eases back pain. Ask at the hospital."),
]


def entity(name: str, typ: str, *aliases: str) -> dict[str, Any]:
    return {"name": name, "type": typ, "aliases": list(aliases)}


def fact(evidence: str, subject: str, relation: str, obj: str) -> dict[str, str]:
    return {"evidence": evidence, "subject": subject, "relation": relation, "object": obj}


def reply(entities: list[dict[str, Any]], relations: list[dict[str, str]]) -> tuple[str, str]:
    return ("reply", json.dumps({"entities": entities, "relations": relations}))


REPLIES = [
    reply([entity("Paracetamol", "drug", "acetaminophen"), entity("headaches", "symptom"),
           entity("fever", "symptom"), entity("liver damage", "symptom")],
          [fact("relieves headaches", "Paracetamol", "treats", "headaches"),
           fact("lowers a fever", "Paracetamol", "treats", "fever"),
           fact("Paracetamol cures cancer", "Paracetamol", "treats", "cancer"),  # invented
           fact("Taking too much can cause liver damage", "Paracetamol", "causes",
                "liver damage")]),
    reply([entity("Acetaminophen", "drug"), entity("liver damage", "symptom"),
           entity("drowsiness", "symptom"), entity("Spain", "place")],  # Spain: not in text
          [fact("Acetaminophen taken with alcohol causes liver damage", "Acetaminophen",
                "causes", "liver damage"),
           fact("It does not cause drowsiness", "Acetaminophen", "causes", "drowsiness")]),
    reply([entity("Xylodrin", "drug"), entity("back pain", "symptom"),
           entity("hospital", "place")],  # a type the schema does not have
          [fact("Xylodrin eases back pain", "Xylodrin", "treats", "back pain"),
           fact("Xylodrin eases back pain", "Xylodrin", "prevents", "back pain"),
           fact("Xylodrin eases back pain", "back pain", "treats", "Xylodrin")]),
]


def client(api_base: str) -> LLMClient:
    return LLMClient("openai/fake", api_base=api_base, timeout=5.0, max_retries=0)


def run(script: list[tuple[Any, ...]], docs: list[Document] = DOCS, **kw: Any) -> tuple[
        ExtractionResult, FakeLLM]:
    params: dict[str, Any] = {"schema": SCHEMA, "cache": False, "progress": False}
    params.update(kw)
    with FakeLLM(*script) as llm:
        result = extract_graph(docs, model=client(llm.api_base), **params)
    return result, llm


def triples(result: ExtractionResult) -> set[tuple[str, str, str]]:
    return {(r.subject, r.relation, r.object) for r in result.kg.relations}


# -- grounding -------------------------------------------------------------------------------


def test_a_triple_whose_evidence_is_not_in_the_text_is_dropped() -> None:
    result, _ = run(REPLIES)
    assert ("paracetamol", "treats", "cancer") not in triples(result)
    assert "cancer" not in result.kg.entities
    [invented] = [d for d in result.report.dropped if d.reason == "evidence not in text"]
    assert (invented.doc, invented.object) == ("p1", "cancer")
    assert result.report.dropped_for_evidence == 1
    # Every kept fact quotes its document.
    text = {d.id: FoldedText(d.full_text) for d in DOCS}
    assert result.facts and all(text[f.doc].quotes(f.evidence) for f in result.facts)
    assert "1 for evidence not in the document" in result.report.summary()


def test_a_negated_fact_is_dropped() -> None:
    result, _ = run(REPLIES)
    assert ("paracetamol", "causes", "drowsiness") not in triples(result)
    assert any(d.reason == "negated in evidence" and d.object == "drowsiness"
               for d in result.report.dropped)
    assert negates("a non-drowsy antihistamine", "drowsy")
    assert not negates("it rarely makes people drowsy", "drowsy")


def test_entities_merge_across_documents_by_alias() -> None:
    result, _ = run(REPLIES)
    para = result.kg.entities["paracetamol"]
    assert "acetaminophen" not in result.kg.entities
    assert "acetaminophen" in {a.lower() for a in para.aliases} and para.type == "drug"
    assert result.report.alias_merges == ["acetaminophen → paracetamol"]
    # The second document's facts are about the merged entity, and it is linked to it.
    assert result.links["p2"] == ["paracetamol"]
    causes = [f for f in result.facts if f.relation == "causes"]
    assert {(f.subject, f.object, f.doc) for f in causes} == {
        ("paracetamol", "liver_damage", "p1"), ("paracetamol", "liver_damage", "p2")}
    assert result.report.relations["causes"] == 1  # one edge for the fact stated twice
    assert result.report.merged_mentions == 2  # Acetaminophen and liver damage in p2


def test_the_schema_is_enforced() -> None:
    result, llm = run(REPLIES)
    by = result.report.dropped_by_reason()
    assert by["relation not in schema"] == 1 and by["subject type"] == 1
    assert triples(result) == {("paracetamol", "treats", "headaches"),  # the first name seen
                               ("paracetamol", "treats", "fever"),
                               ("paracetamol", "causes", "liver_damage"),
                               ("xylodrin", "treats", "back_pain")}
    assert {r.relation for r in result.kg.relations} <= {"treats", "causes"}
    assert {e.type for e in result.kg.entities.values()} == {"drug", "symptom"}
    assert {(d.name, d.reason) for d in result.report.entities_dropped} == {
        ("Spain", "name not in text"), ("hospital", "type 'place' not in schema")}
    # The request carries the schema's names as enums, so a server that enforces a JSON
    # schema cannot answer with another one.
    sent = llm.requests[0]["response_format"]["schema"]["properties"]
    assert sent["relations"]["items"]["properties"]["relation"]["enum"] == ["treats", "causes"]
    assert sent["entities"]["items"]["properties"]["type"]["enum"] == ["drug", "symptom"]
    assert result.kg.schema["treats"].subject_type == "drug"


def test_without_a_schema_names_are_kept_snake_cased() -> None:
    doc = Document(id="f1", title="Heat", text="Clint Eastwood directed Unforgiven in 1992.")
    script = [reply([entity("Clint Eastwood", "Person"), entity("Unforgiven", "Film")],
                    [fact("Clint Eastwood directed Unforgiven", "Unforgiven", "Directed By",
                          "Clint Eastwood")])]
    result, llm = run(script, [doc], schema=None)
    assert triples(result) == {("unforgiven", "directed_by", "clint_eastwood")}
    assert result.kg.entities["unforgiven"].type == "film"
    assert "enum" not in json.dumps(llm.requests[0]["response_format"]["schema"])
    # The document is about the subjects of its triples (its title names no entity).
    assert result.links["f1"] == ["unforgiven", "clint_eastwood"]


# -- requests: repair, cache, budget, failures --------------------------------------------------


def test_an_invalid_reply_is_repaired_once() -> None:
    result, llm = run([("reply", "Sure! Here are the entities: Xylodrin"), REPLIES[2]],
                      [DOCS[2]])
    assert result.report.done == 1 and result.report.calls == 2
    assert "invalid" in llm.requests[1]["messages"][-1]["content"]
    assert ("xylodrin", "treats", "back_pain") in triples(result)


def test_a_reply_cut_at_the_token_limit_keeps_its_complete_items() -> None:
    full = REPLIES[2][1]
    cut = full[: full.index('"prevents"') + 5]  # stops inside the second relation
    result, llm = run([("reply", cut)], [DOCS[2]])
    assert len(llm.requests) == 1 and result.report.truncated == ["p3"]
    assert triples(result) == {("xylodrin", "treats", "back_pain")}
    assert "cut at the token limit" in result.report.summary()


def test_the_cache_makes_the_second_run_free(tmp_path: Path) -> None:
    cache = SqliteCache(tmp_path / "kg.sqlite", table="kg_extract")
    first, llm = run(REPLIES, cache=cache)
    assert first.report.calls == 3 and len(llm.requests) == 3 and first.report.done == 3
    second, llm2 = run([("status", 500, {})], cache=cache)
    assert llm2.requests == [] and second.report.calls == 0
    assert (second.report.cached, second.report.done) == (3, 0)
    assert triples(second) == triples(first) and second.links == first.links


def test_a_changed_schema_misses_the_cache(tmp_path: Path) -> None:
    cache = SqliteCache(tmp_path / "kg.sqlite", table="kg_extract")
    run(REPLIES[:1], DOCS[:1], cache=cache)
    narrower = ExtractionSchema(relations=[RelationSpec(name="treats", subject_type="drug",
                                                        object_type="symptom")])
    result, llm = run(REPLIES[:1], DOCS[:1], cache=cache, schema=narrower)
    assert len(llm.requests) == 1 and result.report.cached == 0


def test_the_budget_stops_and_reports_what_remains(tmp_path: Path) -> None:
    cache = SqliteCache(tmp_path / "kg.sqlite", table="kg_extract")
    result, llm = run(REPLIES, cache=cache, budget=2)
    report = result.report
    assert len(llm.requests) == 2 and report.calls == 2
    assert (report.done, report.remaining) == (2, ["p3"])
    assert report.stopped is not None and "1 document was not sent" in report.stopped
    assert "xylodrin" not in result.kg.entities
    # A re-run with the same cache resumes: two replies cached, one call for the rest.
    again, llm2 = run(REPLIES[2:], cache=cache)
    assert (again.report.cached, again.report.done, len(llm2.requests)) == (2, 1, 1)
    assert "xylodrin" in again.kg.entities


def test_failing_requests_stop_the_run() -> None:
    docs = [Document(id=f"d{i}", text=f"Document {i} says little.") for i in range(5)]
    result, llm = run([("status", 400, {})], docs)
    report = result.report
    assert len(llm.requests) == 3 and [f.doc for f in report.failed] == ["d0", "d1", "d2"]
    assert report.remaining == ["d3", "d4"]
    assert report.stopped is not None and "in a row failed" in report.stopped


# -- without an LLM ---------------------------------------------------------------------------


def test_the_lexical_fallback_proposes_entities_and_no_relations() -> None:
    docs = list(read_corpus(demo_data_dir() / "corpus.jsonl"))
    result = extract_graph(docs, model=None, progress=False)
    assert result.report.method == "lexical" and not result.kg.relations
    assert any("no relation was extracted" in n for n in result.report.notes)
    names = {p.name: p for p in result.proposals}
    assert {"Ibuprofen", "Igor Stravinsky", "NSAID", "hay fever"} <= set(names)
    assert names["Ibuprofen"].count >= 2 and names["Ibuprofen"].how == "title"
    assert result.links["d01"] == ["ibuprofen"]
    assert "the" not in result.kg.entities and "it" not in result.kg.entities


# -- output -------------------------------------------------------------------------------


def test_the_written_graph_loads_and_indexes(tmp_path: Path) -> None:
    result, _ = run(REPLIES)
    paths = result.write(tmp_path / "out", DOCS)
    kg = KnowledgeGraph.load([paths["kg.jsonl"]])
    assert set(kg.entities) == set(result.kg.entities) and len(kg.relations) == 4
    assert kg.schema["causes"].object_type == "symptom"
    assert not any(f.notes or f.skipped for f in kg.load_report.files)
    linked = list(read_corpus(paths["corpus.linked.jsonl"]))
    assert [d.metadata.get("entities") for d in linked] == [
        ["paracetamol"], ["paracetamol"], ["xylodrin"]]
    index = Index.build(tmp_path / "idx", linked, kg=kg, progress=False)
    assert index.manifest.entities == len(kg.entities) and index.manifest.relations == 4
    facts = [json.loads(line) for line in paths["facts.jsonl"].read_text().splitlines()]
    assert {f["doc"] for f in facts} == {"p1", "p2", "p3"}
    assert json.loads(paths["report.json"].read_text())["facts"] == len(result.facts)


def test_cli_extracts_writes_and_prints_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d.id, "title": d.title, "text": d.text}) + "\n"
                              for d in DOCS))
    with FakeLLM(*REPLIES) as llm:
        code = main(["kg", "extract", str(corpus), "--out", str(tmp_path / "out"),
                     "--model", "openai/fake", "--api-base", llm.api_base,
                     "--relation", "treats:drug:symptom", "--relation", "causes:drug:symptom",
                     "--no-cache", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "3 done, 0 cached, 0 failed, 0 remaining" in out
    assert "rolecall index" in out and (tmp_path / "out" / "kg.jsonl").exists()
    assert main(["kg", "extract", str(corpus), "--out", str(tmp_path / "lex"), "--no-llm",
                 "--no-progress"]) == 0
    assert "no relation was extracted" in capsys.readouterr().out


# -- schema and text ---------------------------------------------------------------------------


def test_schemas_from_specs_and_from_a_kg_file() -> None:
    schema = ExtractionSchema.from_specs(types="film,person",
                                         relations=["directed_by:film:person:Who directed it",
                                                    "Has Genre"])
    assert schema.types == ["film", "person"]
    assert schema.relations[0].description == "Who directed it"
    assert schema.relation("has_genre") is not None
    with pytest.raises(ConfigurationError, match="NAME:SUBJECT_TYPE:OBJECT_TYPE"):
        ExtractionSchema.from_specs(relations=["treats:drug"])
    demo = ExtractionSchema.from_kg_file(demo_data_dir() / "kg.jsonl")
    assert [r.arrow() for r in demo.relations] == [
        "treats (drug → symptom)", "causes (drug → symptom)", "composed (person → work)"]
    assert {"drug", "symptom", "person", "work", "drug_class"} <= set(demo.types)


def test_text_folding() -> None:
    text = FoldedText("Aspirin shouldn’t be given to children because of Reye's syndrome, "
                      "a rare but serious illness.")
    assert text.quotes("“shouldn't be given to children”")
    assert text.quotes("because of Reye’s syndrome … serious illness.")
    assert not text.quotes("Reye's")  # one word is a name, not evidence
    assert not text.quotes("serious illness ... because of")  # parts out of order
    assert text.names("children") and text.names("syndromes") and not text.names("it")
    assert fold_key("NSAIDs") == fold_key("nsaid") and fold_key("The Rite of Spring") == (
        fold_key("Rite of Spring"))
    assert snake("The Rake's Progress") == "the_rakes_progress"


# -- the real model (replayed) -------------------------------------------------------------------

DEMO_IDS = ("d01", "d11", "d15")  # ibuprofen; a drowsy and a non-drowsy antihistamine


@pytest.mark.llm
def test_recorded_extraction_from_demo_documents(llm_api_base: str) -> None:
    docs = [d for d in read_corpus(demo_data_dir() / "corpus.jsonl") if d.id in DEMO_IDS]
    model = LLMClient(LOCAL_MODEL, api_base=llm_api_base)
    with recorded_llm(CASSETTES / "kg_extract" / "demo_three_documents.yaml"):
        result = extract_graph(docs, model=model, schema=SCHEMA, cache=False, progress=False)
    report = result.report
    assert report.done == 3 and not report.failed and report.calls in (3, 4, 5, 6), (
        report.summary())
    assert result.facts, report.summary()
    text = {d.id: FoldedText(d.full_text) for d in docs}
    for f in result.facts:
        assert text[f.doc].quotes(f.evidence), f
        assert f.relation in ("treats", "causes")
        assert result.kg.entities[f.subject].type == "drug"
        assert result.kg.entities[f.object].type == "symptom"
    for doc_id, ids in result.links.items():
        assert all(i in result.kg.entities for i in ids), doc_id
