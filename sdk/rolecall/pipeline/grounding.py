"""Grounding: link every value of a RoleQuery to the knowledge graph or the index vocabulary.

Nothing is invented and nothing is dropped: a value that links is used with its link; a
value that does not is reported (`method="unresolved"`) and is never used as a hard filter.

A relation name, target type or filter field the catalog lacks is *mapped* to the catalog
name the evidence points to (`pipeline.mapping`: the schema's words, an embedder, the
graph's shape), and the plan says so with the confidence and the alternatives: at or above
`MAP_HARD` it is enforced like a resolved value; from `MAP_SOFT` it only demotes the
documents that violate it (`Grounding.soft_*`, `pipeline.policy`); below, it stays
unresolved.  Values that resolve are grounded exactly as they would be without mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..explain import GroundedValue
from ..filters import describe_filter
from ..graph import KnowledgeGraph
from ..query import AttributeFilter, Direction, RelationConstraint, RoleQuery
from .mapping import (
    MAP_SOFT,
    Mapping,
    Similarity,
    field_candidates,
    map_value,
    relation_candidates,
    type_candidates,
    wanted_types,
)

if TYPE_CHECKING:
    from ..backends.interface import BackendReader

__all__ = ["Grounding", "ground", "unresolved_notes", "vocabulary_checker"]

#: A fuzzy link below this confidence is reported but not enforced.
MIN_ENFORCE_CONFIDENCE = 0.8


@dataclass
class Grounding:
    """The grounded view of a RoleQuery: what can be enforced, and the full record.

    `soft_*` are values mapped with a confidence in MAP_SOFT..MAP_HARD: the policy demotes
    the documents that violate them (by `role_penalty` × the confidence), never filters."""

    values: list[GroundedValue] = field(default_factory=list)
    target_type: str | None = None
    relations: list[tuple[RelationConstraint, str]] = field(default_factory=list)
    filters: list[AttributeFilter] = field(default_factory=list)
    exclusion_entities: dict[int, str] = field(default_factory=dict)
    soft_target_type: tuple[str, float] | None = None
    soft_relations: list[tuple[RelationConstraint, str, float]] = field(default_factory=list)
    soft_filters: list[tuple[AttributeFilter, float]] = field(default_factory=list)


def ground(
    query: RoleQuery,
    kg: KnowledgeGraph,
    *,
    metadata_fields: Iterable[str] = (),
    in_vocabulary: Callable[[str], bool] | None = None,
    similarity: Similarity | None = None,
) -> Grounding:
    """Link the query's values; see the module docstring for the policy.  `similarity`
    (value, texts) → cosines adds embedding evidence to mappings (None: none)."""
    g = Grounding()
    type_gv = _link_type(query.target_type, kg, set(kg.types())) if query.target_type else None
    if type_gv is not None and _enforced(type_gv):
        g.target_type = type_gv.entity_id
        type_gv.enforcement = "hard"
    # Relations before the type is mapped: the relations' shape is evidence for the type.
    _ground_relations(g, query.relations, kg, similarity)
    if type_gv is not None:
        if not type_gv.resolved:
            type_gv = _map_type(g, type_gv, kg, similarity)
        g.values.insert(0, type_gv)
    _ground_filters(g, query.filters, set(metadata_fields), similarity)
    _ground_exclusions(g, query, kg, in_vocabulary)
    if in_vocabulary is not None:
        g.values += [GroundedValue(value=kw, slot="keywords")
                     for kw in query.keywords if not in_vocabulary(kw)]
    return g


def _enforced(gv: GroundedValue) -> bool:
    return bool(gv.entity_id) and gv.confidence >= MIN_ENFORCE_CONFIDENCE


def _with_mapping(gv: GroundedValue, m: Mapping, *, enforceable: bool = True) -> GroundedValue:
    """The value with its mapping recorded: mapped (with the other names) when the best
    candidate reaches MAP_SOFT, else still unresolved with every name that scored."""
    best = m.best
    if best is None or m.enforcement == "none":
        return gv.model_copy(update={"alternatives": m.alternatives(skip_best=False)})
    return gv.model_copy(update={
        "method": "mapped", "mapped_to": best.name, "confidence": best.confidence,
        "alternatives": m.alternatives(skip_best=True),
        "enforcement": m.enforcement if enforceable else "none",
    })


def _ground_relations(
    g: Grounding, relations: list[RelationConstraint], kg: KnowledgeGraph,
    similarity: Similarity | None,
) -> None:
    """A relation the graph has: its object is linked and, when it links, enforced.  One it
    does not have is mapped (`_map_relation`)."""
    names = set(kg.relation_names())
    for i, rc in enumerate(relations):
        if rc.relation not in names:
            _map_relation(g, i, rc, kg, similarity)
            continue
        gv = _link_entity(rc.object, f"relations[{i}].object", kg)
        g.values.append(gv)
        if _enforced(gv) and gv.entity_id:
            gv.enforcement = "hard"
            g.relations.append((rc, gv.entity_id))


def _map_relation(
    g: Grounding, i: int, rc: RelationConstraint, kg: KnowledgeGraph,
    similarity: Similarity | None,
) -> None:
    """A relation the graph does not have is reported with the ones it has, and mapped to
    the nearest when the evidence allows.  Its object is looked up (which entity it is, is
    structural evidence) but reported only when the relation maps: a constraint on a
    relation that does not exist cannot be enforced."""
    names = kg.relation_names()
    rel = GroundedValue(value=rc.relation, slot=f"relations[{i}].relation",
                        candidates=sorted(names)[:10])
    if not names:  # a graph without relations: nothing to map to, nothing to look up
        g.values.append(rel)
        return
    obj = _link_entity(rc.object, f"relations[{i}].object", kg)
    object_id = obj.entity_id if _enforced(obj) else None
    m = map_value(rc.relation, relation_candidates(kg, rc, object_id, g.target_type), similarity)
    g.values.append(_with_mapping(rel, m, enforceable=object_id is not None))
    best = m.best
    if best is None or m.enforcement == "none":
        return
    g.values.append(obj)
    if object_id is None:
        return
    obj.enforcement = m.enforcement
    direction = rc.direction
    if best.flipped:  # the inverse's name, or only the other reading fits: swap the ends
        direction = Direction.OBJECT if direction == Direction.SUBJECT else Direction.SUBJECT
    mapped = rc.model_copy(update={"relation": best.name, "direction": direction})
    if m.enforcement == "hard":
        g.relations.append((mapped, object_id))
    else:
        g.soft_relations.append((mapped, object_id, best.confidence))


def _map_type(
    g: Grounding, gv: GroundedValue, kg: KnowledgeGraph, similarity: Similarity | None
) -> GroundedValue:
    """A target type the graph lacks, mapped to the nearest type in use; the types the
    grounded relations want are its structural evidence."""
    grounded = [rc for rc, _ in g.relations] + [rc for rc, _, _ in g.soft_relations]
    m = map_value(gv.value, type_candidates(kg, wanted_types(kg, grounded)), similarity)
    mapped = _with_mapping(gv, m)
    if m.best is not None and m.enforcement == "hard":
        g.target_type = m.best.name
    elif m.best is not None and m.enforcement == "soft":
        g.soft_target_type = (m.best.name, m.best.confidence)
    return mapped


def _ground_filters(
    g: Grounding, filters: list[AttributeFilter], fields: set[str],
    similarity: Similarity | None,
) -> None:
    """A filter on a field no document has is reported with the fields there are, and
    mapped to the nearest field when the evidence allows."""
    for i, flt in enumerate(filters):
        ok = flt.field in fields
        gv = GroundedValue(
            value=describe_filter(flt), slot=f"filters[{i}]",
            method="vocabulary" if ok else "unresolved", confidence=1.0 if ok else 0.0,
            candidates=[] if ok else sorted(fields)[:10],
            enforcement="hard" if ok else "none",
        )
        if ok:
            g.values.append(gv)
            g.filters.append(flt)
            continue
        m = map_value(flt.field, field_candidates(fields), similarity)
        g.values.append(_with_mapping(gv, m))
        if m.best is None or m.enforcement == "none":
            continue
        mapped = flt.model_copy(update={"field": m.best.name})
        if m.enforcement == "hard":
            g.filters.append(mapped)
        else:
            g.soft_filters.append((mapped, m.best.confidence))


def _ground_exclusions(
    g: Grounding, query: RoleQuery, kg: KnowledgeGraph,
    in_vocabulary: Callable[[str], bool] | None,
) -> None:
    """An exclusion links to an entity when it can; one the corpus uses verbatim is still
    grounded (by vocabulary), since lexical evidence can act on it."""
    for i, ex in enumerate(query.exclusions):
        gv = _link_entity(ex.text, f"exclusions[{i}]", kg)
        if gv.entity_id is None and in_vocabulary is not None and in_vocabulary(ex.text):
            gv = GroundedValue(value=ex.text, slot=gv.slot, method="vocabulary", confidence=1.0,
                               enforcement="hard")
        g.values.append(gv)
        if _enforced(gv) and gv.entity_id:
            gv.enforcement = "hard"
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
    corpus lacks is simply not found) and on values mapped to a catalog name."""
    notes = []
    for gv in g.values:
        if gv.method == "mapped":
            notes.append(_mapped_note(gv))
        elif not gv.resolved and gv.slot != "keywords":
            nearest = (f" (nearest {gv.alternatives[0].name!r} at "
                       f"{gv.alternatives[0].confidence:.2f}, below {MAP_SOFT})"
                       if gv.alternatives else "")
            notes.append(f"unresolved {gv.slot} {gv.value!r}: reported, not enforced{nearest}")
    return notes


def _mapped_note(gv: GroundedValue) -> str:
    what = {"hard": "enforced", "soft": "demoted, not filtered",
            "none": "not enforced (its object is unresolved)"}[gv.enforcement]
    head = f"mapped {gv.value!r} → {gv.mapped_to!r} ({gv.confidence:.2f}, {gv.enforcement})"
    rival = (f"; next {gv.alternatives[0].name!r} at {gv.alternatives[0].confidence:.2f}"
             if gv.alternatives else "")
    return f"{head}: {what}{rival}"
