"""The legs' queries: what BM25 searches and what the dense leg is given.

The lexical query is the query's keywords (else its text) plus the names and aliases of
required relation objects: the graph knows that "diarrhea" is also spelt "diarrhoea";
BM25 does not.  In hard exclusion mode a document containing an excluded phrase verbatim
is left out by the lexical leg itself.
"""

from __future__ import annotations

from ..graph import KnowledgeGraph
from ..query import Polarity, RoleQuery
from ..settings import SearchSettings
from .grounding import Grounding

__all__ = ["lexical_text", "must_not_phrases"]


def lexical_text(rq: RoleQuery, g: Grounding, kg: KnowledgeGraph) -> str:
    extra: list[str] = []
    for rc, eid in g.relations:
        if rc.polarity == Polarity.MUST and eid in kg.entities:
            extra += kg.entities[eid].surface_forms()
    return " ".join([rq.lexical_text, *extra])


def must_not_phrases(rq: RoleQuery, settings: SearchSettings) -> list[str]:
    return [e.text for e in rq.exclusions] if settings.exclusion_mode == "hard" else []
