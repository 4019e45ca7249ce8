"""Mined training triples are the intended hard negatives: each is checked against the graph
(or the aboutness scorer) it was mined from, on the demo, the film domain and a corpus
with no graph at all."""

from __future__ import annotations

import pytest
from rolecall import Document, Index, Retriever
from rolecall.errors import InvalidSettingError
from rolecall.graph import KnowledgeGraph
from rolecall.pipeline.aboutness import AboutnessWeights
from rolecall.pipeline.documents import analysed_documents
from rolecall.tune.mining import MinedTriples, Triple, mine_triples

from .films import FILM_DOCS, films_kg


@pytest.fixture(scope="module")
def demo_index(demo: Retriever) -> Index:
    assert isinstance(demo.index, Index)
    return demo.index


@pytest.fixture(scope="module")
def film_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    return Index.build(tmp_path_factory.mktemp("films") / "idx", FILM_DOCS, kg=films_kg(),
                       progress=False)


#: Untitled passages, no graph: names repeat across documents, some as the subject (named
#: in the lead, or in most sentences), some in passing.
PLAIN = [
    "Johnny Bravo is an animated series about a vain man. Johnny Bravo lives with his "
    "mother in a small town. The show was one of the Cartoon Cartoons.",
    "Johnny Bravo was created by Van Partible as a student film. Johnny Bravo first aired "
    "in 1997. It ran for four seasons.",
    "Cartoon Cartoons was a block of original shows on the channel. Cartoon Cartoons "
    "aired on Friday nights. Its shows included Courage the Cowardly Dog and Johnny Bravo.",
    "Courage the Cowardly Dog is a series about a timid dog. The dog lives on a farm in "
    "Nowhere, Kansas. Many viewers found it frightening. It later joined the Cartoon "
    "Cartoons.",
    "The channel grew quickly in the nineties. Its executives bet on original shows. "
    "Several of them are still remembered, and reruns of Courage the Cowardly Dog air "
    "today.",
]


@pytest.fixture(scope="module")
def plain_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    docs = [Document(id=f"p{i}", text=t) for i, t in enumerate(PLAIN)]
    return Index.build(tmp_path_factory.mktemp("plain") / "idx", docs, progress=False)


def _of(mined: MinedTriples, kind: str) -> list[Triple]:
    return [t for t in mined.triples if t.kind == kind]


def _about(index: Index, doc_id: str) -> list[str]:
    ordinal = index.ordinal(doc_id)
    assert ordinal is not None
    return index.links[ordinal].about


def _names(index: Index, doc_id: str, entity: str) -> bool:
    ordinal = index.ordinal(doc_id)
    assert ordinal is not None
    links = index.links[ordinal]
    return entity in links.about or entity in links.mentions


def _entity_named(kg: KnowledgeGraph, name: str) -> str:
    ids = [e.id for e in kg.entities.values() if e.name == name]
    assert len(ids) == 1, (name, ids)
    return ids[0]


def _role_of(kg: KnowledgeGraph, query: str) -> tuple[str, str]:
    """The (relation, object) a role query asks about, read back from the graph: the one
    edge whose object's name ends the query and whose relation's words are in it."""
    found = {(r.relation, r.object) for r in kg.relations
             if query.endswith(" " + kg.entities[r.object].name)
             and f" {kg.relation_type(r.relation).words} " in f" {query} "}
    assert len(found) == 1, (query, found)
    return found.pop()


# -- role ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["demo_index", "film_index"])
def test_a_role_negative_is_about_the_same_object_in_another_role(
    which: str, request: pytest.FixtureRequest
) -> None:
    index: Index = request.getfixturevalue(which)
    kg = index.kg
    role = _of(mine_triples(index), "role")
    assert role
    edges = {(r.subject, r.relation, r.object) for r in kg.relations}
    for t in role:
        r, x = _role_of(kg, t.query)
        assert any((s, r, x) in edges for s in _about(index, t.positive)), t
        neg = _about(index, t.negative)
        assert not any((s, r, x) in edges for s in neg), t  # nothing it is about has r
        assert any((s, r2, x) in edges for s in neg for r2 in kg.relation_names()
                   if r2 != r), t
        assert t.positive != t.negative


def test_films_directed_by_eastwood_have_the_films_he_only_stars_in_as_negatives(
    film_index: Index,
) -> None:
    role = _of(mine_triples(film_index), "role")
    directed = [t for t in role if t.query == "film directed by Clint Eastwood"]
    assert {t.positive for t in directed} == {
        "unforgiven", "letters_from_iwo_jima", "american_sniper"}
    assert {t.negative for t in directed} == {
        "dirty_harry", "in_the_line_of_fire", "the_good_the_bad_and_the_ugly"}
    assert all("starring Clint Eastwood, not directed by" in t.why for t in directed)
    # and the other way round: the films he only directed are the negatives of "starring"
    starring = [t for t in role if t.query == "film starring Clint Eastwood"]
    assert {t.negative for t in starring} == {"letters_from_iwo_jima", "american_sniper"}


def test_the_demo_mines_treats_against_causes(demo_index: Index) -> None:
    role = _of(mine_triples(demo_index), "role")
    headache = [t for t in role if t.query == "drug that treats Headache"]
    assert headache, sorted({t.query for t in role})
    causes = {r.subject for r in demo_index.kg.relations
              if (r.relation, r.object) == ("causes", "headache")}
    assert all(set(_about(demo_index, t.negative)) & causes for t in headache)


# -- aboutness and exclusion -------------------------------------------------------------------


@pytest.mark.parametrize("which", ["demo_index", "film_index"])
def test_an_aboutness_positive_is_about_the_entity_and_its_negative_only_mentions_it(
    which: str, request: pytest.FixtureRequest
) -> None:
    index: Index = request.getfixturevalue(which)
    about = _of(mine_triples(index), "aboutness")
    assert about
    for t in about:
        e = _entity_named(index.kg, t.query)
        assert e in _about(index, t.positive), t
        assert e not in _about(index, t.negative) and _names(index, t.negative, e), t


def test_an_exclusion_positive_never_names_b_and_its_negative_does(demo_index: Index) -> None:
    excl = _of(mine_triples(demo_index), "exclusion")
    assert excl
    for t in excl:
        a_name, b_name = t.query.split(", but not ")
        a, b = _entity_named(demo_index.kg, a_name), _entity_named(demo_index.kg, b_name)
        assert a in _about(demo_index, t.positive) and a in _about(demo_index, t.negative)
        assert not _names(demo_index, t.positive, b), t
        assert _names(demo_index, t.negative, b), t


def test_a_corpus_without_a_graph_gives_triples_from_its_own_phrases(
    plain_index: Index,
) -> None:
    assert not plain_index.kg.entities
    mined = mine_triples(plain_index)
    docs, w = analysed_documents(plain_index), AboutnessWeights()

    def read(doc_id: str, phrase: str) -> tuple[float, bool]:
        ordinal = plain_index.ordinal(doc_id)
        assert ordinal is not None
        a = docs.aboutness(ordinal, docs.phrase(phrase, frozenset()), frozenset(), w)
        return a.score, a.mentioned

    about = _of(mined, "aboutness")
    assert {"Johnny Bravo", "Cartoon Cartoons"} <= {t.query for t in about}
    for t in about:
        assert read(t.positive, t.query)[0] >= w.passing, t
        score, mentioned = read(t.negative, t.query)
        assert mentioned and score < w.passing, t
    excl = _of(mined, "exclusion")
    assert ("Johnny Bravo, but not Cartoon Cartoons", "p1", "p0") in {
        (t.query, t.positive, t.negative) for t in excl}
    for t in excl:
        a, b = t.query.split(", but not ")
        assert read(t.positive, a)[0] >= w.passing and read(t.negative, a)[0] >= w.passing
        assert not read(t.positive, b)[1] and read(t.negative, b)[1], t


# -- determinism, bounds, split ------------------------------------------------------------------


def test_mining_is_deterministic_bounded_and_splits_by_query(demo_index: Index) -> None:
    a = mine_triples(demo_index, max_per_kind=5, seed=3)
    assert a == mine_triples(demo_index, max_per_kind=5, seed=3)
    assert all(n <= 5 for n in a.counts().values())
    assert any(mine_triples(demo_index, max_per_kind=5, seed=s) != a for s in range(3))
    full = mine_triples(demo_index)
    keys = [(t.query, t.positive, t.negative) for t in full.triples]
    assert len(keys) == len(set(keys)) and all(t.positive != t.negative for t in full.triples)
    train, held = full.split(0.25, seed=1)
    assert (train, held) == full.split(0.25, seed=1)
    assert held.triples and train.triples
    assert not {t.query for t in train.triples} & {t.query for t in held.triples}
    assert sorted(keys) == sorted((t.query, t.positive, t.negative)
                                  for t in (*train.triples, *held.triples))


def test_counts_name_every_kind_mined_even_when_it_gave_none(film_index: Index) -> None:
    mined = mine_triples(film_index, kinds=("role", "exclusion"))
    assert mined.counts() == {"role": len(mined.triples), "exclusion": 0}


# -- qrels --------------------------------------------------------------------------------------


def test_a_qrels_negative_is_the_best_bm25_hit_not_judged(film_index: Index) -> None:
    text = "films directed by Clint Eastwood"
    grades = {"unforgiven": 2, "letters_from_iwo_jima": 1, "american_sniper": 1,
              "dirty_harry": 0}
    mined = mine_triples(film_index, kinds=("qrels",), qrels={"q1": (text, grades)})
    assert mined.counts() == {"qrels": 3}
    ranked = [film_index.ids[o] for o, _ in film_index.lexical.search(text, len(film_index))]
    hardest = next(d for d in ranked if d not in grades)
    assert {t.positive for t in mined.triples} == {d for d, g in grades.items() if g > 0}
    assert {t.negative for t in mined.triples} == {hardest}
    # qrels given with the default kinds are mined too; asked for without any, refused
    both = mine_triples(film_index, qrels={"q1": (text, grades)})
    assert both.counts()["qrels"] == 3 and both.counts()["role"] > 0
    with pytest.raises(InvalidSettingError):
        mine_triples(film_index, kinds=("qrels",))

