"""`PostgresIndex`: a rolecall index in PostgreSQL (pgvector, tsvector, recursive CTEs).

It is a `rolecall.Backend`, so `Retriever(PostgresIndex.open(dsn))` searches with the same
rewrite, grounding, filters, exclusions, fusion and explanations as the embedded `Index`.
Each index lives in its own PostgreSQL schema (default `rolecall`); `build` replaces that
schema in one transaction and `add` appends in one transaction, so readers never see half a
load and a killed loader leaves nothing behind.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

import numpy as np
from rolecall import (
    AttributeFilter,
    Entity,
    Index,
    KnowledgeGraph,
    Operator,
    Relation,
    RelationConstraint,
)
from rolecall.backends import (
    DEFAULT_ANN_THRESHOLD,
    BoundedMemo,
    DocLinks,
    Document,
    Embedder,
    FieldLink,
    GraphVerdict,
    LinkReport,
    checked_embedder,
    checked_link_fields,
    coerce_documents,
    default_embedder,
    filters_key,
    link_document,
    matches,
    positioned_tokens,
    progress_bar,
    verdict_key,
)
from rolecall.errors import (
    BackendError,
    CorpusError,
    DuplicateDocumentError,
    IndexNotFoundError,
    IndexVersionError,
    InvalidQueryError,
)

from ._db import SCHEMA_FORMAT, Database, schema_ddl
from ._graph import graph_verdict
from ._legs import PgDense, PgLexical, fieldnorm, tsvector_literal, vector_literal

__all__ = ["PostgresIndex"]

_EMBED_BATCH = 256
_HNSW_INDEX = "rc_documents_embedding"
#: Memo sizes, the embedded `Index`'s: graph verdicts, attribute-filter results, links.
_VERDICT_MEMO = 1024
_PASSING_MEMO = 256
_LINKS_MEMO = 65_536


class _Links:
    """`links[ordinal]` read from the database on demand (explanations and exclusion evidence
    ask for a few dozen candidates per search), remembered per index snapshot (a document's
    links never change once loaded)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._memo: BoundedMemo[DocLinks] = BoundedMemo(_LINKS_MEMO)

    def __getitem__(self, ordinal: int, /) -> DocLinks:
        return self._memo.get(ordinal, lambda: self._read(ordinal))

    def _read(self, ordinal: int) -> DocLinks:
        rows = self._db.rows("SELECT about, mentions FROM rc_documents WHERE ord = %s", (ordinal,))
        if not rows:
            raise BackendError(f"no document with ordinal {ordinal} in the index")
        return DocLinks(about=list(rows[0][0]), mentions=dict(rows[0][1]))


class PostgresIndex:
    """A rolecall index stored in PostgreSQL.

    ```python
    index = PostgresIndex.build("postgresql://app@db/search", documents, kg=kg)
    retriever = Retriever(index)          # the same Retriever as for the embedded Index
    later = PostgresIndex.open("postgresql://app@db/search")
    ```

    The graph (entities, aliases, types) and the metadata field list are read at `open`;
    call `refresh()` after another process rebuilt the index.  Documents added by other
    processes are searched as soon as their load commits.

    `close()` (or leaving `with PostgresIndex.open(dsn) as index:`) closes the connection,
    which the indexes returned by `add()` and `refresh()` share with this one.
    """

    def __init__(self, db: Database, *, embedder: Embedder | None = None) -> None:
        self._db = db
        self._embedder = embedder
        if not _is_rolecall_schema(db, db.schema):
            raise IndexNotFoundError(
                f"no rolecall index in schema {db.schema!r} of this database; create one with "
                "PostgresIndex.build(dsn, documents) or `rolecall index CORPUS --out DSN`"
            )
        meta = self._meta()
        fmt = int(meta.get("format", -1))
        if fmt != SCHEMA_FORMAT:
            raise IndexVersionError(
                f"schema {db.schema!r} holds rolecall tables of format {fmt}, this rolecall "
                f"reads format {SCHEMA_FORMAT}; rebuild it with PostgresIndex.build"
            )
        self.generation = int(meta["generation"])
        self.embedding_model = str(meta["embedding_model"])
        self._fields = set(meta.get("fields", []))
        # Absent from schemas loaded before link fields existed: no fields, no report.
        self._link_fields: tuple[str, ...] = tuple(meta.get("link_fields", []))
        report = meta.get("link_report")
        self._link_report = LinkReport.from_json(report) if report is not None else None
        self._kg = _read_graph(db, int(meta.get("min_mentions", 2)))
        self._kg.short_doc_words = int(meta.get("short_doc_words", self._kg.short_doc_words))
        for declared in meta.get("relation_schema", []):  # what the relation names mean
            self._kg.declare_relation(declared)
        self._lexical = PgLexical(db)
        self._dense = PgDense(db, ann=bool(db.value("SELECT to_regclass(%s) IS NOT NULL",
                                                    (_HNSW_INDEX,))))
        self._links = _Links(db)
        # Keyed on the live generation too: another process's load changes the answers.
        self._verdicts: BoundedMemo[GraphVerdict] = BoundedMemo(_VERDICT_MEMO)
        self._passing: BoundedMemo[frozenset[int]] = BoundedMemo(_PASSING_MEMO)
        self._unlinked: BoundedMemo[frozenset[int]] = BoundedMemo(2)  # by generation

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, dsn: str, *, schema: str = "rolecall", embedder: Embedder | None = None
    ) -> PostgresIndex:
        """Connect to the index in `schema` of the database at `dsn`."""
        db = Database(dsn, schema)
        try:
            return cls(db, embedder=embedder)
        except BaseException:
            db.close()
            raise

    def refresh(self) -> PostgresIndex:
        """This index re-read (graph, fields, ANN) if another process changed it, else self."""
        if int(self._meta().get("generation", -1)) == self.generation:
            return self
        return PostgresIndex(self._db, embedder=self._embedder)

    def close(self) -> None:
        """Close the connection (shared with the indexes `add()` and `refresh()` returned).
        Idempotent; a PostgresIndex is also a context manager."""
        self._db.close()

    @property
    def closed(self) -> bool:
        return self._db.closed

    def __enter__(self) -> PostgresIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _meta(self) -> dict[str, Any]:
        return dict(self._db.rows("SELECT key, value FROM rc_meta"))

    # -- the Backend protocol --------------------------------------------------------------------

    @property
    def kg(self) -> KnowledgeGraph:
        return self._kg

    @property
    def lexical(self) -> PgLexical:
        return self._lexical

    @property
    def dense(self) -> PgDense:
        return self._dense

    @property
    def links(self) -> _Links:
        return self._links

    @property
    def embedder(self) -> Embedder:
        self._embedder = checked_embedder(self._embedder, self.embedding_model)
        return self._embedder

    def __len__(self) -> int:
        return int(self._db.meta("count", 0))

    def ordinal(self, doc_id: str) -> int | None:
        found = self._db.value("SELECT ord FROM rc_documents WHERE id = %s", (doc_id,))
        return None if found is None else int(found)

    def document(self, ordinal: int) -> Document:
        rows = self._db.rows(
            "SELECT id, title, body, metadata FROM rc_documents WHERE ord = %s", (ordinal,)
        )
        if not rows:
            raise BackendError(f"no document with ordinal {ordinal} in the index")
        doc_id, title, body, metadata = rows[0]
        return Document(id=doc_id, title=title, text=body, metadata=metadata)

    def metadata_fields(self) -> set[str]:
        return self._fields

    @property
    def link_fields(self) -> tuple[str, ...]:
        """The metadata fields that link documents to entities (`add` links by them too)."""
        return self._link_fields

    @property
    def link_report(self) -> LinkReport | None:
        """How the documents were linked (as `Index.link_report`); None for a schema
        loaded before reports existed, whose counts were never taken."""
        return self._link_report

    def _live_generation(self) -> int:
        return int(self._db.meta("generation", 0))

    def graph_verdict(
        self, target_type: str | None, relations: list[tuple[RelationConstraint, str]]
    ) -> GraphVerdict:
        """The verdict from recursive CTEs (see `_graph`), memoised until the data changes."""
        return self._verdicts.get(
            (self._live_generation(), verdict_key(target_type, relations)),
            lambda: graph_verdict(self._db, target_type, relations),
        )

    def unlinked(self) -> frozenset[int]:
        """Ordinals of the documents about no entity, memoised until the data changes."""
        return frozenset(self._unlinked.get(self._live_generation(), lambda: frozenset(
            int(r[0]) for r in self._db.rows(
                "SELECT ord FROM rc_documents WHERE cardinality(about) = 0"
            )
        )))

    def passing(self, filters: Sequence[AttributeFilter]) -> frozenset[int]:
        """Ordinals whose metadata satisfies every filter.  SQL narrows to documents holding
        the field; the comparison itself is rolecall's (`rolecall.backends.matches`), so
        case-folding and number/string coercion are exactly the embedded backend's."""
        return self._passing.get(
            (self._live_generation(), filters_key(filters)), lambda: self._passing_now(filters)
        )

    def _passing_now(self, filters: Sequence[AttributeFilter]) -> frozenset[int]:
        result: set[int] | None = None
        for flt in filters:
            if flt.op == Operator.NE:  # a document without the field passes `ne`
                rows = self._db.rows(
                    "SELECT ord, metadata ? %(f)s, metadata -> %(f)s FROM rc_documents",
                    {"f": flt.field},
                )
            else:
                rows = self._db.rows(
                    "SELECT ord, true, metadata -> %(f)s FROM rc_documents "
                    "WHERE metadata ? %(f)s", {"f": flt.field},
                )
            ok = {int(o) for o, has, v in rows if matches({flt.field: v} if has else {}, flt)}
            result = ok if result is None else result & ok
        return frozenset(result or ())

    # -- writing ---------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        dsn: str,
        documents: Iterable[Document | dict[str, Any]],
        *,
        kg: KnowledgeGraph | None = None,
        schema: str = "rolecall",
        embedder: Embedder | None = None,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        progress: bool = True,
        link_fields: str | Sequence[str] = (),
        _vectors: np.ndarray | None = None,
    ) -> PostgresIndex:
        """Create (or atomically replace) the index in `schema`: tables, graph, documents.
        `link_fields` link documents to entities by metadata values, as `Index.build`."""
        _check_schema_name(schema)
        docs = coerce_documents(documents)
        embedder = embedder or default_embedder()
        kg = kg or KnowledgeGraph()
        fields = checked_link_fields(link_fields, kg)
        db = Database(dsn, schema)
        try:
            prepared = _prepare(docs, kg, embedder, progress, vectors=_vectors,
                                link_fields=fields)
            _replace_schema(db, kg, embedder, prepared, ann_threshold, progress)
            _vacuum(db)
            return cls(db, embedder=embedder)
        except BaseException:
            db.close()
            raise

    @classmethod
    def copy_from(
        cls,
        index: Index,
        dsn: str,
        *,
        schema: str = "rolecall",
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        progress: bool = True,
        link_fields: str | Sequence[str] | None = None,
    ) -> PostgresIndex:
        """Move an embedded index into PostgreSQL: its documents, graph and embeddings (not
        recomputed), so the two search alike from the first query.  Documents are linked by
        the index's own link fields unless `link_fields` says otherwise."""
        docs = [index.document(i) for i in range(len(index))]
        vectors = np.asarray(index.dense.vectors)
        return cls.build(
            dsn, docs, kg=index.kg, schema=schema, embedder=index.embedder,
            ann_threshold=ann_threshold, progress=progress, _vectors=vectors,
            link_fields=index.link_fields if link_fields is None else link_fields,
        )

    def add(
        self,
        documents: Iterable[Document | dict[str, Any]],
        *,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        progress: bool = True,
    ) -> PostgresIndex:
        """Append documents in one transaction; ids already indexed are rejected."""
        docs = coerce_documents(documents)
        dupes = [r[0] for r in self._db.rows(
            "SELECT id FROM rc_documents WHERE id = ANY(%s)", ([d.id for d in docs],)
        )]
        if dupes:
            raise DuplicateDocumentError(dupes)
        prepared = _prepare(docs, self.kg, self.embedder, progress,
                            link_fields=self._link_fields)
        with self._db.transaction() as conn:
            _writer_lock(conn, self._db.schema)
            _append(conn, prepared, ann_threshold, progress)
        _vacuum(self._db)
        return PostgresIndex(self._db, embedder=self._embedder)


# -- loading -------------------------------------------------------------------------------------


class _Prepared:
    """Documents analysed, linked and embedded: everything but the ordinals."""

    def __init__(self, link_fields: tuple[str, ...]) -> None:
        self.rows: list[list[Any]] = []
        self.about: list[tuple[str, int]] = []  # (entity, position in this batch)
        # (term, position in this batch, tf title, tf body, title norm, body norm)
        self.postings: list[tuple[str, int, int, int, int, int]] = []
        self.df: dict[str, list[int]] = {}
        self.title_tokens = 0
        self.body_tokens = 0
        self.fields: set[str] = set()
        self.report = LinkReport(fields=list(link_fields))


def _check_text(doc: Document) -> None:
    if "\x00" in doc.title or "\x00" in doc.text or "\\u0000" in json.dumps(doc.metadata):
        raise CorpusError(
            f"document {doc.id!r} contains a NUL character, which PostgreSQL text cannot "
            "store; remove it from the corpus"
        )


def _prepare(
    docs: Sequence[Document],
    kg: KnowledgeGraph,
    embedder: Embedder,
    progress: bool,
    *,
    vectors: np.ndarray | None = None,
    link_fields: tuple[str, ...] = (),
) -> _Prepared:
    out = _Prepared(link_fields)
    memo: dict[tuple[str, str], FieldLink] = {}  # a corpus repeats its field values
    with progress_bar("analysing and linking", total=len(docs), enabled=progress) as advance:
        for i, doc in enumerate(docs):
            _check_text(doc)
            title, body = positioned_tokens(doc.title), positioned_tokens(doc.text)
            tf_t, tf_b = Counter(t for _, t in title), Counter(t for _, t in body)
            for term in tf_t.keys() | tf_b.keys():
                df = out.df.setdefault(term, [0, 0])
                df[0] += term in tf_t
                df[1] += term in tf_b
            # The embedded Index's linking (explicit ids, link fields, else text), shared.
            links, field_links = link_document(doc, kg, link_fields, memo=memo)
            out.report.record(doc.metadata, kg, links, field_links)
            out.about += [(e, i) for e in links.about]
            out.title_tokens += len(title)
            out.body_tokens += len(body)
            out.fields |= set(doc.metadata) - {"entities"}
            norm_t, norm_b = fieldnorm(len(title)), fieldnorm(len(body))
            out.postings += [(t, i, tf_t.get(t, 0), tf_b.get(t, 0), norm_t, norm_b)
                             for t in sorted(tf_t.keys() | tf_b.keys())]
            out.rows.append([
                doc.id, doc.title, doc.text, json.dumps(doc.metadata), links.about,
                json.dumps(links.mentions), tsvector_literal(title), tsvector_literal(body),
            ])
            advance(1)
    if vectors is not None:
        if vectors.shape != (len(docs), embedder.dim):
            raise BackendError(f"{vectors.shape} vectors for {len(docs)} documents")
        for row, vec in zip(out.rows, vectors, strict=True):
            row.append(vector_literal(vec))
        return out
    with progress_bar("embedding", total=len(docs), enabled=progress) as advance:
        for start in range(0, len(docs), _EMBED_BATCH):
            batch = docs[start : start + _EMBED_BATCH]
            vecs = embedder.encode([d.full_text for d in batch], batch_size=64)
            for j, vec in enumerate(vecs):
                out.rows[start + j].append(vector_literal(vec))
            advance(len(batch))
    return out


def _replace_schema(
    db: Database,
    kg: KnowledgeGraph,
    embedder: Embedder,
    prepared: _Prepared,
    ann_threshold: int,
    progress: bool,
) -> None:
    """Drop and recreate the index's schema, then load it: one transaction."""
    from psycopg import sql

    schema = db.schema
    with db.transaction() as conn:
        _writer_lock(conn, schema)
        exists = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", (schema,)
        ).fetchone()[0]
        if exists and not _is_rolecall_schema(db, schema):
            # A rebuild drops the schema; never drop one rolecall did not create.
            raise InvalidQueryError(
                f"schema {schema!r} exists and is not a rolecall index; pass another "
                "schema= or drop it yourself"
            )
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except Exception as exc:
            raise BackendError(
                f"cannot enable pgvector ({exc}); a database owner must run "
                "CREATE EXTENSION vector once, or install pgvector on the server"
            ) from None
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for ddl in schema_ddl(embedder.dim):
            conn.execute(ddl)  # constant DDL; the dimension is a checked int
        _write_graph(conn, kg)
        _set_meta(conn, {
            "format": SCHEMA_FORMAT, "generation": 0, "count": 0, "title_tokens": 0,
            "body_tokens": 0, "fields": [], "embedding_model": embedder.name,
            "dim": embedder.dim, "min_mentions": kg.min_mentions,
            "short_doc_words": kg.short_doc_words,
            "relation_schema": [t.model_dump(exclude_defaults=True) for t in kg.schema.values()],
            "link_fields": prepared.report.fields,
            "link_report": LinkReport(fields=prepared.report.fields).to_json(),
        })
        _append(conn, prepared, ann_threshold, progress)


def _check_schema_name(schema: str) -> None:
    if not schema or schema == "public" or schema.startswith("pg_") or (
        schema == "information_schema"
    ):
        raise InvalidQueryError(
            f"schema {schema!r} is not for a rolecall index (a build replaces its schema); "
            "use a schema of its own, e.g. schema='rolecall'"
        )


def _is_rolecall_schema(db: Database, schema: str) -> bool:
    return bool(db.value(
        "SELECT to_regclass(format('%%I.rc_meta', %s::text)) IS NOT NULL", (schema,)
    ))


def _writer_lock(conn: Any, schema: str) -> None:
    # One writer per index: a transaction-scoped advisory lock keyed on the schema name.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('rolecall:' || %s))", (schema,))


def _set_meta(conn: Any, values: dict[str, Any]) -> None:
    for key, value in values.items():
        conn.execute(
            "INSERT INTO rc_meta (key, value) VALUES (%s, %s::jsonb) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )


def _append(conn: Any, prepared: _Prepared, ann_threshold: int, progress: bool) -> None:
    meta = dict(conn.execute("SELECT key, value FROM rc_meta").fetchall())
    base = int(conn.execute("SELECT coalesce(max(ord) + 1, 0) FROM rc_documents").fetchone()[0])
    cols = "ord, id, title, body, metadata, about, mentions, title_tsv, body_tsv, embedding"
    with progress_bar("loading into PostgreSQL", total=len(prepared.rows),
                      enabled=progress) as advance, conn.cursor() as cur:
        with cur.copy(f"COPY rc_documents ({cols}) FROM STDIN") as copy:
            for i, row in enumerate(prepared.rows):
                copy.write_row([base + i, *row])
                if i % 1000 == 999:
                    advance(1000)
        advance(len(prepared.rows) % 1000)
        with cur.copy("COPY rc_postings (term, ord, tf_title, tf_body, title_norm, body_norm) "
                      "FROM STDIN") as copy:
            for term, i, *rest in prepared.postings:
                copy.write_row((term, base + i, *rest))
        with cur.copy("COPY rc_about (entity, ord) FROM STDIN") as copy:
            for entity, i in prepared.about:
                copy.write_row((entity, base + i))
        cur.execute("CREATE TEMP TABLE rc_new_terms (term text, df_title bigint, "
                    "df_body bigint) ON COMMIT DROP")
        with cur.copy("COPY rc_new_terms FROM STDIN") as copy:
            for term, (dt, db) in prepared.df.items():
                copy.write_row((term, dt, db))
        cur.execute(
            "INSERT INTO rc_terms SELECT * FROM rc_new_terms ON CONFLICT (term) DO UPDATE SET "
            "df_title = rc_terms.df_title + excluded.df_title, "
            "df_body = rc_terms.df_body + excluded.df_body"
        )
    count = base + len(prepared.rows)
    values: dict[str, Any] = {
        "count": count,
        "generation": int(meta.get("generation", 0)) + 1,
        "title_tokens": int(meta.get("title_tokens", 0)) + prepared.title_tokens,
        "body_tokens": int(meta.get("body_tokens", 0)) + prepared.body_tokens,
        "fields": sorted(set(meta.get("fields", [])) | prepared.fields),
    }
    if meta.get("link_report") is not None:
        # Absent: a schema loaded before reports existed; a report of only the new
        # documents would pass for the whole index, so none is kept.
        old = LinkReport.from_json(meta["link_report"])
        values["link_report"] = old.merged(prepared.report).to_json()
    _set_meta(conn, values)
    has_ann = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (_HNSW_INDEX,)).fetchone()[0]
    if count >= ann_threshold and not has_ann:
        # The embedded backend's HNSW parameters (M 16, ef_construction 200).
        with progress_bar("building the HNSW index", total=None, enabled=progress):
            conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
            conn.execute(
                f"CREATE INDEX {_HNSW_INDEX} ON rc_documents USING hnsw "
                "(embedding vector_cosine_ops) WITH (m = 16, ef_construction = 200)"
            )


def _vacuum(db: Database) -> None:
    # Outside the load's transaction (VACUUM cannot run in one): sets the visibility map so
    # the postings are read by index-only scans, and hint bits so the first searches do not
    # write every page they read.
    db.execute("VACUUM ANALYZE rc_postings")
    db.execute("VACUUM ANALYZE rc_documents")


def _write_graph(conn: Any, kg: KnowledgeGraph) -> None:
    with conn.cursor() as cur:
        # seq keeps the graph's own order: type and relation lists (the rewriter's catalog,
        # hence its prompt and cache keys) are ordered by frequency, then first appearance.
        with cur.copy("COPY rc_entities (id, seq, name, type, aliases, is_a) FROM STDIN") as copy:
            for i, e in enumerate(kg.entities.values()):
                copy.write_row((e.id, i, e.name, e.type, e.aliases, e.is_a))
        with cur.copy("COPY rc_isa (child, parent) FROM STDIN") as copy:
            for e in kg.entities.values():
                for parent in dict.fromkeys(e.is_a):
                    copy.write_row((e.id, parent))
        with cur.copy("COPY rc_edges (seq, subject, relation, object, source) FROM STDIN") as copy:
            for i, r in enumerate(kg.relations):
                copy.write_row((i, r.subject, r.relation, r.object, r.source))


def _read_graph(db: Database, min_mentions: int) -> KnowledgeGraph:
    kg = KnowledgeGraph(min_mentions=min_mentions)
    for eid, name, etype, aliases, is_a in db.rows(
        "SELECT id, name, type, aliases, is_a FROM rc_entities ORDER BY seq"
    ):
        kg.add_entity(Entity(id=eid, name=name, type=etype, aliases=aliases, is_a=is_a))
    for subject, relation, obj, source in db.rows(
        "SELECT subject, relation, object, source FROM rc_edges ORDER BY seq"
    ):
        kg.add_relation(Relation(subject=subject, relation=relation, object=obj, source=source))
    return kg
