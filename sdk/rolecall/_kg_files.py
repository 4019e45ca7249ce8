"""Reading knowledge-graph files, deciding whether a table has a header, and the load report.

Kept apart from `rolecall.graph` so that the graph module holds the graph and this one holds
the files' quirks.  Nothing here knows an `Entity`: readers yield plain payloads, which
`KnowledgeGraph.load` validates, so that this module imports nothing from the graph.

**Headers.**  A TSV of triples may start with a header row, and nothing marks it as one: the
row `drug<TAB>relation<TAB>condition` is also a well-formed triple.  `decide_tsv_header`
reads it as a header when it is declared (`header=True`, or a first line `#a<TAB>b<TAB>c`)
or when its shape says so (see that function for the rule).  The header's end cells name the
types of the ends (`drug`, `condition`), unless they are generic column names (`subject`).

**Aliases that match almost everywhere.**  `generic_form` tells which surface forms would link
nearly every document (`the`, `it`, `a`, `2`): the loader drops such aliases and reports
them, and the matcher never matches by such a form, whatever its origin.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ._jsonl import read_jsonl, read_lines
from .errors import KnowledgeGraphError

__all__ = [
    "DroppedAlias", "FileReport", "LoadReport", "ParsedFile", "RawTriple", "SkippedRow",
    "decide_tsv_header", "generic_form", "read_kg_file",
]

FileFormat = Literal["jsonl", "csv", "tsv"]
#: how a file's header was found: passed to `load`, a `#` first line, its middle cell names a
#: column, its ends name the two columns, the shape of the rows, or required (entity CSV)
HeaderSource = Literal["declared", "comment", "column name", "end names", "shape", "required"]

# -- the alias rule ----------------------------------------------------------------------------

# Generic English function words only: articles, pronouns, auxiliaries, prepositions,
# conjunctions and a few adverbs.  No domain's words belong here — a word that is common in
# one corpus is that corpus's business, and frequency is what `min_mentions` is for.
_STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be been before being
below between both but by can could did do does doing done down during each either else
etc few for from further had has have having he her here hers herself him himself his how i
if in into is it its itself just me more most my myself neither no nor not now of off on
once one only onto or other our ours ourselves out over own per same shall she should so
some such than that the their theirs them themselves then there these they this those
through thus to too under until up upon us very via was we were what when where whether
which while who whom whose why will with within without would yes yet you your yours
yourself yourselves it's i'm don't doesn't isn't can't won't
""".split())
_NUMBER = re.compile(r"[\d\s.,:/+\-%]+")


def generic_form(key: str) -> str | None:
    """Why a normalized surface form would match almost any text, or None when it would not.

    Such a form cannot tell documents apart: one character ("x"), a number ("2", "1.5"),
    no letter or digit ("--"), or generic English words only ("the", "it", "of the")."""
    if not any(c.isalnum() for c in key):
        return "no letter or digit"
    if _NUMBER.fullmatch(key):
        return "a number"
    if len(key) < 2:
        return "one character"
    words = key.split()
    if len(words) == 1 and key in _STOPWORDS:
        return "a common English word"
    if all(w in _STOPWORDS for w in words):
        return "common English words only"
    return None


# -- the load report ---------------------------------------------------------------------------


class SkippedRow(BaseModel):
    """A well-formed row that was not loaded, and why (a malformed row raises instead)."""

    line: int
    reason: str


class DroppedAlias(BaseModel):
    """An alias the loader dropped because it would match almost any text."""

    entity: str
    alias: str
    reason: str
    line: int | None = None


class FileReport(BaseModel):
    """What `KnowledgeGraph.load` read from one file."""

    path: str
    format: FileFormat
    #: the header's cells, when the file had one (an entity CSV always has)
    header: list[str] | None = None
    header_source: HeaderSource | None = None
    #: entities declared in the file
    entities: int = 0
    #: entities created from the ends of the file's triples (not declared anywhere)
    entities_created: int = 0
    #: relations (edges, triples) loaded, by relation name
    relations: Counter[str] = Field(default_factory=Counter)
    #: relation types declared by the file (records, or a header's end types)
    relation_types: list[str] = Field(default_factory=list)
    skipped: list[SkippedRow] = Field(default_factory=list)
    aliases_dropped: list[DroppedAlias] = Field(default_factory=list)
    #: what was read differently from what the file may have meant (ignored fields, …)
    notes: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        """One line: `kg.tsv (tsv): header […]; 3 entities, 5 relations (treats 4, …), …`."""
        head = ""
        if self.format != "jsonl":
            head = (f"header [{', '.join(self.header)}] ({self.header_source}); "
                    if self.header is not None else "no header; ")
        created = f" (+{self.entities_created} from triple ends)" if self.entities_created else ""
        by_name = ", ".join(f"{r} {n}" for r, n in self.relations.most_common(4))
        more = ", …" if len(self.relations) > 4 else ""
        rels = _count(sum(self.relations.values()), "relation") + (
            f" ({by_name}{more})" if by_name else "")
        return (f"{self.path} ({self.format}): {head}{_count(self.entities, 'entity')}{created}, "
                f"{rels}, {_count(len(self.relation_types), 'relation type')}, "
                f"{_count(len(self.skipped), 'row')} skipped, "
                f"{_count(len(self.aliases_dropped), 'alias')} dropped")

    def details(self) -> list[str]:
        """Every skipped row, dropped alias and note, one a line."""
        out = [f"line {s.line}: skipped, {s.reason}" for s in self.skipped]
        out += [(f"line {d.line}: " if d.line else "")
                + f"alias {d.alias!r} of {d.entity} dropped ({d.reason})"
                for d in self.aliases_dropped]
        return out + [f"note: {n}" for n in self.notes]


def _count(n: int, noun: str) -> str:
    plural = {"entity": "entities", "alias": "aliases"}.get(noun, f"{noun}s")
    return f"{n} {noun if n == 1 else plural}"


class LoadReport(BaseModel):
    """What `KnowledgeGraph.load` read, file by file; `str()` of it is for a terminal."""

    files: list[FileReport] = Field(default_factory=list)

    def summary(self) -> str:
        """One line per file."""
        return "\n".join(f.summary() for f in self.files)

    def __str__(self) -> str:
        lines: list[str] = []
        for f in self.files:
            lines.append(f.summary())
            lines += [f"  {d}" for d in f.details()]
        return "\n".join(lines)


# -- reading -----------------------------------------------------------------------------------


@dataclass
class RawTriple:
    line: int
    subject: str
    relation: str
    object: str


@dataclass
class ParsedFile:
    """One file as read: records to validate (JSONL, CSV) or triples (TSV), before the graph
    knows enough to decide a TSV's header."""

    path: Path
    format: FileFormat
    #: (line, "entity" | "relation" | "relation_type", payload)
    records: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    triples: list[RawTriple] = field(default_factory=list)
    header: list[str] | None = None
    header_source: HeaderSource | None = None
    notes: list[str] = field(default_factory=list)

    def end_types(self) -> tuple[str | None, str | None]:
        """The types a TSV header gives the subject and the object, when it names them."""
        if not self.header or len(self.header) < 3:
            return None, None
        return _type_name(self.header[0]), _type_name(self.header[2])


def read_kg_file(path: Path, header: bool | None = None) -> ParsedFile:
    """Read one KG file by its suffix; malformed rows raise `KnowledgeGraphError`."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return _read_jsonl(path)
    if suffix == ".csv":
        return _read_csv(path, header)
    if suffix == ".tsv":
        return _read_tsv(path)
    raise KnowledgeGraphError(
        "unknown knowledge-graph format; use .jsonl, .csv (entities) or .tsv (triples)",
        path=path,
    )


def _read_jsonl(path: Path) -> ParsedFile:
    parsed = ParsedFile(path=path, format="jsonl")
    for lineno, rec in read_jsonl(path, KnowledgeGraphError):
        if not isinstance(rec, dict):
            raise KnowledgeGraphError("expected a JSON object", path=path, line=lineno)
        kind = rec.pop("kind", None) or ("relation" if "relation" in rec else "entity")
        if kind not in ("entity", "relation"):
            raise KnowledgeGraphError(
                f"unknown kind {kind!r}; use 'entity' or 'relation'", path=path, line=lineno
            )
        if kind == "relation" and "name" in rec and "subject" not in rec:
            kind = "relation_type"  # a declaration of what the name means, not an edge
        parsed.records.append((lineno, kind, rec))
    return parsed


_CSV_COLUMNS = ("id", "name", "type", "aliases", "is_a")


def _read_csv(path: Path, header: bool | None) -> ParsedFile:
    """Entities; the header is required unless `header=False` (columns in `_CSV_COLUMNS`
    order), since an entity CSV has no shape to detect a header by."""
    parsed = ParsedFile(path=path, format="csv")
    reader = csv.reader(line for _, line in read_lines(path, KnowledgeGraphError))
    rows = ((reader.line_num, row) for row in reader)
    first = next(rows, None)
    if header is False:
        names: list[str] = list(_CSV_COLUMNS)
        body: Iterable[tuple[int, list[str]]] = chain([first] if first else [], rows)
    else:
        names = [c.strip() for c in (first[1] if first else [])]
        if "id" not in names:
            raise KnowledgeGraphError(
                "entity CSV needs a header with at least 'id' (id,name,type,aliases,is_a), or "
                "load it with header=False to read the columns in that order; its first line "
                f"reads {first[1] if first else []!r}", path=path, line=1)
        parsed.header, parsed.header_source = names, "declared" if header else "required"
        body = rows
    unknown = [n for n in names if n and n not in _CSV_COLUMNS]
    if unknown:
        parsed.notes.append(f"columns ignored: {', '.join(unknown)}")
    longer = 0
    for lineno, row in body:
        if not any(c.strip() for c in row):
            continue  # a blank row, as csv.DictReader skips
        longer += len(row) > len(names)
        # A short row leaves the last columns empty, a long one's extra cells are noted.
        cells = zip(names, row, strict=False)
        payload: dict[str, Any] = {k: v.strip() for k, v in cells if k in _CSV_COLUMNS}
        for list_field in ("aliases", "is_a"):
            payload[list_field] = [
                s.strip() for s in payload.get(list_field, "").split("|") if s.strip()
            ]
        payload["type"] = payload.get("type") or None
        parsed.records.append((lineno, "entity", payload))
    if longer:
        parsed.notes.append(f"{longer} rows have more cells than the header; the extra "
                            "cells are ignored")
    return parsed


def _read_tsv(path: Path) -> ParsedFile:
    parsed = ParsedFile(path=path, format="tsv")
    longer = 0
    for lineno, raw in read_lines(path, KnowledgeGraphError):
        if not raw.strip():
            continue
        cols = [c.strip() for c in raw.rstrip("\r\n").split("\t")]
        if raw.startswith("#"):
            # `#drug<TAB>relation<TAB>condition` as the first line declares the header.
            cells = [c.strip() for c in raw.lstrip("#").strip().split("\t")]
            if lineno == 1 and len(cells) == 3 and all(cells):
                parsed.header, parsed.header_source = cells, "comment"
            continue
        if len(cols) < 3 or not all(cols[:3]):
            raise KnowledgeGraphError(
                "expected 'subject<TAB>relation<TAB>object'", path=path, line=lineno
            )
        longer += len(cols) > 3 and any(cols[3:])
        parsed.triples.append(RawTriple(lineno, cols[0], cols[1], cols[2]))
    if longer:
        parsed.notes.append(f"{longer} rows have more than 3 columns; the columns after "
                            "the third are ignored")
    return parsed


# -- TSV headers -------------------------------------------------------------------------------

# Names people give the middle column of a triple table.  A relation of the data is never
# called this (and if one were, it would repeat below the header, which rule 2 checks first).
_COLUMN_WORDS = frozenset({
    "relation", "relations", "relationship", "relation_type", "relation_name", "rel",
    "predicate", "pred", "property", "prop", "edge", "edge_type", "link", "link_type",
    "verb", "p", "r",
})
# Names of the end columns that say nothing about what the ends are, so they give no type.
_END_WORDS = frozenset({
    "subject", "subj", "object", "obj", "head", "tail", "source", "src", "target", "tgt",
    "from", "to", "start", "end", "entity", "entity_1", "entity_2", "entity1", "entity2",
    "node", "node1", "node2", "arg1", "arg2", "value",
})


def _column_key(cell: str) -> str:
    return re.sub(r"[\s\-]+", "_", cell.strip().lower())


def _type_name(cell: str) -> str | None:
    return None if _column_key(cell) in _END_WORDS or len(cell.strip()) < 2 else cell.strip()


def _written_like(cell: str) -> tuple[bool, bool]:
    """How a name is written: with capitals, with spaces (relation ids usually have neither)."""
    return any(c.isupper() for c in cell), " " in cell


def decide_tsv_header(
    parsed: ParsedFile, declared: bool | None, *,
    is_entity: Callable[[str], bool], is_relation: Callable[[str], bool],
) -> None:
    """Decide whether the first triple of a TSV is its header, and if so take it out.

    `is_entity` / `is_relation` say whether a cell is an entity or a relation name known from
    elsewhere: declared entities, the ends and relations of other files' rows and of this
    file's other rows, declared relation types.  The rule, in order:

    1. declared: `header=True` / `False` wins; a `#a<TAB>b<TAB>c` first line is a header;
    2. its middle cell is the relation of another row (or a known relation): data;
    3. its middle cell names a column (`relation`, `predicate`, `rel`, `property`, …): header;
    4. both ends name end columns (`subject`/`object`, `head`/`tail`, …) and neither is a
       known entity: header;
    5. by shape: at least 3 other rows that repeat few relation names (on average each at
       least twice), the first row's middle cell used nowhere else and written unlike them
       (capitals or spaces where theirs have none), and neither end a known entity: header;
    6. otherwise: data.  Reading a header as a triple adds two odd entities and one edge;
       reading a triple as a header loses a fact and mistypes every end, so doubt is data.
    """
    if parsed.header_source == "comment" and declared is not False:
        return
    parsed.header = parsed.header_source = None  # header=False: the comment is only a comment
    if not parsed.triples or declared is False:
        return
    first, others = parsed.triples[0], parsed.triples[1:]
    source: HeaderSource | None = "declared" if declared else None
    if source is None and not is_relation(first.relation):
        source = _header_by_shape(first, others, is_entity)
    if source is not None:
        parsed.header = [first.subject, first.relation, first.object]
        parsed.header_source = source
        parsed.triples = others


def _header_by_shape(
    first: RawTriple, others: list[RawTriple], is_entity: Callable[[str], bool]
) -> HeaderSource | None:
    """Rules 3-5 of `decide_tsv_header`, for a first row whose middle cell is not a known
    relation."""
    if _column_key(first.relation) in _COLUMN_WORDS:
        return "column name"
    if is_entity(first.subject) or is_entity(first.object):
        return None
    if _column_key(first.subject) in _END_WORDS and _column_key(first.object) in _END_WORDS:
        return "end names"
    used = Counter(t.relation for t in others)
    repeats = len(others) >= 3 and 2 * len(used) <= len(others)
    written = {_written_like(r) for r in used}
    if repeats and _written_like(first.relation) not in written:
        return "shape"
    return None
