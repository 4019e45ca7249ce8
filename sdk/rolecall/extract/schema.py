"""`ExtractionSchema`: the entity types and relations an extraction may produce.

Given, it is enforced twice: the JSON schema sent with the request lists the names as enums
(llama.cpp and providers with native structured output then cannot write another name), and
every reply is checked again, because not every provider honours a schema.  Without one,
the model names types and relations itself and they are kept, snake_cased.

Three ways to write one:

* in code: `ExtractionSchema(types=["drug"], relations=[RelationSpec(name="treats",
  subject_type="drug", object_type="symptom")])`;
* as command-line specs: `ExtractionSchema.from_specs(types="drug,symptom",
  relations=["treats:drug:symptom", "directed_by:film:person:The person directed the film."])`;
* from a JSONL KG file (`ExtractionSchema.from_kg_file`): its relation declarations
  (`{"kind": "relation", "name", "subject_type", "object_type", "description"}`), its type
  records (`{"kind": "type", "name"}`) and its type entities (`{"kind": "entity", "id":
  "drug", "type": "type"}`, how rolecall's own graphs declare a type).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .._jsonl import read_jsonl
from ..errors import ConfigurationError, KnowledgeGraphError
from ..graph import RelationType
from .text import snake

__all__ = ["ExtractionSchema", "RelationSpec"]


class RelationSpec(BaseModel):
    """One relation the extraction may produce: its name, the types of its ends (None: any)
    and what it means (shown to the model)."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    subject_type: str | None = None
    object_type: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _snake(self) -> RelationSpec:
        # Names are compared snake_cased everywhere, so they are stored that way.
        self.name = _required_name(self.name, "relation")
        self.subject_type = (snake(self.subject_type) or None) if self.subject_type else None
        self.object_type = (snake(self.object_type) or None) if self.object_type else None
        return self

    def arrow(self) -> str:
        """`treats (drug → symptom)`, for the prompt and the report."""
        ends = f" ({self.subject_type or 'any'} → {self.object_type or 'any'})"
        return self.name + (ends if self.subject_type or self.object_type else "")


class ExtractionSchema(BaseModel):
    """Entity types and relations; a relation's end types are types of the schema too."""

    model_config = ConfigDict(extra="ignore")

    types: list[str] = Field(default_factory=list)
    relations: list[RelationSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> ExtractionSchema:
        names = [_required_name(t, "type") for t in self.types]
        for spec in self.relations:
            names += [t for t in (spec.subject_type, spec.object_type) if t]
        self.types = list(dict.fromkeys(names))
        seen: dict[str, RelationSpec] = {}
        for spec in self.relations:
            if spec.name in seen and seen[spec.name] != spec:
                raise ConfigurationError(f"relation {spec.name!r} is declared twice, differently")
            seen[spec.name] = spec
        self.relations = list(seen.values())
        return self

    def relation(self, name: str) -> RelationSpec | None:
        return next((r for r in self.relations if r.name == name), None)

    def relation_types(self) -> list[RelationType]:
        """The declarations a KG file written from the extraction carries."""
        return [RelationType(name=r.name, description=r.description,
                             subject_type=r.subject_type, object_type=r.object_type)
                for r in self.relations]

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def from_specs(
        cls, *, types: str | Sequence[str] = (), relations: Iterable[str] = ()
    ) -> ExtractionSchema:
        """From command-line specs: types as `drug,symptom` (or a list of such strings) and
        relations as `NAME[:SUBJECT_TYPE:OBJECT_TYPE[:DESCRIPTION]]` (an empty type: any)."""
        raw_types = [types] if isinstance(types, str) else list(types)
        names = [t.strip() for chunk in raw_types for t in chunk.split(",") if t.strip()]
        return cls(types=names, relations=[_parse_relation(s) for s in relations])

    @classmethod
    def from_kg_file(cls, path: str | Path) -> ExtractionSchema:
        """The relation declarations and types of a JSONL KG file (see the module docstring);
        its entities and edges are not read."""
        p = Path(path)
        if p.suffix.lower() not in (".jsonl", ".json"):
            raise KnowledgeGraphError("a schema is read from a JSONL KG file", path=p)
        if not p.exists():
            raise KnowledgeGraphError("no such schema file", path=p)
        types: list[str] = []
        relations: list[RelationSpec] = []
        for lineno, rec in read_jsonl(p, KnowledgeGraphError):
            if not isinstance(rec, dict):
                raise KnowledgeGraphError("expected a JSON object", path=p, line=lineno)
            found = _declared(rec)
            if isinstance(found, str):
                types.append(found)
            elif found is not None:
                relations.append(RelationSpec.model_validate(found))
        if not types and not relations:
            raise KnowledgeGraphError("the file declares no relation and no type", path=p)
        return cls(types=types, relations=relations)

    def is_empty(self) -> bool:
        return not self.types and not self.relations


def _declared(rec: dict[str, Any]) -> str | dict[str, Any] | None:
    """A type name, a relation declaration, or None for a record that declares neither."""
    kind = rec.get("kind")
    if kind == "type" and isinstance(rec.get("name") or rec.get("id"), str):
        return str(rec.get("name") or rec.get("id"))
    if kind == "entity" and rec.get("type") == "type" and isinstance(rec.get("id"), str):
        return str(rec["id"]) if rec["id"] != "type" else None  # the meta-type itself
    if kind == "relation" and isinstance(rec.get("name"), str) and "subject" not in rec:
        return rec
    return None


def _parse_relation(spec: str) -> RelationSpec:
    parts = spec.split(":", 3)
    if not parts[0].strip() or len(parts) == 2:
        raise ConfigurationError(
            f"relation spec {spec!r}: write NAME or NAME:SUBJECT_TYPE:OBJECT_TYPE"
            "[:DESCRIPTION], e.g. directed_by:film:person"
        )
    subject_type, object_type = (parts[1].strip(), parts[2].strip()) if len(parts) > 2 else ("", "")
    return RelationSpec(name=parts[0].strip(), subject_type=subject_type or None,
                        object_type=object_type or None,
                        description=parts[3].strip() if len(parts) > 3 else "")


def _required_name(name: str, what: str) -> str:
    out = snake(name)
    if not out:
        raise ConfigurationError(f"{what} name {name!r} has no letter or digit")
    return out
