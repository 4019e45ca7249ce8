"""Linking documents to entities by their metadata ("your schema, your words").

A user's corpus says what each document is about in its own fields (`drug: "Sertraline"`)
far more reliably than its text does: a review rarely names its drug twice, so the text
linker (title mentions, `min_mentions` mentions, or the first sentence of a short text)
misses it.  `link_fields` reads the named
fields, looks each value up in the graph (`KnowledgeGraph.lookup`: exact id or name, alias,
normalised form, fuzzy) and accepts a link only when it is unambiguous and, for a fuzzy
match, close enough (`FUZZY_THRESHOLD`).  An accepted link makes the document *about* the
entity, exactly as an id in `metadata["entities"]` does; both backends call `link_document`,
so they link alike.

Nothing is dropped silently: every value that was not linked, and why, is a `FieldLink`
with no entity, and `LinkReport` counts documents and values for the index's manifest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .documents import Document
from .errors import UsageError
from .graph import DocLinks, KnowledgeGraph

__all__ = [
    "FUZZY_THRESHOLD",
    "FieldLink",
    "FieldStats",
    "LinkReport",
    "checked_link_fields",
    "explicit_ids",
    "link_document",
    "link_fields",
    "link_value",
]

#: The lowest fuzzy confidence accepted, on `KnowledgeGraph.lookup`'s scale (WRatio / 100 ×
#: 0.9, so 0.85 is a WRatio of about 94).  It accepts one dropped letter in a ten-letter
#: name ("Sertralin", 0.853) and a trailing salt ("sertraline hcl", 0.855); it refuses a
#: changed letter ("fluoxitine", 0.81), an added word ("Zoloft XR", 0.81) and — the reason
#: it is not lower — a different drug sharing a stem ("citalopram" ~ "escitalopram", 0.82).
FUZZY_THRESHOLD = 0.85
#: Methods of an accepted link (lookup's own names).
ACCEPTED = ("exact", "alias", "fuzzy")
#: Why a value was not linked: no candidate; a fuzzy candidate under the threshold; several
#: entities with the same best confidence; not a string.
REJECTED = ("unmatched", "below_threshold", "ambiguous", "not_text")
#: Example values kept per field in a report (enough to see a pattern, small in a manifest).
MAX_EXAMPLES = 10
_TIE = 1e-9


@dataclass(frozen=True)
class FieldLink:
    """One metadata value and what it linked to (`entity_id` None: not linked, see `method`).

    `candidates` are the best entities lookup offered when the link was refused (ambiguous
    or below the threshold), so a report can say what a value nearly matched."""

    field: str
    value: str
    entity_id: str | None
    method: str
    confidence: float
    candidates: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.entity_id is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "value": self.value,
                               "entity": self.entity_id, "method": self.method,
                               "confidence": round(self.confidence, 4)}
        if self.candidates:
            out["candidates"] = list(self.candidates)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FieldLink:
        return cls(field=str(data["field"]), value=str(data["value"]),
                   entity_id=data.get("entity"), method=str(data["method"]),
                   confidence=float(data.get("confidence", 0.0)),
                   candidates=tuple(data.get("candidates", ())))


def checked_link_fields(fields: str | Sequence[str], kg: KnowledgeGraph) -> tuple[str, ...]:
    """The link fields of a build, checked: names of metadata fields, without repeats."""
    names = (fields,) if isinstance(fields, str) else tuple(fields)
    bad = [n for n in names if not isinstance(n, str) or not n.strip() or n == "entities"]
    if bad:
        raise UsageError(
            f"link_fields must name metadata fields, got {bad[0]!r}"
            + (" (`entities` already holds entity ids; it needs no linking)"
               if bad[0] == "entities" else "")
        )
    if names and not len(kg):
        # Every value would be reported unmatched: the build would succeed and link nothing.
        raise UsageError(
            f"link_fields {list(names)} need a knowledge graph to link to; pass kg= "
            "(`--kg FILE` on the command line)"
        )
    return tuple(dict.fromkeys(names))


def link_value(
    kg: KnowledgeGraph, field_name: str, value: object, *, threshold: float = FUZZY_THRESHOLD
) -> FieldLink:
    """Link one field value: the best lookup candidate when it is unique and, if fuzzy, at
    least `threshold` confident."""
    if not isinstance(value, str):
        return FieldLink(field_name, repr(value), None, "not_text", 0.0)
    found = kg.lookup(value)
    if not found:
        return FieldLink(field_name, value, None, "unmatched", 0.0)
    best = found[0][2]
    top = tuple(eid for eid, _, conf in found if conf >= best - _TIE)
    method = found[0][1]
    if len(top) > 1:
        # Equal confidence means lookup cannot tell them apart (an alias shared by two
        # entities, or two names equally close): guessing would link a document to the
        # wrong entity with no trace, so the value is reported instead.
        return FieldLink(field_name, value, None, "ambiguous", best, top)
    if method == "fuzzy" and best < threshold:
        return FieldLink(field_name, value, None, "below_threshold", best, top)
    return FieldLink(field_name, value, top[0], method, best)


def _values(raw: object) -> list[object]:
    """A field's values: a string, or each item of a list (None and blanks are absent)."""
    items: list[object] = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    return [v for v in items if v is not None and not (isinstance(v, str) and not v.strip())]


def link_fields(
    doc: Document,
    kg: KnowledgeGraph,
    fields: Sequence[str],
    *,
    threshold: float = FUZZY_THRESHOLD,
    memo: dict[tuple[str, str], FieldLink] | None = None,
) -> tuple[list[str], list[FieldLink]]:
    """(ids of the entities linked, in field order without repeats; every value's link).

    `memo` remembers string values across documents of one build: a corpus repeats its few
    hundred drug names thousands of times, and a fuzzy lookup scans every surface form."""
    ids: list[str] = []
    out: list[FieldLink] = []
    for name in fields:
        for value in _values(doc.metadata.get(name)):
            if isinstance(value, str) and memo is not None:
                key = (name, value)
                if key not in memo:
                    memo[key] = link_value(kg, name, value, threshold=threshold)
                fl = memo[key]
            else:
                fl = link_value(kg, name, value, threshold=threshold)
            out.append(fl)
            if fl.entity_id is not None and fl.entity_id not in ids:
                ids.append(fl.entity_id)
    return ids, out


def explicit_ids(metadata: dict[str, Any]) -> list[str]:
    """The ids in `metadata["entities"]` (a string or a list; other items are ignored)."""
    raw = metadata.get("entities", [])
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, (list, tuple)):
        return [e for e in raw if isinstance(e, str)]
    return []


def link_document(
    doc: Document,
    kg: KnowledgeGraph,
    fields: Sequence[str] = (),
    *,
    memo: dict[tuple[str, str], FieldLink] | None = None,
) -> tuple[DocLinks, list[FieldLink]]:
    """A document's links: explicit ids and field links together (both say what it is
    about); without either, what the graph finds in its text.  With no `fields` this is
    exactly `kg.link(text, title, explicit)`, so indexes built without them rank as before."""
    if not len(kg):
        return DocLinks(), []
    ids, links = link_fields(doc, kg, fields, memo=memo) if fields else ([], [])
    explicit = explicit_ids(doc.metadata)
    merged = list(dict.fromkeys([*explicit, *ids]))
    return kg.link(doc.text, doc.title, merged), links


@dataclass
class FieldStats:
    """One link field's counts: values seen, linked (by method), not linked (by reason,
    with examples), and documents without the field."""

    values: int = 0
    linked: dict[str, int] = field(default_factory=dict)
    not_linked: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    absent: int = 0
    #: accepted fuzzy links ({value, entity, confidence}), the ones worth a look
    fuzzy: list[dict[str, Any]] = field(default_factory=list)

    @property
    def unmatched(self) -> int:
        return sum(self.not_linked.values())

    def add(self, fl: FieldLink) -> None:
        self.values += 1
        tally = self.linked if fl.accepted else self.not_linked
        tally[fl.method] = tally.get(fl.method, 0) + 1
        if not fl.accepted:
            self._example(fl.value)
        elif fl.method == "fuzzy":
            self._fuzzy({"value": fl.value, "entity": fl.entity_id,
                         "confidence": round(fl.confidence, 4)})

    def _fuzzy(self, link: dict[str, Any]) -> None:
        if link not in self.fuzzy and len(self.fuzzy) < MAX_EXAMPLES:
            self.fuzzy.append(link)

    def _example(self, value: str) -> None:
        if value not in self.examples and len(self.examples) < MAX_EXAMPLES:
            self.examples.append(value)

    def merge(self, other: FieldStats) -> None:
        self.values += other.values
        self.absent += other.absent
        for mine, theirs in ((self.linked, other.linked), (self.not_linked, other.not_linked)):
            for k, n in theirs.items():
                mine[k] = mine.get(k, 0) + n
        for value in other.examples:
            self._example(value)
        for link in other.fuzzy:
            self._fuzzy(link)

    def to_json(self) -> dict[str, Any]:
        return {"values": self.values, "linked": self.linked, "not_linked": self.not_linked,
                "unmatched": self.unmatched, "examples": self.examples, "absent": self.absent,
                "fuzzy": self.fuzzy}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FieldStats:
        return cls(values=int(data.get("values", 0)), linked=dict(data.get("linked", {})),
                   not_linked=dict(data.get("not_linked", {})),
                   examples=list(data.get("examples", [])), absent=int(data.get("absent", 0)),
                   fuzzy=list(data.get("fuzzy", [])))


@dataclass
class LinkReport:
    """How an index's documents were linked.  Each document is counted once, in the first
    of: `by_field` (a link field linked it), `by_explicit` (ids in `metadata["entities"]`),
    `by_text` (only the text linker found what it is about), `unlinked` (about nothing: the
    graph can neither allow nor block it)."""

    fields: list[str] = field(default_factory=list)
    documents: int = 0
    by_field: int = 0
    by_explicit: int = 0
    by_text: int = 0
    unlinked: int = 0
    per_field: dict[str, FieldStats] = field(default_factory=dict)

    def record(self, metadata: dict[str, Any], kg: KnowledgeGraph, links: DocLinks,
               field_links: Iterable[FieldLink]) -> None:
        """Count one linked document: its metadata and what `link_document` returned."""
        field_links = list(field_links)
        self.documents += 1
        for name in self.fields:
            self.per_field.setdefault(name, FieldStats())
            if not _values(metadata.get(name)):
                self.per_field[name].absent += 1
        for fl in field_links:
            self.per_field.setdefault(fl.field, FieldStats()).add(fl)
        if not links.about:
            self.unlinked += 1
        elif any(fl.accepted for fl in field_links):
            self.by_field += 1
        elif any(e in kg.entities for e in explicit_ids(metadata)):
            self.by_explicit += 1
        else:
            self.by_text += 1

    @property
    def unmatched(self) -> int:
        """Values of the link fields that linked to no entity, over all fields."""
        return sum(s.unmatched for s in self.per_field.values())

    @property
    def examples(self) -> list[str]:
        return [v for s in self.per_field.values() for v in s.examples]

    def merged(self, other: LinkReport) -> LinkReport:
        """This report followed by `other` (an add's new documents)."""
        out = LinkReport.from_json(self.to_json())
        out.fields = list(dict.fromkeys([*self.fields, *other.fields]))
        out.documents += other.documents
        out.by_field += other.by_field
        out.by_explicit += other.by_explicit
        out.by_text += other.by_text
        out.unlinked += other.unlinked
        for name, stats in other.per_field.items():
            out.per_field.setdefault(name, FieldStats()).merge(stats)
        return out

    def summary(self) -> str:
        """One line for `rolecall index`: "linked 371 of 379 documents by drug; 8 values
        unmatched, e.g. 'Zoloft XR'"."""
        if self.fields:
            line = f"linked {self.by_field} of {self.documents} documents by " + ", ".join(
                self.fields)
            if self.unmatched:
                shown = ", ".join(repr(v) for v in self.examples[:3])
                line += f"; {_count(self.unmatched, 'value')} unmatched, e.g. {shown}"
            else:
                line += "; every value matched an entity"
        else:
            line = (f"linked {self.documents - self.unlinked} of {self.documents} documents "
                    f"to the graph ({self.by_explicit} by explicit ids, {self.by_text} by text)")
        if self.unlinked:
            line += f"; {_count(self.unlinked, 'document')} about no entity"
        return line

    def to_json(self) -> dict[str, Any]:
        return {
            "fields": self.fields, "documents": self.documents, "by_field": self.by_field,
            "by_explicit": self.by_explicit, "by_text": self.by_text,
            "unlinked": self.unlinked,
            "per_field": {k: s.to_json() for k, s in self.per_field.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinkReport:
        return cls(
            fields=list(data.get("fields", [])), documents=int(data.get("documents", 0)),
            by_field=int(data.get("by_field", 0)), by_explicit=int(data.get("by_explicit", 0)),
            by_text=int(data.get("by_text", 0)), unlinked=int(data.get("unlinked", 0)),
            per_field={k: FieldStats.from_json(v)
                       for k, v in dict(data.get("per_field", {})).items()},
        )

    @classmethod
    def of_links(cls, kg: KnowledgeGraph, links: Sequence[DocLinks],
                 metadata: Sequence[dict[str, Any]]) -> LinkReport:
        """The report of an index written before reports existed (no link fields then),
        derived from its stored links and metadata."""
        report = cls()
        for dl, meta in zip(links, metadata, strict=True):
            report.record(meta, kg, dl, ())
        return report


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
