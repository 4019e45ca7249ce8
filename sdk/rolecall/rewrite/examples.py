"""Few-shot examples for the rewrite prompt, generated from the index's own schema.

A small model copies its examples' vocabulary: shown `treats(headache)` it answers
`treats(anxiety)` on a graph whose only relation is `used_for`.  So the examples are built
from the catalog itself — a real edge of each of the graph's most used relations, read in
the words of its declared cues or of its name, the graph's own types and entity names — and
what no catalog can supply (an exclusion, a plain question) is schema-neutral.  With an
empty graph there are no relation examples at all, so a model is never shown a relation the
index does not have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..graph import KnowledgeGraph, Relation
from .base import Catalog, Message

__all__ = ["Example", "schema_examples"]

#: Relations shown by example (the most used first); the catalog lists them all.
MAX_RELATION_EXAMPLES = 2


@dataclass(frozen=True)
class Example:
    text: str
    reply: dict[str, Any]
    history: list[Message] = field(default_factory=list)


@dataclass(frozen=True)
class _Edge:
    """One edge of the graph in words: 'a {subject type} {phrase} {object}'."""

    relation: str
    subject_type: str | None
    obj: str
    phrase: str

    def wanted(self, polarity: str = "must") -> dict[str, str]:
        return {"relation": self.relation, "object": self.obj, "polarity": polarity}

    @property
    def thing(self) -> str:
        return self.subject_type.replace("_", " ") if self.subject_type else "document"


def schema_examples(catalog: Catalog) -> list[Example]:
    """The examples for this catalog: relations read from its own edges (positive, negated,
    and a follow-up combining two), then an exclusion and a plain question."""
    edges = _example_edges(catalog.kg)
    out: list[Example] = [_positive(e) for e in edges]
    if edges:
        out.append(_negated(edges[-1]))
        dated = [f for f in catalog.metadata_fields if "year" in f.lower() or "date" in f.lower()]
        if dated:
            out.append(_filtered(edges[0], dated[0]))
    if len(edges) >= 2:
        out.append(_follow_up(edges[0], edges[1]))
    names = _entity_names(catalog.kg, 2)
    out.append(_exclusion(*names) if len(names) == 2 else _exclusion("Aaron", "Moses"))
    out.append(_plain())
    return out


def _example_edges(kg: KnowledgeGraph) -> list[_Edge]:
    edges: list[_Edge] = []
    for name in kg.relation_names()[:MAX_RELATION_EXAMPLES]:
        rel = min((r for r in kg.relations if r.relation == name), key=lambda r: r.object)
        edges.append(_Edge(name, _type_of(kg, rel), kg.entities[rel.object].name,
                           _phrase(kg, name)))
    return edges


def _type_of(kg: KnowledgeGraph, rel: Relation) -> str | None:
    declared = kg.relation_type(rel.relation).subject_type
    ent = kg.entities.get(rel.subject)
    return declared or (ent.type if ent is not None else None)


def _phrase(kg: KnowledgeGraph, relation: str) -> str:
    """How the relation reads between its ends: a declared cue, else its name as words; a
    verb takes 'that' ("that treats"), a participle does not ("directed by", "used for")."""
    rt = kg.relation_type(relation)
    words = rt.cues[0] if rt.cues else rt.words
    first = words.split()[0] if words.split() else words
    participle = first.endswith("ed") or words.split()[-1] in ("by", "for", "of", "to", "in")
    return words if participle else f"that {words}"


def _positive(e: _Edge) -> Example:
    text = f"a {e.thing} {e.phrase} {e.obj}"
    return Example(text, _reply(e.subject_type, [e.wanted()], [e.obj, e.thing],
                                f"A {e.thing} {e.phrase} {e.obj}."))


def _negated(e: _Edge) -> Example:
    phrase = e.phrase.replace("that ", "that never ", 1) if e.phrase.startswith("that ") \
        else f"not {e.phrase}"
    text = f"a {e.thing} {phrase} {e.obj}"
    return Example(text, _reply(e.subject_type, [e.wanted("must_not")], [e.thing],
                                f"A {e.thing} {phrase} {e.obj}."))


def _filtered(e: _Edge, field_name: str) -> Example:
    text = f"a {e.thing} {e.phrase} {e.obj}, from after 2000"
    reply = _reply(e.subject_type, [e.wanted()], [e.obj, e.thing],
                   f"A {e.thing} {e.phrase} {e.obj}.")
    return Example(text, {**reply, "filters": [{"field": field_name, "op": "gt",
                                                 "value": 2000}]})


def _follow_up(first: _Edge, second: _Edge) -> Example:
    asked = f"a {first.thing} {first.phrase} {first.obj}"
    history = [Message(role="user", content=asked),
               Message(role="assistant", content="Here are three.")]
    verb = second.phrase.startswith("that ")
    negated = (second.phrase.replace("that ", "never ", 1) if verb
               else f"are not {second.phrase}")
    return Example(
        f"and which of those {negated} {second.obj}?",
        _reply(first.subject_type, [first.wanted(), second.wanted("must_not")],
               [first.obj, first.thing],
               f"A {first.thing} {first.phrase} {first.obj}, not {second.obj}."),
        history,
    )


def _exclusion(keep: str, drop: str) -> Example:
    return Example(
        f"{keep}, but don't mention {drop}",
        {**_reply(None, [], [keep], f"About {keep}."),
         "exclusions": [{"text": drop, "looks_like": f"a document about {drop}",
                         "entity": True}]},
    )


def _plain() -> Example:
    return Example("how do bees find their way home?",
                   _reply(None, [], ["bees", "navigation", "home"],
                          "How bees navigate back to the hive."))


def _reply(target: str | None, relations: list[dict[str, str]], keywords: list[str],
           description: str) -> dict[str, Any]:
    return {"target_type": target, "relations": relations, "exclusions": [], "filters": [],
            "keywords": keywords, "description": description}


def _entity_names(kg: KnowledgeGraph, n: int) -> list[str]:
    """The names of the `n` most connected subjects of the most connected one's type (the
    kind of thing a query asks for and names), deterministic."""
    degree: dict[str, int] = {}
    for r in kg.relations:
        degree[r.subject] = degree.get(r.subject, 0) + 1
    ids = sorted((e for e in degree if e in kg.entities and kg.entities[e].type != "type"),
                 key=lambda e: (-degree[e], e))
    if not ids:
        return []
    # Of one type, so the exclusion reads as one thing of a kind kept apart from another.
    same = [e for e in ids if kg.entities[e].type == kg.entities[ids[0]].type]
    return [kg.entities[e].name for e in same[:n]]
