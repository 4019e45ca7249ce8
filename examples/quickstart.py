"""Ten lines: build an index with a knowledge graph, search it, reopen it, explain a miss.

    .venv/bin/python examples/quickstart.py [INDEX_DIR]
"""

import sys
import tempfile

from rolecall import KnowledgeGraph, Retriever, read_corpus
from rolecall.demo import demo_data_dir

data = demo_data_dir()
path = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="rolecall-") + "/index"
kg = KnowledgeGraph.load([data / "kg.jsonl"])
Retriever.build(path, read_corpus(data / "corpus.jsonl"), kg=kg, progress=False)

r = Retriever.open(path)                      # any process can open it read-only
result = r.search("a drug that treats headaches", k=3)
for hit in result.hits:
    print(f"{hit.score:.3f}  {hit.title:30s}  {hit.explanation.summary()}")
for check in r.explain_document("a drug that treats headaches", "d06"):   # sildenafil
    print(f"why not d06: {check.constraint}: {'ok' if check.satisfied else check.evidence}")
