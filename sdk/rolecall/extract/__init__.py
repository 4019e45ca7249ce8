"""A knowledge graph from a corpus, for users who have none (`rolecall kg extract`).

```python
from rolecall.extract import ExtractionSchema, extract_graph

schema = ExtractionSchema.from_specs(relations=["treats:drug:symptom", "causes:drug:symptom"])
result = extract_graph(read_corpus("corpus.jsonl"), model="openai/gpt-4o-mini", schema=schema)
print(result.report.summary())
result.write("out", read_corpus("corpus.jsonl"))   # out/kg.jsonl, out/corpus.linked.jsonl
```

An LLM reads each document against the schema (as LightRAG, GraphRAG and LlamaIndex's
schema-guided extractors do); unlike theirs, nothing the model says is kept unless the
document says it too (`ground.py`), entities are merged across documents by name and alias
(`merge.py`), and the report lists everything dropped and why.  Without a model, a lexical
fallback proposes entities and no relations (`lexical.py`).
"""

from __future__ import annotations

from .auto import model_from_env
from .ground import DocExtraction, ground
from .lexical import Proposal, propose_entities
from .merge import Fact
from .output import write_extraction
from .prompt import Reply, ReplyEntity, ReplyTriple, prompt_hash
from .report import DocFailure, DroppedEntity, DroppedTriple, ExtractionReport
from .run import ExtractionResult, default_cache_path, extract_graph, reply_cache_key
from .schema import ExtractionSchema, RelationSpec

__all__ = [
    "DocExtraction", "DocFailure", "DroppedEntity", "DroppedTriple", "ExtractionReport",
    "ExtractionResult", "ExtractionSchema", "Fact", "Proposal", "RelationSpec", "Reply",
    "ReplyEntity", "ReplyTriple", "default_cache_path", "extract_graph", "ground",
    "model_from_env", "prompt_hash", "propose_entities", "reply_cache_key", "write_extraction",
]
