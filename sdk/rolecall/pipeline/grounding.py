"""Grounding: link every value of a RoleQuery to the knowledge graph or the index vocabulary.

Nothing is invented and nothing is dropped: a value that links is used with its link; a
value that does not is reported (`method="unresolved"`) and is never used as a hard filter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..explain import GroundedValue
from ..filters import describe_filter
from ..graph import KnowledgeGraph
from ..query import AttributeFilter, RelationConstraint, RoleQuery

if TYPE_CHECKING:
    from ..backends.interface import BackendReader

__all__ = ["Grounding", "ground", "unresolved_notes", "vocabulary_checker"]

#: A fuzzy link below this confidence is reported but not enforced.
MIN_ENFORCE_CONFIDENCE = 0.8


@dataclass
class Grounding:
    """The grounded view of a RoleQuery: what can be enforced, and the full record."""

    values: list[GroundedValue] = field(default_factory=list)
    target_type: str | None = None
    relations: list[tuple[RelationConstraint, str]] = field(default_factory=list)
    filters: list[AttributeFilter] = field(default_factory=list)
    exclusion_entities: dict[int, str] = field(default_factory=dict)


def ground(
    query: RoleQuery,
    kg: KnowledgeGraph,
    *,
    metadata_fields: Iterable[str] = (),
    in_vocabulary: Callable[[str], bool] | None = None,
) -> Grounding:
    """Link the query's values; see the module docstring for the policy."""
    g = Grounding()
    if query.target_type:
        gv = _link_type(query.target_type, kg, set(kg.types()))
        g.values.append(gv)
        if _enforced(gv):
            g.target_type = gv.entity_id
    _ground_relations(g, query.relations, kg)
    _ground_filters(g, query.filters, set(metadata_fields))
    _ground_exclusions(g, query, kg, in_vocabulary)
    if in_vocabulary is not None:
        g.values += [GroundedValue(value=kw, slot="keywords")
                     for kw in query.keywords if not in_vocabulary(kw)]
    return g


def _enforced(gv: GroundedValue) -> bool:
    return bool(gv.entity_id) and gv.confidence >= MIN_ENFORCE_CONFIDENCE


def _ground_relations(
    g: Grounding, relations: list[RelationConstraint], kg: KnowledgeGraph
) -> None:
    """A relation the graph does not have is reported with the ones it has; its object is
    not linked (a constraint on a relation that does not exist cannot be enforced)."""
    names = set(kg.relation_names())
    for i, rc in enumerate(relations):
        if rc.relation not in names:
            g.values.append(GroundedValue(
                value=rc.relation, slot=f"relations[{i}].relation",
                candidates=sorted(names)[:10],
            ))
            continue
        gv = _link_entity(rc.object, f"relations[{i}].object", kg)
        g.values.append(gv)
        if _enforced(gv) and gv.entity_id:
            g.relations.append((rc, gv.entity_id))


def _ground_filters(g: Grounding, filters: list[AttributeFilter], fields: set[str]) -> None:
    """A filter on a field no document has is reported with the fields there are."""
    for i, flt in enumerate(filters):
        ok = flt.field in fields
        g.values.append(GroundedValue(
            value=describe_filter(flt), slot=f"filters[{i}]",
            method="vocabulary" if ok else "unresolved", confidence=1.0 if ok else 0.0,
            candidates=[] if ok else sorted(fields)[:10],
        ))
        if ok:
            g.filters.append(flt)


def _ground_exclusions(
    g: Grounding, query: RoleQuery, kg: KnowledgeGraph,
    in_vocabulary: Callable[[str], bool] | None,
) -> None:
    """An exclusion links to an entity when it can; one the corpus uses verbatim is still
    grounded (by vocabulary), since lexical evidence can act on it."""
    for i, ex in enumerate(query.exclusions):
        gv = _link_entity(ex.text, f"exclusions[{i}]", kg)
        if gv.entity_id is None and in_vocabulary is not None and in_vocabulary(ex.text):
            gv = GroundedValue(value=ex.text, slot=gv.slot, method="vocabulary", confidence=1.0)
        g.values.append(gv)
        if _enforced(gv) and gv.entity_id:
            g.exclusion_entities[i] = gv.entity_id


def _link_entity(value: str, slot: str, kg: KnowledgeGraph) -> GroundedValue:
    found = kg.lookup(value) if kg.entities else []
    if not found:
        return GroundedValue(value=value, slot=slot)
    eid, method, conf = found[0]
    return GroundedValue(
        value=value,
        slot=slot,
        entity_id=eid,
        method=method,  # type: ignore[arg-type]
        confidence=conf,
        candidates=[e for e, _, _ in found[1:5]],
    )


def _link_type(value: str, kg: KnowledgeGraph, types: set[str]) -> GroundedValue:
    slot = "target_type"
    if value in types:
        return GroundedValue(
            value=value, slot=slot, entity_id=value, method="exact", confidence=1.0
        )
    gv = _link_entity(value, slot, kg)
    if gv.entity_id is None:
        gv.candidates = sorted(types)[:10]
        return gv
    # A type may also be a class entity ("antihistamine"): anything that has members.
    if gv.entity_id in types or kg.descendants(gv.entity_id) or any(
        e.type == gv.entity_id for e in kg.entities.values()
    ):
        return gv
    return GroundedValue(value=value, slot=slot, candidates=sorted(types)[:10])


def vocabulary_checker(index: BackendReader) -> Callable[[str], bool]:
    """Whether every analysed token of a value occurs in the index (a value the corpus
    never uses is reported, never searched as if it meant something)."""

    def in_vocab(value: str) -> bool:
        toks = index.lexical.tokens(value)
        return bool(toks) and all(index.lexical.doc_freq(t) > 0 for t in toks)

    return in_vocab


def unresolved_notes(g: Grounding) -> list[str]:
    """The plan's notes on values that link to nothing (keywords aside: a keyword the
    corpus lacks is simply not found)."""
    return [f"unresolved {gv.slot} {gv.value!r}: reported, not enforced"
            for gv in g.values if not gv.resolved and gv.slot != "keywords"]
