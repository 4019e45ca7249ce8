"""The demo's corpus and queries as a BEIR folder, so that `rolecall eval` can score a graph
on them (BENCHMARKS.md, "A graph from a corpus": the demo KG against one extracted from the
same corpus). A query's `wanted` documents are relevant (grade 1), its `unwanted` ones are
the violating documents (grade 0).

    .venv/bin/python benchmarks/demo_beir.py OUT [CORPUS]

CORPUS defaults to the demo's own corpus.jsonl; give `rolecall kg extract`'s
corpus.linked.jsonl to score the documents as the extraction linked them.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from rolecall.demo import demo_data_dir, demo_queries


def write(out: Path, corpus: Path) -> None:
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(corpus, out / "corpus.jsonl")
    queries, qrels = [], ["query-id\tcorpus-id\tscore"]
    for i, q in enumerate(demo_queries(), start=1):
        qid = f"demo{i:02d}"
        queries.append({"_id": qid, "text": q.query, "metadata": {"violating": q.unwanted}})
        qrels += [f"{qid}\t{d}\t1" for d in q.wanted]
    (out / "queries.jsonl").write_text(
        "".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (out / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n", encoding="utf-8")


if __name__ == "__main__":
    corpus = Path(sys.argv[2]) if len(sys.argv) > 2 else demo_data_dir() / "corpus.jsonl"
    write(Path(sys.argv[1]), corpus)
