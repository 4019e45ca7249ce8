"""`KnowledgeGraph.load`'s passes over the parsed files: entities and relation types, then
each TSV's header (judged against everything the files hold), then triples' ends, the types
their headers give, and every edge — so that files may come in any order — with a
`FileReport` per file.  Apart from `rolecall.graph` to keep that module about the graph; it
imports the graph's models, so `load` imports it when it runs.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ._kg_files import (
    DroppedAlias,
    FileReport,
    ParsedFile,
    SkippedRow,
    decide_tsv_header,
    generic_form,
)
from .errors import KnowledgeGraphError
from .graph import Entity, KnowledgeGraph, Relation, RelationType, normalize

__all__ = ["Loader", "dropped_warning"]


_Model = TypeVar("_Model", bound=BaseModel)
_MODELS: dict[str, type[BaseModel]] = {
    "entity": Entity, "relation": Relation, "relation_type": RelationType,
}


def _validate(model: type[_Model], payload: dict[str, Any], path: Path, line: int) -> _Model:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise KnowledgeGraphError(f"{where}: {err['msg']}", path=path, line=line)


def dropped_warning(rep: FileReport) -> str:
    n = len(rep.aliases_dropped)
    shown = ", ".join(f"{d.alias!r} of {d.entity}" for d in rep.aliases_dropped[:3])
    return (f"{rep.path}: dropped {n} alias{'es' if n > 1 else ''} that would match almost "
            f"any text ({shown}{', …' if n > 3 else ''}); see KnowledgeGraph.load_report")


class Loader:
    """One `KnowledgeGraph.load`: the parsed files into the graph, with a report per file."""

    def __init__(self, kg: KnowledgeGraph, files: list[ParsedFile]) -> None:
        self.kg = kg
        self.files = files
        self.reports = [FileReport(path=str(f.path), format=f.format, notes=list(f.notes))
                        for f in files]
        self.edges: list[list[tuple[int, Relation]]] = [[] for _ in files]
        self.declared_at: dict[str, tuple[int, int]] = {}  # entity id -> (file, line)
        self.origin: dict[str, int] = {}  # entity id -> the file that declared or created it

    def where(self, here: int, there: tuple[int, int]) -> str:
        """`line 3` within the file being reported on, `path:3` in another."""
        i, line = there
        return f"line {line}" if i == here else f"{self.files[i].path}:{line}"

    def declarations(self) -> None:
        """Entities and relation types into the graph; edges validated and kept for later."""
        for i, f in enumerate(self.files):
            ignored: dict[str, int] = {}  # unknown field -> first line (a typo is silent else)
            for lineno, kind, payload in f.records:
                model = _MODELS[kind]
                for key in payload.keys() - model.model_fields.keys():
                    ignored.setdefault(key, lineno)
                obj = _validate(model, payload, f.path, lineno)
                if isinstance(obj, Entity):
                    self.entity(i, lineno, obj)
                elif isinstance(obj, RelationType):
                    self.kg.declare_relation(obj)
                    self.reports[i].relation_types.append(obj.name)
                elif isinstance(obj, Relation):
                    self.edges[i].append((lineno, obj))
            if ignored:
                self.reports[i].notes.append("fields ignored: " + ", ".join(
                    f"{k} (first at line {n})" for k, n in sorted(ignored.items())))

    def entity(self, i: int, lineno: int, ent: Entity) -> None:
        rep = self.reports[i]
        kept: list[str] = []
        for alias in ent.aliases:
            why = generic_form(normalize(alias))
            if why is None:
                kept.append(alias)
            else:
                rep.aliases_dropped.append(
                    DroppedAlias(entity=ent.id, alias=alias, reason=why, line=lineno))
        if len(kept) != len(ent.aliases):
            ent = ent.model_copy(update={"aliases": kept})
        if ent.id in self.declared_at:
            rep.notes.append(f"entity {ent.id!r} at line {lineno} replaces its declaration "
                             f"at {self.where(i, self.declared_at[ent.id])}")
        self.declared_at[ent.id] = (i, lineno)
        self.origin.setdefault(ent.id, i)
        self.kg.add_entity(ent)
        rep.entities += 1

    def decide_headers(self, header: bool | None) -> None:
        """Each TSV's header, judged against everything else the files hold."""
        kg = self.kg
        rows = [t for f in self.files for t in f.triples[1:]]  # a first row may be a header
        ends = {e for t in rows for e in (t.subject, t.object)}
        names = {normalize(e.name) for e in kg.entities.values()}
        relations = {t.relation for t in rows} | set(kg.schema)
        relations |= {r.relation for edges in self.edges for _, r in edges}

        def is_entity(cell: str) -> bool:
            return cell in ends or cell in kg.entities or normalize(cell) in names

        for f, rep in zip(self.files, self.reports, strict=True):
            if f.format == "tsv":
                decide_tsv_header(f, header, is_entity=is_entity,
                                  is_relation=relations.__contains__)
            rep.header, rep.header_source = f.header, f.header_source

    def relations(self) -> None:
        """Triples' ends, the types their headers give, then every edge in file order."""
        self.create_ends()
        self.declare_end_types()
        seen: dict[tuple[str, str, str, str], tuple[int, int]] = {}
        for i, f in enumerate(self.files):
            rep = self.reports[i]
            rows = self.edges[i] + [
                (t.line, Relation(subject=t.subject, relation=t.relation, object=t.object))
                for t in f.triples
            ]
            for lineno, rel in rows:
                key = (rel.subject, rel.relation, rel.object, rel.source)
                if key in seen:  # the same fact again adds nothing; say where it was first
                    rep.skipped.append(SkippedRow(
                        line=lineno, reason=f"duplicate of {self.where(i, seen[key])}"))
                    continue
                seen[key] = (i, lineno)
                try:
                    self.kg.add_relation(rel)
                except KnowledgeGraphError as exc:
                    raise KnowledgeGraphError(str(exc), path=f.path, line=lineno) from None
                rep.relations[rel.relation] += 1

    def create_ends(self) -> None:
        """An undeclared end of a triple becomes an entity, typed by the first header that
        names a type for its column."""
        typed: dict[str, tuple[int, str | None]] = {}
        for i, f in enumerate(self.files):
            s_type, o_type = f.end_types()
            for t in f.triples:
                for end, kind in ((t.subject, s_type), (t.object, o_type)):
                    if end in self.kg.entities:
                        continue
                    first = typed.get(end)
                    if first is None or (first[1] is None and kind):
                        typed[end] = (first[0] if first else i, kind)
        for end, (i, kind) in typed.items():
            self.kg.add_entity(Entity(id=end, name=end, type=kind))
            self.origin[end] = i
            self.reports[i].entities_created += 1

    def declare_end_types(self) -> None:
        """A header's end types become the subject/object types of the file's relations,
        where no relation declaration (JSONL, an earlier header) set them already."""
        for f, rep in zip(self.files, self.reports, strict=True):
            s_type, o_type = f.end_types()
            if not (s_type or o_type):
                continue
            for name in dict.fromkeys(t.relation for t in f.triples):
                old = self.kg.schema.get(name)
                update: dict[str, str] = {}
                for key, value in (("subject_type", s_type), ("object_type", o_type)):
                    current = getattr(old, key) if old else None
                    if value and current is None:
                        update[key] = value
                    elif value and current != value:
                        rep.notes.append(f"{name}: {key} stays {current!r} (this header "
                                         f"says {value!r})")
                if update:
                    self.kg.declare_relation(RelationType.model_validate({"name": name, **update}))
                    rep.relation_types.append(name)

    def note_unmatchable(self) -> None:
        """Entities no text can link by name (every surface form is too generic)."""
        unmatched: dict[int, list[str]] = defaultdict(list)
        for eid, i in self.origin.items():
            ent = self.kg.entities[eid]
            if all(generic_form(normalize(f)) for f in ent.surface_forms()):
                unmatched[i].append(eid)
        for i, ids in unmatched.items():
            shown = ", ".join(repr(e) for e in ids[:5]) + (", …" if len(ids) > 5 else "")
            self.reports[i].notes.append(
                f"{len(ids)} entities are never matched in text (id, name and aliases too "
                f"generic: one character, a number or common words): {shown}")
