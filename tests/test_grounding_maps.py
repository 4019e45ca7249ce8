"""Grounding maps, and says so ("Your schema, your words"): a relation name, target type or
filter field the catalog lacks is mapped to the nearest catalog name when the evidence is
strong (enforced), demotes when it is fair (soft), and stays unresolved below that."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from rolecall import (
    AttributeFilter,
    Catalog,
    Document,
    Entity,
    Index,
    KnowledgeGraph,
    Message,
    Operator,
    Relation,
    RelationConstraint,
    Retriever,
    Rewriter,
    RoleQuery,
)
from rolecall.explain import GroundedValue
from rolecall.graph import RelationType
from rolecall.pipeline.grounding import Grounding, ground, unresolved_notes
from rolecall.pipeline.mapping import (
    MAP_HARD,
    MAP_SOFT,
    Candidate,
    Similarity,
    map_value,
    relation_candidates,
)
from rolecall.query import Direction

USED_FOR = RelationType(name="used_for", aliases=["used to treat"],
                        description="what a drug is used to treat")


def drug_kg(*, schema: bool = False) -> KnowledgeGraph:
    """One relation, `used_for`, from drugs to conditions; `schema` declares its words."""
    kg = KnowledgeGraph()
    for eid, t in [("calmex", "drug"), ("sleepwell", "drug"), ("dozeoff", "drug"),
                   ("anxiety", "condition"), ("insomnia", "condition")]:
        kg.add_entity(Entity(id=eid, type=t))
    for s, o in [("calmex", "anxiety"), ("sleepwell", "insomnia"), ("dozeoff", "insomnia")]:
        kg.add_relation(Relation(subject=s, relation="used_for", object=o))
    if schema:
        kg.declare_relation(USED_FOR)
    return kg


def film_kg(*aliases: str) -> KnowledgeGraph:
    """Two relations, `directed_by` and `starring`, both from films to people."""
    kg = KnowledgeGraph()
    for eid, t in [("inception", "film"), ("heat", "film"), ("nolan", "person"),
                   ("mann", "person"), ("dicaprio", "person"), ("pacino", "person")]:
        kg.add_entity(Entity(id=eid, type=t))
    for s, r, o in [("inception", "directed_by", "nolan"), ("heat", "directed_by", "mann"),
                    ("inception", "starring", "dicaprio"), ("heat", "starring", "pacino")]:
        kg.add_relation(Relation(subject=s, relation=r, object=o))
    if aliases:
        kg.declare_relation(RelationType(name="directed_by", aliases=list(aliases)))
    return kg


def query(relation: str, obj: str, target: str | None = "drug") -> RoleQuery:
    return RoleQuery(text=f"{target} {relation} {obj}", target_type=target,
                     relations=[RelationConstraint(relation=relation, object=obj)])


def fixed_similarity(cosines: dict[str, float]) -> Similarity:
    """A stand-in embedder: the given cosine for a text, 0 for any other."""

    def similarity(value: str, texts: list[str]) -> list[float]:
        return [cosines.get(t, 0.0) for t in texts]

    return similarity


def slot(g: Grounding, name: str) -> GroundedValue:
    return next(gv for gv in g.values if gv.slot == name)


# -- the confidence -------------------------------------------------------------------------


def test_each_kind_of_evidence_alone_against_the_thresholds() -> None:
    alias = map_value("used to treat", [Candidate("used_for", ("used for", "used to treat"))])
    assert alias.confidence == pytest.approx(0.9) and alias.enforcement == "hard"
    shape = map_value("treats", [Candidate("used_for", ("used for",), structure=1.0)])
    assert shape.confidence == pytest.approx(0.7) and shape.enforcement == "soft"
    words = map_value("treats", [Candidate("used_for", ("used for",),
                                           description="what a drug is used to treat")])
    assert words.confidence == pytest.approx(0.72) and words.enforcement == "soft"
    both = map_value("treats", [Candidate("used_for", ("used for",), structure=1.0,
                                          description="what a drug is used to treat")])
    assert both.confidence == pytest.approx(1 - 0.28 * 0.3) and both.enforcement == "hard"
    nothing = map_value("treats", [Candidate("used_for", ("used for",))])
    assert nothing.best is None and nothing.enforcement == "none"
    assert map_value("treats", []).best is None


def test_rival_words_lower_the_confidence_and_shared_structure_is_divided() -> None:
    twins = [Candidate("a", ("treat",), structure=0.5), Candidate("b", ("treats",),
                                                                  structure=0.5)]
    m = map_value("treating", twins)
    # raw = 1 − 0.1 × 0.65 for each; each loses half of the other's word evidence (0.9)
    assert [s.confidence for s in m.ranked] == pytest.approx([0.935 - 0.45] * 2)
    assert m.enforcement == "none"
    shared = [Candidate("a", ("x",), structure=0.5), Candidate("b", ("y",), structure=0.5)]
    assert map_value("z", shared).confidence == pytest.approx(0.35)


def test_embedding_counts_as_a_margin_over_the_best_rival() -> None:
    cands = [Candidate("drug", ("drug",)), Candidate("condition", ("condition",))]
    near = map_value("medication", cands, fixed_similarity({"drug": 0.84, "condition": 0.23}))
    assert near.best is not None and near.best.name == "drug"
    assert near.confidence == pytest.approx(0.6)  # (0.84 − 0.3) / 0.4 ≥ 1, × 0.6
    tied = map_value("acted in", cands, fixed_similarity({"drug": 0.46, "condition": 0.44}))
    assert tied.confidence < 0.05  # two close cosines say nothing
    failed = map_value("medication", cands, lambda v, texts: [])  # embedder failed
    assert failed.best is None


# -- relations ------------------------------------------------------------------------------


def test_structure_alone_maps_softly_and_says_so() -> None:
    g = ground(query("treats", "anxiety"), drug_kg())
    rel = slot(g, "relations[0].relation")
    assert rel.method == "mapped" and rel.mapped_to == "used_for"
    assert rel.enforcement == "soft" and MAP_SOFT <= rel.confidence < MAP_HARD
    assert rel.candidates == ["used_for"]
    assert slot(g, "relations[0].object").enforcement == "soft"
    assert g.relations == []
    [(rc, obj, conf)] = g.soft_relations
    assert (rc.relation, obj, conf) == ("used_for", "anxiety", rel.confidence)
    assert "mapped 'treats' → 'used_for' (0.70, soft): demoted, not filtered" in (
        unresolved_notes(g))


def test_the_schemas_words_make_the_mapping_hard() -> None:
    g = ground(query("treats", "anxiety"), drug_kg(schema=True))
    rel = slot(g, "relations[0].relation")
    assert rel.enforcement == "hard" and rel.confidence >= MAP_HARD
    assert [(rc.relation, o) for rc, o in g.relations] == [("used_for", "anxiety")]
    assert not g.soft_relations
    assert any("(0.92, hard): enforced" in n for n in unresolved_notes(g))


def test_two_relations_between_films_and_people_are_ambiguous() -> None:
    g = ground(query("filmed_by", "nolan", "film"), film_kg())
    rel = slot(g, "relations[0].relation")
    assert rel.method == "unresolved" and rel.enforcement == "none"
    assert {a.name for a in rel.alternatives} == {"directed_by", "starring"}
    assert not g.relations and not g.soft_relations
    assert "relations[0].object" not in {gv.slot for gv in g.values}  # as before mapping
    # An embedder that leans one way is not enough to enforce it.
    lean = fixed_similarity({"directed by": 0.66, "starring": 0.43})
    m = map_value("filmed_by", relation_candidates(
        film_kg(), query("filmed_by", "nolan").relations[0], "nolan", "film"), lean)
    assert m.best is not None and m.best.name == "directed_by" and m.confidence < MAP_HARD


def test_lexical_evidence_picks_one_of_two() -> None:
    g = ground(query("filmed_by", "nolan", "film"), film_kg("filmed by"))
    rel = slot(g, "relations[0].relation")
    assert rel.mapped_to == "directed_by" and rel.enforcement == "hard"
    assert [(rc.relation, o) for rc, o in g.relations] == [("directed_by", "nolan")]
    starring = map_value("stars", relation_candidates(
        film_kg(), query("stars", "dicaprio").relations[0], "dicaprio", "film"))
    assert starring.best is not None and starring.best.name == "starring"
    assert starring.enforcement == "hard"


def test_inverse_names_and_the_graphs_shape_flip_the_direction() -> None:
    kg = drug_kg()
    kg.declare_relation(RelationType(name="used_for", inverse="treated_with"))
    g = ground(query("treated_with", "calmex", "condition"), kg)
    [(rc, obj)] = g.relations  # the inverse's own name: hard
    assert (rc.relation, rc.direction, obj) == ("used_for", Direction.OBJECT, "calmex")
    g = ground(query("remedied_by", "calmex", "condition"), drug_kg())
    [(rc, obj, _)] = g.soft_relations  # only the other reading fits: soft
    assert (rc.relation, rc.direction) == ("used_for", Direction.OBJECT)


def test_no_object_entity_no_enforcement() -> None:
    g = ground(query("used to treat", "zzqx"), drug_kg(schema=True))
    rel = slot(g, "relations[0].relation")
    assert rel.method == "mapped" and rel.enforcement == "none"
    assert not g.relations and not g.soft_relations
    assert any("its object is unresolved" in n for n in unresolved_notes(g))


# -- types, filters, and what must not change -----------------------------------------------


def test_target_type_maps_by_the_relations_shape_and_the_embedder() -> None:
    kg = drug_kg(schema=True)
    g = ground(query("treats", "anxiety", "medication"), kg)
    assert slot(g, "target_type").mapped_to == "drug"
    assert g.target_type is None and g.soft_target_type is not None
    assert g.soft_target_type[0] == "drug" and g.soft_target_type[1] == pytest.approx(0.7)
    sim = fixed_similarity({"drug": 0.84, "condition": 0.23})
    g = ground(query("treats", "anxiety", "medication"), kg, similarity=sim)
    assert g.target_type == "drug" and slot(g, "target_type").enforcement == "hard"
    assert g.values[0].slot == "target_type"  # the type is still reported first
    alone = ground(RoleQuery(text="medication", target_type="medication"), kg)
    assert slot(alone, "target_type").method == "unresolved"


def test_filter_fields_map_only_on_strong_evidence() -> None:
    fields = {"year", "otc"}
    years = RoleQuery(text="x", filters=[
        AttributeFilter(field="years", op=Operator.GT, value=2000)])
    g = ground(years, drug_kg(), metadata_fields=fields)
    assert [f.field for f in g.filters] == ["year"]
    assert slot(g, "filters[0]").mapped_to == "year"
    released = RoleQuery(text="x", filters=[AttributeFilter(field="released", value=2000)])
    g = ground(released, drug_kg(), metadata_fields=fields)
    assert not g.filters and not g.soft_filters
    assert slot(g, "filters[0]").method == "unresolved"


def test_an_empty_graph_maps_nothing() -> None:
    g = ground(query("treats", "anxiety", "medication"), KnowledgeGraph())
    assert [(gv.slot, gv.method, gv.candidates, gv.alternatives) for gv in g.values] == [
        ("target_type", "unresolved", [], []), ("relations[0].relation", "unresolved", [], []),
    ]
    assert not (g.target_type or g.relations or g.soft_relations or g.soft_target_type)
    assert unresolved_notes(g) == [
        "unresolved target_type 'medication': reported, not enforced",
        "unresolved relations[0].relation 'treats': reported, not enforced",
    ]


def test_values_that_resolve_are_grounded_as_before() -> None:
    g = ground(query("used_for", "anxiety"), drug_kg(schema=True),
               similarity=fixed_similarity({"drug": 1.0}))
    assert [(gv.slot, gv.method, gv.confidence, gv.mapped_to, gv.enforcement)
            for gv in g.values] == [("target_type", "exact", 1.0, None, "hard"),
                                    ("relations[0].object", "exact", 1.0, None, "hard")]
    assert g.target_type == "drug" and len(g.relations) == 1
    assert not (g.soft_relations or g.soft_target_type or g.soft_filters)
    assert unresolved_notes(g) == []


# -- end to end -----------------------------------------------------------------------------

DOCS = [
    Document(id="calmex", title="Calmex", text="Calmex is a tablet taken for anxiety and "
             "panic; it takes two weeks to work.", metadata={"entities": ["calmex"]}),
    Document(id="sleepwell", title="Sleepwell", text="Sleepwell helps with insomnia and "
             "anxious nights; take it at bedtime.", metadata={"entities": ["sleepwell"]}),
    Document(id="dozeoff", title="Dozeoff", text="Dozeoff is taken for insomnia when sleep "
             "will not come.", metadata={"entities": ["dozeoff"]}),
    Document(id="about", title="Anxiety", text="Anxiety is worry that does not go away; "
             "therapy and tablets both help anxiety.", metadata={"entities": ["anxiety"]}),
]


@pytest.fixture(scope="module")
def plain_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("maps") / "plain"
    Index.build(path, DOCS, kg=drug_kg(), progress=False)
    return path


@pytest.fixture(scope="module")
def schema_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("maps") / "schema"
    Index.build(path, DOCS, kg=drug_kg(schema=True), progress=False)
    return path


def test_search_demotes_by_a_soft_mapping(plain_index: Path) -> None:
    res = Retriever.open(plain_index).search(query("treats", "anxiety"), k=5)
    assert res.ids[0] == "calmex" and set(res.ids) == {"calmex", "sleepwell", "dozeoff"}
    penalty = {h.id: h.explanation.penalty for h in res.hits}
    rel = next(gv for gv in res.plan.grounding if gv.slot == "relations[0].relation")
    assert rel.mapped_to == "used_for" and rel.enforcement == "soft"
    assert penalty["calmex"] == 0
    assert penalty["sleepwell"] == penalty["dozeoff"] == pytest.approx(0.9 * rel.confidence,
                                                                        abs=1e-3)
    assert res.plan.allowed == 3  # the type is enforced; the mapped relation is not
    assert any("→ 'used_for'" in n and "demoted, not filtered" in n for n in res.plan.notes)
    # Each hit says why it was demoted (or not), as explain_document does.
    mapped = {h.id: [c for c in h.explanation.checks if c.constraint.startswith("mapped: ")]
              for h in res.hits}
    assert mapped["calmex"][0].satisfied and not mapped["sleepwell"][0].satisfied
    retriever = Retriever.open(plain_index)
    for hit in res.hits:
        assert retriever.explain_document(res.plan.query, hit.id) == hit.explanation.checks


def test_search_enforces_a_hard_mapping(schema_index: Path) -> None:
    res = Retriever.open(schema_index).search(query("treats", "anxiety"), k=5)
    assert res.ids == ["calmex"] and res.plan.allowed == 1
    checks = res.hits[0].explanation.checks
    assert any(c.constraint == "must used_for anxiety" and c.satisfied for c in checks)
    rel = next(gv for gv in res.plan.grounding if gv.slot == "relations[0].relation")
    assert rel.method == "mapped" and rel.enforcement == "hard"
    soft = Retriever.open(schema_index).search(query("treats", "anxiety"), k=5,
                                               constraint_mode="soft")
    assert soft.ids[0] == "calmex" and len(soft.ids) > 1  # soft mode demotes it as any value


class _Says(Rewriter):
    """A rewriter that answers what an LLM answered: `treats` on a `used_for` graph."""

    name = "says"

    def rewrite(self, text: str, *, history: Sequence[Message] = (),
                catalog: Catalog) -> RoleQuery:
        return query("treats", "anxiety").model_copy(update={"text": text})


def test_search_json_prints_the_mapping(
    plain_index: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rolecall.cli import main

    monkeypatch.setattr("rolecall.rewrite.auto.rewriter_from_env",
                        lambda **_: (_Says(), "test rewriter"))
    assert main(["search", str(plain_index), "drugs that treat anxiety", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    rel = next(gv for gv in plan["grounding"] if gv["slot"] == "relations[0].relation")
    assert rel["value"] == "treats" and rel["mapped_to"] == "used_for"
    assert rel["method"] == "mapped" and rel["enforcement"] == "soft"
    assert MAP_SOFT <= rel["confidence"] < MAP_HARD and rel["alternatives"] == []
    assert any("demoted, not filtered" in n for n in plan["notes"])
