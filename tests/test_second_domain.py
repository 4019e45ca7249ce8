"""The rule rewriter speaks a graph's own schema: a film graph with its own relation names
and no declared cues, a `used_for` graph, and defaults that hold no domain's words."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rolecall import (
    Catalog,
    Entity,
    Index,
    KnowledgeGraph,
    Polarity,
    Relation,
    Retriever,
    RoleQuery,
    RuleRewriter,
)
from rolecall.rewrite import cues as cues_module
from rolecall.rewrite import rules as rules_module
from rolecall.rewrite.cues import kg_cues, name_cues

from .films import FILM_DOCS, films_kg


@pytest.fixture(scope="module")
def films() -> Catalog:
    return Catalog(kg=films_kg(), metadata_fields=[])


@pytest.fixture(scope="module")
def film_search(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    path = tmp_path_factory.mktemp("films") / "idx"
    return Retriever(Index.build(path, FILM_DOCS, kg=films_kg(), progress=False))


def _relations(q: RoleQuery) -> list[tuple[str, str, Polarity]]:
    return [(r.relation, r.object, r.polarity) for r in q.relations]


@pytest.mark.parametrize("name, forms", [
    ("treats", ["treats", "treat", "treating", "treated"]),
    ("causes", ["causes", "cause", "causing", "caused"]),
    ("depends_on", ["depends on", "depend on", "depending on", "depended on"]),
    ("starring", ["starring", "star", "stars", "starred"]),
    ("carries", ["carries", "carry", "carrying", "carried"]),
    ("has_genre", ["has genre", "have genre", "had genre", "having genre"]),
    # participles and nouns before "of" / "by" are read only as written: inflecting them
    # would change the voice ("directing" is the other end's role)
    ("directed_by", ["directed by"]),
    ("used_for", ["used for"]),
    ("composed", ["composed"]),
    ("part_of", ["part of"]),
])
def test_a_relation_name_is_inflected_as_an_english_verb(name: str, forms: list[str]) -> None:
    assert name_cues(name) == forms


@pytest.mark.parametrize("text, target, relations", [
    ("films directed by Clint Eastwood", "film",
     [("directed_by", "clint_eastwood", Polarity.MUST)]),
    ("movies starring Clint Eastwood", "film", [("starring", "clint_eastwood", Polarity.MUST)]),
    ("movies that star Bradley Cooper", "film", [("starring", "bradley_cooper", Polarity.MUST)]),
    ("films not directed by Clint Eastwood", "film",
     [("directed_by", "clint_eastwood", Polarity.MUST_NOT)]),
    # the generic compound "X <type>": comedy is the object of one relation, of films
    ("a comedy film", "film", [("has_genre", "comedy", Polarity.MUST)]),
    ("war films directed by Clint Eastwood", "film",
     [("directed_by", "clint_eastwood", Polarity.MUST), ("has_genre", "war", Polarity.MUST)]),
    # "in / of the X <X's own type>"
    ("films in the comedy genre", "film", [("has_genre", "comedy", Polarity.MUST)]),
    ("movies of the western genre", "film", [("has_genre", "western", Polarity.MUST)]),
])
def test_the_film_graph_is_read_by_its_own_relation_names(
    films: Catalog, text: str, target: str, relations: list[tuple[str, str, Polarity]]
) -> None:
    assert films.kg.schema == {}  # nothing declared: every cue came from the names
    q = RuleRewriter().rewrite(text, catalog=films)
    assert q.target_type == target
    assert _relations(q) == relations


@pytest.mark.parametrize("text", [
    "Clint Eastwood films",  # he is the object of directed_by and of starring
    "films for Clint Eastwood fans",  # the same two readings after a generic "for"
    "films in Clint Eastwood's style",  # "in" relates only "in the X <X's type>"
    "a western",  # a genre named alone: no relation is stated
])
def test_generic_patterns_read_nothing_where_the_graph_allows_two_readings(
    films: Catalog, text: str
) -> None:
    assert RuleRewriter().rewrite(text, catalog=films).relations == []


def _used_for_kg(side_effects: bool) -> KnowledgeGraph:
    kg = KnowledgeGraph()
    for e in [
        Entity(id="drug", name="drug", type="type", aliases=["drugs"]),
        Entity(id="anxiety", name="anxiety", type="condition"),
        Entity(id="insomnia", name="insomnia", type="condition"),
        Entity(id="sertraline", name="sertraline", type="drug"),
        Entity(id="zopiclone", name="zopiclone", type="drug"),
    ]:
        kg.add_entity(e)
    kg.add_relation(Relation(subject="sertraline", relation="used_for", object="anxiety"))
    kg.add_relation(Relation(subject="zopiclone", relation="used_for", object="insomnia"))
    if side_effects:
        kg.add_relation(Relation(subject="sertraline", relation="side_effect",
                                 object="insomnia"))
    return kg


def test_a_used_for_graph_answers_something_for_my_anxiety() -> None:
    cat = Catalog(kg=_used_for_kg(side_effects=True), metadata_fields=[])
    rw = RuleRewriter()
    expected = [("used_for", "anxiety", Polarity.MUST)]
    assert _relations(rw.rewrite("something for my anxiety", catalog=cat)) == expected
    assert _relations(rw.rewrite("drugs used for anxiety", catalog=cat)) == expected
    assert _relations(rw.rewrite("anxiety drugs", catalog=cat)) == expected
    # insomnia is both a use and a side effect here: "for" alone does not say which
    assert rw.rewrite("something for insomnia", catalog=cat).relations == []
    assert _relations(rw.rewrite("drugs used for insomnia", catalog=cat)) == [
        ("used_for", "insomnia", Polarity.MUST)]


def test_declared_cues_and_a_rewriters_own_are_added_to_the_names() -> None:
    kg = films_kg()
    kg.declare_relation({"name": "directed_by", "cues": ["made by"]})
    cat = Catalog(kg=kg, metadata_fields=[])
    assert _relations(RuleRewriter().rewrite("films made by Sergio Leone", catalog=cat)) == [
        ("directed_by", "sergio_leone", Polarity.MUST)]
    own = RuleRewriter(relation_cues={"directed_by": ["helmed by"], "unknown": ["by"]})
    q = own.rewrite("films helmed by Sergio Leone, directed by Don Siegel", catalog=cat)
    assert {(r.relation, r.object) for r in q.relations} == {
        ("directed_by", "sergio_leone"), ("directed_by", "don_siegel")}
    # a declared cue for "for" overrides the generic reading of "for"
    kg.declare_relation({"name": "starring", "cues": ["for"]})
    assert [(r.relation, r.object) for r in RuleRewriter().rewrite(
        "films for Clint Eastwood fans", catalog=cat).relations] == [
        ("starring", "clint_eastwood")]


def test_absence_comes_from_the_schema_only() -> None:
    kg = _used_for_kg(side_effects=True)
    cat = Catalog(kg=kg, metadata_fields=[])
    q = RuleRewriter().rewrite("anxiety drugs without insomnia", catalog=cat)
    assert [e.text for e in q.exclusions] == ["insomnia"]  # no relation is an absence yet
    kg.declare_relation({"name": "side_effect", "absence": True})
    q = RuleRewriter().rewrite("anxiety drugs without insomnia", catalog=cat)
    assert q.exclusions == []
    assert set(_relations(q)) == {("used_for", "anxiety", Polarity.MUST),
                                  ("side_effect", "insomnia", Polarity.MUST_NOT)}


def test_the_cue_tables_are_built_once_per_graph_and_again_when_it_changes() -> None:
    kg = films_kg()
    first = kg_cues(kg)
    assert kg_cues(kg) is first
    kg.add_relation(Relation(subject="unforgiven", relation="starring", object="sergio_leone"))
    second = kg_cues(kg)
    assert second is not first and kg_cues(kg) is second
    kg.declare_relation({"name": "starring", "cues": ["featuring"]})
    assert kg_cues(kg) is not second
    assert ("featuring", "starring") in kg_cues(kg).phrases


def test_the_defaults_hold_no_domain_words() -> None:
    rw = RuleRewriter()
    assert not (rw.relation_cues or rw.suffix_cues or rw.absence_relations)
    q = rw.rewrite("a drug that treats headaches", catalog=Catalog())
    assert q.relations == [] and q.target_type is None
    # a graph without relations named so has no "treats", whatever its entities
    q = rw.rewrite("allergy medicine without drowsiness", catalog=Catalog(kg=films_kg()))
    assert q.relations == [] and [e.text for e in q.exclusions] == ["drowsiness"]
    for module in (rules_module, cues_module):
        assert module.__file__ is not None
        words = _non_docstring_strings(Path(module.__file__))
        for domain_word in ("treat", "medicine", "drug", "pill"):
            assert not [w for w in words if domain_word in w.lower()], (module, domain_word)


def _non_docstring_strings(path: Path) -> list[str]:
    """The string literals of a module that are not docstrings: where cues would live."""
    tree = ast.parse(path.read_text("utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def _rank(ids: list[str], doc_id: str) -> int:
    return ids.index(doc_id) if doc_id in ids else len(ids)


def test_the_role_is_what_ranks_the_directed_films_first(film_search: Retriever) -> None:
    text = "films directed by Clint Eastwood"
    directed = {"unforgiven", "letters_from_iwo_jima", "american_sniper"}
    plain = film_search.search(RoleQuery.plain(text), k=12, legs=("dense",)).ids
    # plain dense search ranks a film he only starred in above all those he directed
    assert _rank(plain, "dirty_harry") < min(_rank(plain, d) for d in directed)
    assert _relations(film_search.rewrite(text)) == [
        ("directed_by", "clint_eastwood", Polarity.MUST)]
    assert set(film_search.search(text, k=12).ids) == directed
    dense_role = film_search.search(text, k=12, legs=("dense",)).ids
    assert _rank(dense_role, "letters_from_iwo_jima") < _rank(dense_role, "dirty_harry")


def test_the_role_keeps_the_starring_films_apart(film_search: Retriever) -> None:
    role = film_search.search("movies starring Clint Eastwood", k=12).ids
    assert set(role) == {"unforgiven", "dirty_harry", "in_the_line_of_fire",
                         "the_good_the_bad_and_the_ugly"}
