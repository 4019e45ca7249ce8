"""When to ask the user instead of guessing.

Three situations, each with the candidate readings a chatbot can offer:

* **unresolved follow-up** — the turn only makes sense against earlier turns ("and without
  the drowsy ones?") and there are none;
* **ambiguous entity** — a value links to several knowledge-graph entities equally well
  (an alias they share), so it was not enforced;
* **underspecified** — nothing to act on: no constraint, no exclusion, and at most a type
  name or a single word ("drugs", "help").

The search still runs; the clarification travels beside its best-effort hits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..explain import Clarification, GroundedValue
from ..graph import KnowledgeGraph
from ..query import RoleQuery
from ..rewrite.base import Message
from ..rewrite.llm import is_follow_up

__all__ = ["clarification"]

_WORD_RE = re.compile(r"\w+", re.UNICODE)
_FILLER = frozenset(
    "a an the any some something anything me i you please show find give get list what which "
    "who is are about for info information tell need want help search results stuff things".split()
)


def clarification(
    rq: RoleQuery,
    grounding: Sequence[GroundedValue],
    kg: KnowledgeGraph,
    history: Sequence[Message] = (),
) -> Clarification | None:
    if not history and is_follow_up(rq.text):
        return Clarification(
            question=f"“{rq.text.strip()}” sounds like a follow-up, but there is no earlier "
                     "question to continue. What are you looking for?",
            reason="unresolved_follow_up",
        )
    ambiguous = [
        (gv.value, [gv.entity_id, *gv.candidates]) for gv in grounding
        if gv.method == "alias" and gv.confidence < 1.0 and gv.entity_id and gv.candidates
    ]
    # A name in the free text that several entities share is just as ambiguous, even when
    # no constraint was built from it (the rules do not guess between entities).
    spans: dict[tuple[int, str], list[str]] = {}
    for eid, start, _, surface in kg.find_mentions(rq.text) if kg.entities else []:
        if eid not in spans.setdefault((start, surface), []):
            spans[(start, surface)].append(eid)
    ambiguous += [(surface, ids) for (_, surface), ids in sorted(spans.items()) if len(ids) > 1]
    if ambiguous:
        value, options = ambiguous[0]
        readings = [_label(kg, e) for e in options]
        return Clarification(
            question=f"Which “{value}” do you mean: {', '.join(readings[:-1])} or "
                     f"{readings[-1]}?",
            readings=readings,
            reason="ambiguous_entity",
        )
    content = [w for w in _WORD_RE.findall(rq.text.casefold()) if w not in _FILLER]
    constrained = rq.relations or rq.exclusions or rq.filters
    types = set(kg.types())
    only_type = bool(content) and all(_is_type(w, types) for w in content)
    if not constrained and (not content or only_type):
        relations = kg.relation_names()[:3]
        subject = rq.target_type or (content[0] if content else "")
        readings = [f"{subject} that {r} …".strip() for r in relations] if subject else []
        return Clarification(
            question=(f"What about {subject}? For example: {'; '.join(readings)}"
                      if readings else "What would you like to find?"),
            readings=readings,
            reason="underspecified",
        )
    return None


def _is_type(word: str, types: set[str]) -> bool:
    return word in types or word.rstrip("s") in types


def _label(kg: KnowledgeGraph, entity_id: str) -> str:
    e = kg.entities.get(entity_id)
    if e is None:
        return entity_id
    return f"{e.name} ({e.type})" if e.type else e.name
