"""Writing an extraction where `rolecall index` reads it.

* `kg.jsonl` — the schema's relation declarations, the entities, then the edges (`source`:
  the first document stating each): `rolecall index --kg DIR/kg.jsonl` loads it as is;
* `corpus.linked.jsonl` — the corpus again, each document's `metadata.entities` set to the
  ids of the entities it is about (an input `metadata.entities` names another graph's ids,
  so it is replaced; a document extracted from nothing has none, and is linked by its text
  at indexing time);
* `facts.jsonl` — every grounded triple with its document and quoted evidence, to review;
* `report.json` — the `ExtractionReport`.

Each file is written beside its destination and renamed into place, so a crash never leaves
a half-written graph where the last good one was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..documents import Document

if TYPE_CHECKING:
    from .run import ExtractionResult

__all__ = ["write_extraction"]


def _kg_records(result: ExtractionResult) -> Iterator[dict[str, Any]]:
    for rt in result.kg.schema.values():
        yield {"kind": "relation", **rt.model_dump(exclude_defaults=True)}
    for ent in result.kg.entities.values():
        yield {"kind": "entity", **ent.model_dump(exclude_defaults=True)}
    for rel in result.kg.relations:
        yield {"kind": "relation", **rel.model_dump()}


def _linked(result: ExtractionResult, documents: Iterable[Document]) -> Iterator[dict[str, Any]]:
    for doc in documents:
        metadata = {k: v for k, v in doc.metadata.items() if k != "entities"}
        ids = result.links.get(doc.id)
        if ids:
            metadata["entities"] = ids
        yield {"_id": doc.id, "title": doc.title, "text": doc.text, "metadata": metadata}


def _write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def write_extraction(
    result: ExtractionResult, documents: Iterable[Document], out: str | Path
) -> dict[str, Path]:
    """Write the four files into `out` (created); their paths by name."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in
             ("kg.jsonl", "corpus.linked.jsonl", "facts.jsonl", "report.json")}
    _write_jsonl(paths["kg.jsonl"], _kg_records(result))
    _write_jsonl(paths["corpus.linked.jsonl"], _linked(result, documents))
    _write_jsonl(paths["facts.jsonl"], (vars(f) for f in result.facts))
    tmp = folder / ".report.json.tmp"
    tmp.write_text(result.report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, paths["report.json"])
    return paths
