"""Where documents live: the interface a backend implements, and what it may reuse.

A backend stores documents and runs the legs and the symbolic filters; everything that
decides what a search *means* (rewrite, grounding, fusion, evidence, explanations) stays in
`rolecall.pipeline`.  This module is public: a backend outside rolecall (`rolecall_postgres`)
imports from here and from `rolecall`, never from a private module.

* the protocols: `BackendReader` (what a search needs), `BackendWriter` (adding documents),
  `Backend` (both), `LexicalLeg`, `DenseLeg`, `LinksView`;
* the values they return: `GraphVerdict`, `DocLinks`, `FilterPlan`;
* the shared pieces that make two backends rank alike: the lexical analyzer
  (`analyze`, `positioned_tokens`), `plan_filters`, `as_set`, `split_constraints`, `verdict_of`,
  `matches`,
  `coerce_documents`, the embedder helpers, `progress_bar`, `BoundedMemo`.
"""

from __future__ import annotations

from .._progress import progress_bar
from ..documents import Document, coerce_documents
from ..embedding.sentence import Embedder, checked_embedder, default_embedder
from ..filters import matches, matches_all
from ..graph import DocLinks, GraphVerdict, invert_links, split_constraints, verdict_of
from ..linking import FieldLink, LinkReport, checked_link_fields, link_document
from .embedded.dense import DEFAULT_ANN_THRESHOLD
from .embedded.lexical import analyze, positioned_tokens
from .filter_plan import FilterPlan, as_set, plan_filters
from .interface import Backend, BackendReader, BackendWriter, DenseLeg, LexicalLeg, LinksView
from .memo import BoundedMemo, filters_key, verdict_key

__all__ = [
    "DEFAULT_ANN_THRESHOLD",
    "Backend",
    "BackendReader",
    "BackendWriter",
    "BoundedMemo",
    "DenseLeg",
    "DocLinks",
    "Document",
    "Embedder",
    "FieldLink",
    "FilterPlan",
    "GraphVerdict",
    "LexicalLeg",
    "LinkReport",
    "LinksView",
    "analyze",
    "as_set",
    "checked_embedder",
    "checked_link_fields",
    "coerce_documents",
    "default_embedder",
    "invert_links",
    "link_document",
    "matches",
    "matches_all",
    "plan_filters",
    "positioned_tokens",
    "progress_bar",
    "split_constraints",
    "verdict_of",
    "filters_key",
    "verdict_key",
]
