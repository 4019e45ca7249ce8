"""Merging what documents name into one graph.

Two mentions are one entity when their names are the same after folding (`text.fold_key`:
case, accents, punctuation and a final plural `s` aside), or when one's name is an alias
the other's document gives it ("Paracetamol, called acetaminophen …" joins a later
"Acetaminophen").  Two guards keep a small model's mistakes from snowballing: an alias
claimed by two different entities joins neither (it is reported as ambiguous), and an alias
never joins two entities whose types differ.

The merged entity's id is the snake_case of the first name seen (documents in the order
given, entities in the order of the reply), so a run is deterministic; its aliases are every
other form seen; its type the most frequent one (the first seen on a tie).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .._kg_files import generic_form
from ..graph import Entity, KnowledgeGraph, Relation, normalize
from .ground import DocExtraction, Mention
from .schema import ExtractionSchema
from .text import fold_key, snake

__all__ = ["Fact", "Merged", "build_graph", "merge_mentions"]


@dataclass
class Fact:
    """A grounded triple, with the document that states it and the quoted evidence."""

    subject: str
    relation: str
    object: str
    doc: str
    evidence: str


@dataclass
class Merged:
    """Entities, and which entity each (document, mention) became."""

    entities: list[Entity] = field(default_factory=list)
    ids: dict[tuple[int, int], str] = field(default_factory=dict)
    merged_mentions: int = 0
    alias_merges: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)


class _Groups:
    """Union-find over the mentions of every document, in document order."""

    def __init__(self, mentions: list[Mention]) -> None:
        self.mentions = mentions
        self.parent = list(range(len(mentions)))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # the earlier mention stays the root: it names the entity
            self.parent[max(ra, rb)] = min(ra, rb)

    def type_of(self, root: int) -> str | None:
        types = [m.type for i, m in enumerate(self.mentions) if m.type and self.find(i) == root]
        return _majority(types)


def _majority(values: list[str]) -> str | None:
    if not values:
        return None
    counts = Counter(values)
    best = max(counts.values())
    return next(v for v in values if counts[v] == best)  # the first seen on a tie


def merge_mentions(extractions: list[DocExtraction]) -> Merged:
    """Fold every document's mentions into entities (see the module docstring)."""
    where = [(d, m) for d, ext in enumerate(extractions) for m in range(len(ext.mentions))]
    mentions = [extractions[d].mentions[m] for d, m in where]
    groups = _Groups(mentions)
    by_name: dict[str, int] = {}
    for i, mention in enumerate(mentions):
        groups.union(i, by_name.setdefault(fold_key(mention.name), i))
    out = Merged()
    joined = _join_by_alias(groups, by_name, out)
    members: dict[int, list[int]] = {}
    for i in range(len(mentions)):
        members.setdefault(groups.find(i), []).append(i)
    taken: set[str] = set()
    for root, group in members.items():  # roots in order of their first mention
        entity = _entity(mentions, group, groups.type_of(root), taken)
        out.entities.append(entity)
        for i in group:
            out.ids[where[i]] = entity.id
            out.merged_mentions += mentions[i].doc != mentions[root].doc
    out.alias_merges = [f"{alias} → {out.ids[where[i]]}" for alias, i in joined]
    return out


def _join_by_alias(groups: _Groups, by_name: dict[str, int], out: Merged) -> list[tuple[str, int]]:
    """Join each entity named by another's alias to it, unless the alias is claimed by
    several entities or the types differ (noted in `out.ambiguous`); the joins made, as
    (alias, a mention of the joined entity)."""
    claims: dict[str, list[int]] = {}
    surface: dict[str, str] = {}
    for i, mention in enumerate(groups.mentions):
        for alias in mention.aliases:
            claims.setdefault(fold_key(alias), []).append(i)
            surface.setdefault(fold_key(alias), alias)
    joined: list[tuple[str, int]] = []
    for key, claimants in claims.items():
        named = by_name.get(key)
        target = groups.find(named) if named is not None else None
        roots = {groups.find(c) for c in claimants} - {target}
        if len(roots) > 1:
            out.ambiguous.append(f"{surface[key]} (an alias of {len(roots)} entities)")
            continue
        if target is None or not roots:
            continue  # nobody else is named by it, or it already names its own entity
        (claimant,) = roots
        t1, t2 = groups.type_of(claimant), groups.type_of(target)
        if t1 and t2 and t1 != t2:
            out.ambiguous.append(f"{surface[key]} (an alias of a {t1}, the name of a {t2})")
            continue
        groups.union(claimant, target)
        joined.append((surface[key], claimant))
    return joined


def _entity(mentions: list[Mention], members: list[int], typ: str | None,
            taken: set[str]) -> Entity:
    name = mentions[members[0]].name
    base = snake(name) or "entity"
    eid, n = base, 1
    while eid in taken:  # two names with one snake_case form: the later gets a suffix
        n += 1
        eid = f"{base}_{n}"
    taken.add(eid)
    forms: dict[str, str] = {normalize(name): name}
    for i in members:
        for surface in (mentions[i].name, *mentions[i].aliases):
            key = normalize(surface)
            if key not in forms and generic_form(key) is None:
                forms[key] = surface
    return Entity(id=eid, name=name, type=typ, aliases=list(forms.values())[1:])


def build_graph(
    extractions: list[DocExtraction], merged: Merged, schema: ExtractionSchema | None
) -> tuple[KnowledgeGraph, dict[str, list[str]], list[Fact]]:
    """The graph (one edge per distinct triple, its source the first document stating it),
    each document's entity ids, and every grounded fact."""
    kg = KnowledgeGraph()
    for entity in merged.entities:
        kg.add_entity(entity)
    for declared in schema.relation_types() if schema else []:
        kg.declare_relation(declared)
    facts: list[Fact] = []
    edges: set[tuple[str, str, str]] = set()
    links: dict[str, list[str]] = {}
    for d, ext in enumerate(extractions):
        ids = [merged.ids[(d, m)] for m in range(len(ext.mentions))]
        links[ext.doc_id] = list(dict.fromkeys(ids[i] for i in ext.about))
        for t in ext.triples:
            s, o = ids[t.subject], ids[t.object]
            if s == o:
                continue  # two names the merge found to be one entity: no self-loop
            facts.append(Fact(s, t.relation, o, ext.doc_id, t.evidence))
            if (s, t.relation, o) not in edges:
                edges.add((s, t.relation, o))
                kg.add_relation(Relation(subject=s, relation=t.relation, object=o,
                                         source=ext.doc_id))
    return kg, links, facts
