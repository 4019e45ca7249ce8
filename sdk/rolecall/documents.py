"""`Document` and the corpus readers (JSONL / BEIR layout) with line-numbered errors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._jsonl import read_jsonl
from .errors import CorpusError

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
    # Ids are stored as text.  A string or an integer has one obvious text; a list, a bool,
    # a float (NaN, 1.0) or an object has none, and str() of it would be a silent guess.
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        raise CorpusError(
            f"'_id' must be a string or an integer, got {type(doc_id).__name__} {doc_id!r}",
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
    seen = _Seen(p)
    for lineno, record in read_jsonl(p, CorpusError):
        doc = _record_to_document(record, p, lineno)
        seen.check(doc.id, record.get("_id", record.get("id")), lineno)
        yield doc


def coerce_documents(docs: Iterable[Document | dict[str, Any]]) -> list[Document]:
    """Accept Documents or plain dicts (same keys as a corpus line); reject duplicate ids."""
    out: list[Document] = []
    seen = _Seen(Path("<documents>"))
    for i, d in enumerate(docs, start=1):
        doc = d if isinstance(d, Document) else _record_to_document(d, Path("<documents>"), i)
        raw = doc.id if isinstance(d, Document) else d.get("_id", d.get("id"))
        seen.check(doc.id, raw, i)
        out.append(doc)
    return out


class _Seen:
    """Duplicate ids, reported with the line of the first use; an integer id and the same
    digits as a string are one id once stored, and the message says so."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.first: dict[str, tuple[int, object]] = {}

    def check(self, doc_id: str, raw: object, line: int) -> None:
        prior = self.first.get(doc_id)
        if prior is None:
            self.first[doc_id] = (line, raw)
            return
        first_line, first_raw = prior
        detail = ""
        if type(first_raw) is not type(raw):
            detail = (f" (the integer {doc_id} and the string {doc_id!r} are the same id once "
                      "stored as text)")
        raise CorpusError(
            f"duplicate document id {doc_id!r}{detail}, first used at line {first_line}",
            path=self.path, line=line,
        )
