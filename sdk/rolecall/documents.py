"""`Document` and the corpus readers (JSONL / BEIR layout) with line-numbered errors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import CorpusError
from .jsonl import read_jsonl

__all__ = ["Document", "read_corpus"]


class Document(BaseModel):
    """One retrievable unit: an id, optional title, text and free-form metadata.

    `metadata["entities"]`, when present, lists knowledge-graph entity ids the document is
    about; attribute filters compare against the other metadata keys.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    text: str
    title: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def full_text(self) -> str:
        """Title and text, as indexed and embedded."""
        return f"{self.title}\n{self.text}" if self.title else self.text


def _record_to_document(record: Any, path: Path, line: int) -> Document:
    if not isinstance(record, dict):
        raise CorpusError("expected a JSON object per line", path=path, line=line)
    doc_id = record.get("_id", record.get("id"))
    if doc_id is None or (isinstance(doc_id, str) and not doc_id.strip()):
        raise CorpusError(
            "record has no '_id' (or 'id'); give every document a non-empty id",
            path=path,
            line=line,
        )
    text = record.get("text")
    if not isinstance(text, str):
        raise CorpusError("record has no string 'text' field", path=path, line=line)
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise CorpusError("'metadata' must be a JSON object", path=path, line=line)
    try:
        return Document(
            id=str(doc_id), text=text, title=str(record.get("title") or ""), metadata=metadata
        )
    except ValidationError as exc:
        raise CorpusError(f"invalid document: {exc.errors()[0]['msg']}", path=path, line=line)


def read_corpus(path: str | Path) -> Iterator[Document]:
    """Yield the documents of a JSONL corpus (BEIR `corpus.jsonl` or rolecall's own form).

    Each line is `{"_id" | "id", "text", "title"?, "metadata"?}`.  Blank lines are skipped.
    A malformed line raises `CorpusError` naming the file and the 1-based line number;
    a duplicate id raises too, because silently keeping one of two would lose a document.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "corpus.jsonl"
    if not p.exists():
        raise CorpusError("no such corpus file; pass a JSONL file or a BEIR folder", path=p)
    seen: set[str] = set()
    for lineno, record in read_jsonl(p, CorpusError):
        doc = _record_to_document(record, p, lineno)
        if doc.id in seen:
            raise CorpusError(f"duplicate document id {doc.id!r}", path=p, line=lineno)
        seen.add(doc.id)
        yield doc


def coerce_documents(docs: Iterable[Document | dict[str, Any]]) -> list[Document]:
    """Accept Documents or plain dicts (same keys as a corpus line); reject duplicate ids."""
    out: list[Document] = []
    seen: set[str] = set()
    for i, d in enumerate(docs, start=1):
        doc = d if isinstance(d, Document) else _record_to_document(d, Path("<documents>"), i)
        if doc.id in seen:
            raise CorpusError(f"duplicate document id {doc.id!r}", path="<documents>", line=i)
        seen.add(doc.id)
        out.append(doc)
    return out
