"""`Retriever`: one search, end to end — rewrite, ground, filter, legs, fuse, explain.

It owns no algorithm: each stage lives in its own module and this file only wires them,
times them, and records in the plan what ran and what degraded — and, when an OpenTelemetry
SDK is configured, in a span tree (`rolecall.tracing`).
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from ._confusables import fold_confusables
from .backends.embedded.index import Index
from .backends.interface import BackendReader, BackendWriter
from .documents import Document
from .embedding.sentence import Embedder
from .errors import ConfigurationError, InvalidQueryError
from .explain import ConstraintCheck, Degradation, SearchResult
from .graph import KnowledgeGraph
from .pipeline.evidence import EvidenceWeights
from .pipeline.hits import document_checks, hits, plan
from .pipeline.stages import DEFAULT_STAGES, RANKING_STAGES, compose, in_stage, run_stages
from .pipeline.state import SearchState, Stage
from .query import RoleQuery
from .rerank.stage import Reranker, RerankStage
from .rewrite.base import Catalog, Message, Rewriter
from .rewrite.rules import RuleRewriter
from .settings import SearchSettings
from .tracing import KIND_CHAIN, span
from .tracing.record import (
    record_rewrite,
    record_search,
    rewrite_span,
    search_span,
    stage_span,
)

__all__ = ["Retriever"]

#: A chat history: messages, or dicts with 'role' and 'content'.
History = Sequence[Message | dict[str, str]]

_MAX_QUERY_CHARS = 4_000


class Retriever:
    """Search an index with role-aware rewriting.

    `index` is any `Backend`: the embedded `Index` (`Retriever.open` / `Retriever.build`) or
    `rolecall_postgres.PostgresIndex`; the search means the same on both.

    ```python
    r = Retriever.build("idx", documents, kg=KnowledgeGraph.load(["kg.jsonl"]))
    result = r.search("a drug that treats headaches", k=5)
    for hit in result.hits:
        print(hit.id, hit.score, hit.explanation.summary())
    ```

    Settings are given at construction and can be overridden per call:
    `r.search(q, k=20, exclusion_mode="hard")` (see `SearchSettings`).  `stages` adds
    search stages (a reranker, an aboutness scorer: `rolecall.pipeline.state.Stage`), each
    run after the stage it names; the plan records every stage's time and what it did.
    `reranker` (`rolecall.Reranker(top_n=20)`, the `rerank` extra) re-orders the top fused
    candidates with a cross-encoder, right after fusion; None (the default) leaves the
    search as it is.
    """

    def __init__(
        self,
        index: BackendReader,
        *,
        rewriter: Rewriter | None = None,
        settings: SearchSettings | None = None,
        evidence: EvidenceWeights | None = None,
        stages: Sequence[Stage] = (),
        reranker: Reranker | None = None,
        **overrides: Any,
    ) -> None:
        self.index: BackendReader = index
        self.rewriter: Rewriter = _checked_rewriter(rewriter or RuleRewriter())
        base = settings or SearchSettings()
        base.validate()
        self.settings = base.override(**overrides) if overrides else base
        self.evidence = evidence or EvidenceWeights()
        self.reranker = reranker
        #: the search's stages in order: the defaults with `stages` inserted where each says
        #: (the reranker first among those after `fuse`: the others see its order)
        self.stages: list[Stage] = compose(
            [reranker.stage, *stages] if reranker is not None else stages)
        self._catalog: Catalog | None = None
        self._catalog_index: BackendReader | None = None

    # -- constructors ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: str | Path, *, embedder: Embedder | str | None = None, **kwargs: Any
    ) -> Retriever:
        """Open an existing index directory (with the embedder it was built with, unless
        one is given: see `Index.open`)."""
        return cls(Index.open(path, embedder=embedder), **kwargs)

    @classmethod
    def build(
        cls,
        path: str | Path,
        documents: Iterable[Document | dict[str, Any]],
        *,
        kg: KnowledgeGraph | None = None,
        embedder: Embedder | str | None = None,
        progress: bool = True,
        link_fields: str | Sequence[str] = (),
        sentence_vectors: bool = False,
        **kwargs: Any,
    ) -> Retriever:
        """Build (or atomically rebuild) an index at `path` and open it (`link_fields`: the
        metadata fields that link documents to entities; `sentence_vectors`: store the
        passage vectors the agent verifies with; see `Index.build`)."""
        index = Index.build(path, documents, kg=kg, embedder=embedder, progress=progress,
                            link_fields=link_fields, sentence_vectors=sentence_vectors)
        return cls(index, **kwargs)

    def add(self, documents: Iterable[Document | dict[str, Any]], *, progress: bool = True) -> None:
        """Add documents (a new index generation); this retriever moves to it."""
        if not isinstance(self.index, BackendWriter):
            raise ConfigurationError(
                f"{type(self.index).__name__} is searched, not written: add documents "
                "through the backend that writes it"
            )
        self.index = self.index.add(documents, progress=progress)

    def close(self) -> None:
        """Close the backend (files, descriptors, connections).  A Retriever is also a
        context manager: `with Retriever.open(path) as r: ...`."""
        self.index.close()

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None or self._catalog_index is not self.index:
            self._catalog = Catalog(
                kg=self.index.kg, metadata_fields=sorted(self.index.metadata_fields())
            )
            self._catalog_index = self.index
        return self._catalog

    # -- search ----------------------------------------------------------------------------------

    def rewrite(self, text: str, *, history: History = ()) -> RoleQuery:
        """Only the rewrite step (useful to inspect what a query becomes)."""
        _check_text(text)
        read, notes = read_query_text(text)
        messages = _messages(history)
        with rewrite_span(text, self.rewriter.name, messages) as current, in_stage("rewrite"):
            rq = with_notes(
                self.rewriter.rewrite(read, history=messages, catalog=self.catalog), notes)
            record_rewrite(current, rq)
        return rq

    async def arewrite(
        self, text: str, *, history: History = ()
    ) -> RoleQuery:
        """`rewrite` for async callers: the rewriter's `arewrite` is awaited, so an LLM call
        does not block the event loop."""
        _check_text(text)
        read, notes = read_query_text(text)
        messages = _messages(history)
        with rewrite_span(text, self.rewriter.name, messages) as current, in_stage("rewrite"):
            rq = with_notes(await self.rewriter.arewrite(
                read, history=messages, catalog=self.catalog
            ), notes)
            record_rewrite(current, rq)
        return rq

    def search(self, query: str | RoleQuery, k: int | None = None, *,
               history: History = (), **overrides: Any) -> SearchResult:
        """Search; `query` is user text (rewritten) or a ready RoleQuery (used as is)."""
        settings = self.settings.override(k=k, **overrides)
        with search_span(query) as current:
            t0 = time.perf_counter()
            rq = validated(query) if isinstance(query, RoleQuery) else self.rewrite(
                _query_text(query), history=history
            )
            result = self._execute(rq, settings, {"rewrite": _ms(t0)})
            record_search(current, rq, result)
        return result

    async def asearch(self, query: str | RoleQuery, k: int | None = None, *,
                      history: History = (), **overrides: Any) -> SearchResult:
        """`search` for async servers: the LLM call is awaited, retrieval runs in a thread."""
        settings = self.settings.override(k=k, **overrides)
        with search_span(query) as current:
            t0 = time.perf_counter()
            rq = validated(query) if isinstance(query, RoleQuery) else await self.arewrite(
                _query_text(query), history=history
            )
            # to_thread copies the context: the stages' spans are this span's children.
            result = await asyncio.to_thread(
                self._execute, rq, settings, {"rewrite": _ms(t0)})
            record_search(current, rq, result)
        return result

    def _execute(
        self, rq: RoleQuery, settings: SearchSettings, timings: dict[str, float]
    ) -> SearchResult:
        state = self._state(rq, settings)
        state, records = run_stages(state, self.stages, timings)
        with stage_span("hits") as current:
            t = time.perf_counter()
            with in_stage("hits"):
                found = hits(state)
            timings["hits"] = _ms(t)
            current.set_attribute("rolecall.stage.ms", timings["hits"])
        timings["total"] = round(sum(timings.values()), 3)
        return SearchResult(hits=found, plan=plan(state, timings, records),
                            degraded=list(state.degraded))

    def explain_document(self, query: str | RoleQuery, doc_id: str) -> list[ConstraintCheck]:
        """Every constraint's verdict on one document — also one the search did not return
        ("why is X not in my results?").  The search's own stages compute it, asked about
        this document only (`SearchState.only`): every stage but the default ones that only
        rank (`RANKING_STAGES`: no leg runs), so an added evidence stage is asked too."""
        with span("rolecall.explain_document", KIND_CHAIN, {"rolecall.document.id": doc_id}):
            rq = validated(query) if isinstance(query, RoleQuery) else self.rewrite(
                _query_text(query)
            )
            ordinal = self.index.ordinal(doc_id)
            if ordinal is None:
                raise InvalidQueryError(f"document {doc_id!r} is not in the index")
            state = replace(self._state(rq, self.settings), only=(ordinal,))
            state, _ = run_stages(state, [s for s in self.stages if _explains(s)], {})
            return document_checks(state, ordinal)

    def _state(self, rq: RoleQuery, settings: SearchSettings) -> SearchState:
        return SearchState(
            query=rq, settings=settings, index=self.index, weights=self.evidence,
            degraded=tuple(Degradation(stage="rewrite", reason=r)
                           for r in rq.provenance.degraded),
        )


def _explains(stage: Stage) -> bool:
    ranks_only = stage in DEFAULT_STAGES or isinstance(stage, RerankStage)
    return not (ranks_only and stage.name in RANKING_STAGES)


def validated(rq: RoleQuery) -> RoleQuery:
    """A RoleQuery given by the caller, validated again: one made with `model_construct` or
    changed after construction skipped pydantic's checks, and the pipeline trusts them."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # serialising wrong types warns; validation says
            data = rq.model_dump()
        return RoleQuery.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"]) or "the query"
        raise InvalidQueryError(
            f"the RoleQuery given is invalid at {where}: {err['msg']}; build it with "
            "RoleQuery(...) or RoleQuery.model_validate(...), which check every field"
        ) from None
    except (PydanticSerializationError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidQueryError(
            f"the RoleQuery given cannot be read ({exc}); build it with RoleQuery(...)"
        ) from None


def read_query_text(text: str) -> tuple[str, list[str]]:
    """The text the rewriter reads, and notes on what was changed to read it."""
    folded = fold_confusables(text)
    if folded == text:
        return text, []
    changed = [
        f"{a!r} read as {b!r}" for a, b in zip(text.split(), folded.split(), strict=False)
        if a != b
    ]
    return folded, [
        f"lookalike letters from another script: {', '.join(changed[:5])}"
    ]


def with_notes(rq: RoleQuery, notes: list[str]) -> RoleQuery:
    if not notes:
        return rq
    provenance = rq.provenance.model_copy(update={"notes": [*rq.provenance.notes, *notes]})
    return rq.model_copy(update={"provenance": provenance})


def _checked_rewriter(rewriter: object) -> Rewriter:
    if isinstance(rewriter, Rewriter):
        return rewriter
    missing = [m for m in ("name", "client", "rewrite", "arewrite") if not hasattr(rewriter, m)]
    raise ConfigurationError(
        f"{type(rewriter).__name__} is not a Rewriter: it lacks {', '.join(missing)}. "
        "Subclass rolecall.Rewriter, which supplies `client` (None) and `arewrite` (runs "
        "`rewrite`) for a rewriter that calls no LLM"
    )


def _query_text(query: Any) -> str:
    if not isinstance(query, str):
        raise InvalidQueryError(f"query must be a str or RoleQuery, got {type(query).__name__}")
    return query


def _check_text(text: Any) -> None:
    if not isinstance(text, str):
        raise InvalidQueryError(f"query must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InvalidQueryError("query is empty; pass the user's question as text")
    if len(text) > _MAX_QUERY_CHARS:
        raise InvalidQueryError(
            f"query is {len(text)} characters; the limit is {_MAX_QUERY_CHARS}: "
            "pass the question, not a document"
        )


def _messages(history: Sequence[Message | dict[str, str]]) -> list[Message]:
    out = []
    for i, m in enumerate(history):
        if isinstance(m, Message):
            out.append(m)
        elif isinstance(m, dict):
            try:
                out.append(Message.model_validate(m))
            except ValueError as exc:
                raise InvalidQueryError(
                    f"history[{i}] must be {{'role': 'user'|'assistant'|'system', "
                    f"'content': str}}: {exc}"
                ) from None
        else:
            raise InvalidQueryError(f"history[{i}] must be a dict or Message")
    return out


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 3)
