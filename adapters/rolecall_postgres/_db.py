"""One connection, shared by the legs of a `PostgresIndex`, and the schema it keeps.

Every statement is a constant string with bound parameters; the only identifier ever
composed is the schema name, and that goes through `psycopg.sql.Identifier`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rolecall.errors import BackendError, MissingDependencyError

__all__ = ["SCHEMA_FORMAT", "Database", "schema_ddl"]

#: Bumped when the tables change shape; `PostgresIndex.open` refuses other versions.
SCHEMA_FORMAT = 1


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise MissingDependencyError("psycopg", "postgres") from exc
    return psycopg


def schema_ddl(dim: int) -> list[str]:
    """The tables of one rolecall index (in the connection's search_path schema)."""
    if not isinstance(dim, int) or not 0 < dim <= 16_000:
        raise BackendError(f"embedding dimension {dim!r} is not one pgvector can store")
    # DDL takes no bind parameters; `dim` is the only value in it, checked above.
    return [
        "CREATE TABLE rc_meta (key text PRIMARY KEY, value jsonb NOT NULL)",
        # ord is the 0-based load position: the legs speak in ordinals, as the embedded ones do.
        f"""CREATE TABLE rc_documents (
            ord bigint PRIMARY KEY,
            id text NOT NULL UNIQUE,
            title text NOT NULL,
            body text NOT NULL,
            metadata jsonb NOT NULL,
            about text[] NOT NULL,
            mentions jsonb NOT NULL,
            title_tsv tsvector NOT NULL,
            body_tsv tsvector NOT NULL,
            embedding vector({dim}) NOT NULL)""",
        "CREATE INDEX rc_documents_title_tsv ON rc_documents USING gin (title_tsv)",
        "CREATE INDEX rc_documents_body_tsv ON rc_documents USING gin (body_tsv)",
        # BM25's inputs: per (term, document) frequencies and tantivy-quantised field lengths.
        """CREATE TABLE rc_postings (
            term text NOT NULL, ord bigint NOT NULL, tf_title integer NOT NULL,
            tf_body integer NOT NULL, title_norm integer NOT NULL, body_norm integer NOT NULL,
            PRIMARY KEY (term, ord))""",
        # Covering: a query term's postings are read from the index alone (after VACUUM).
        "CREATE INDEX rc_postings_cover ON rc_postings (term) "
        "INCLUDE (ord, tf_title, tf_body, title_norm, body_norm)",
        """CREATE TABLE rc_terms (
            term text PRIMARY KEY, df_title bigint NOT NULL, df_body bigint NOT NULL)""",
        """CREATE TABLE rc_entities (
            id text PRIMARY KEY, seq bigint NOT NULL, name text NOT NULL, type text,
            aliases text[] NOT NULL, is_a text[] NOT NULL)""",
        "CREATE INDEX rc_entities_type ON rc_entities (type)",
        "CREATE TABLE rc_isa (child text NOT NULL, parent text NOT NULL, "
        "PRIMARY KEY (child, parent))",
        "CREATE INDEX rc_isa_parent ON rc_isa (parent)",
        "CREATE TABLE rc_edges (seq bigint PRIMARY KEY, subject text NOT NULL, "
        "relation text NOT NULL, object text NOT NULL, source text NOT NULL)",
        "CREATE INDEX rc_edges_forward ON rc_edges (subject, relation)",
        "CREATE INDEX rc_edges_backward ON rc_edges (object, relation)",
        "CREATE TABLE rc_about (entity text NOT NULL, ord bigint NOT NULL, "
        "PRIMARY KEY (entity, ord))",
    ]


class Database:
    """A psycopg connection in autocommit mode, used under a lock (one statement at a time:
    a connection is not a pool; give each app server its own `PostgresIndex`)."""

    def __init__(self, dsn: str, schema: str) -> None:
        psycopg = _psycopg()
        self.dsn = dsn
        self.schema = schema
        self.errors = psycopg.Error
        try:
            # prepare_threshold=None: no server-side prepared plans, so every statement is
            # planned with its actual arrays (a generic plan cannot size an allowed set).
            self.conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=None)
        except psycopg.Error as exc:
            raise BackendError(
                f"cannot connect to PostgreSQL ({_reason(exc)}); check the DSN "
                "(postgresql://user@host:port/dbname) and that the server is up"
            ) from None
        self._lock = threading.RLock()
        self._set_search_path()

    def _set_search_path(self) -> None:
        from psycopg import sql

        self.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(self.schema)))

    def close(self) -> None:
        """Close the connection; idempotent."""
        with self._lock:
            self.conn.close()

    @property
    def closed(self) -> bool:
        return bool(self.conn.closed)

    def execute(self, query: Any, params: Sequence[Any] | dict[str, Any] | None = None) -> None:
        with self._lock, self._translate():
            self.conn.execute(query, params)

    def rows(
        self,
        query: Any,
        params: Sequence[Any] | dict[str, Any] | None = None,
        *,
        binary: bool = False,
    ) -> list[tuple[Any, ...]]:
        """All rows; `binary=True` fetches in PostgreSQL's binary format (large int arrays
        parse several times faster than their text)."""
        with self._lock, self._translate():
            return list(self.conn.execute(query, params, binary=binary).fetchall())

    def value(self, query: Any, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        found = self.rows(query, params)
        return found[0][0] if found else None

    def meta(self, key: str, default: Any = None) -> Any:
        """One value of the index's `rc_meta` table (JSON-decoded)."""
        found = self.value("SELECT value FROM rc_meta WHERE key = %s", (key,))
        return default if found is None else found

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A transaction on the shared connection, held under the lock throughout."""
        with self._lock, self._translate(), self.conn.transaction():
            yield self.conn

    @contextmanager
    def _translate(self) -> Iterator[None]:
        if self.conn.closed:
            raise BackendError(
                f"the connection to PostgreSQL (schema {self.schema!r}) is closed (close() was "
                "called, or the server went away); open the index again: PostgresIndex.open(dsn)"
            )
        try:
            yield
        except self.errors as exc:
            raise BackendError(f"PostgreSQL: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
