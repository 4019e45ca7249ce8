"""The legs' queries: what BM25 searches and what the dense leg is given.

The lexical query is the query's keywords (else its text) plus the names and aliases of
required relation objects: the graph knows that "diarrhea" is also spelt "diarrhoea";
BM25 does not.  No leg leaves out a document for containing an excluded phrase: naming a
thing is not being about it, which the exclusion evidence decides (`pipeline.aboutness`).
"""

from __future__ import annotations

from ..graph import KnowledgeGraph
from ..query import Polarity, RoleQuery
from .grounding import Grounding

__all__ = ["lexical_text"]


def lexical_text(rq: RoleQuery, g: Grounding, kg: KnowledgeGraph) -> str:
    extra: list[str] = []
    for rc, eid in g.relations:
        if rc.polarity == Polarity.MUST and eid in kg.entities:
            extra += kg.entities[eid].surface_forms()
    return " ".join([rq.lexical_text, *extra])

