"""`Retriever`: one search, end to end — rewrite, ground, filter, legs, fuse, explain.

It owns no algorithm: each stage lives in its own module and this file only wires them,
times them, and records in the plan what ran and what degraded.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from ._confusables import fold_confusables
from .backends.embedded.index import Index
from .backends.interface import BackendReader, BackendWriter
from .documents import Document
from .embedding.sentence import Embedder
from .errors import ConfigurationError, InvalidQueryError, RolecallError
from .explain import ConstraintCheck, Degradation, Explanation, Hit, Plan, SearchResult
from .filters import describe_filter, matches_all
from .graph import KnowledgeGraph
from .pipeline.evidence import EvidenceWeights, exclusion_evidence
from .pipeline.fusion import apply_penalties, weighted_rrf
from .pipeline.grounding import Grounding, ground
from .query import Polarity, RoleQuery
from .rewrite.base import Catalog, Message, Rewriter
from .rewrite.rules import RuleRewriter
from .settings import SearchSettings

__all__ = ["Retriever"]

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
    `r.search(q, k=20, exclusion_mode="hard")` (see `SearchSettings`).
    """

    def __init__(
        self,
        index: BackendReader,
        *,
        rewriter: Rewriter | None = None,
        settings: SearchSettings | None = None,
        evidence: EvidenceWeights | None = None,
        **overrides: Any,
    ) -> None:
        self.index: BackendReader = index
        self.rewriter: Rewriter = rewriter or RuleRewriter()
        base = settings or SearchSettings()
        base.validate()
        self.settings = base.override(**overrides) if overrides else base
        self.evidence = evidence or EvidenceWeights()
        self._catalog: Catalog | None = None
        self._catalog_index: BackendReader | None = None

    # -- constructors ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: str | Path, *, embedder: Embedder | None = None, **kwargs: Any
    ) -> Retriever:
        """Open an existing index directory."""
        return cls(Index.open(path, embedder=embedder), **kwargs)

    @classmethod
    def build(
        cls,
        path: str | Path,
        documents: Iterable[Document | dict[str, Any]],
        *,
        kg: KnowledgeGraph | None = None,
        embedder: Embedder | None = None,
        progress: bool = True,
        **kwargs: Any,
    ) -> Retriever:
        """Build (or atomically rebuild) an index at `path` and open it."""
        index = Index.build(path, documents, kg=kg, embedder=embedder, progress=progress)
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

    def rewrite(self, text: str, *, history: Sequence[Message | dict[str, str]] = ()) -> RoleQuery:
        """Only the rewrite step (useful to inspect what a query becomes)."""
        _check_text(text)
        read, notes = read_query_text(text)
        rq = self.rewriter.rewrite(read, history=_messages(history), catalog=self.catalog)
        return with_notes(rq, notes)

    def search(
        self,
        query: str | RoleQuery,
        k: int | None = None,
        *,
        history: Sequence[Message | dict[str, str]] = (),
        **overrides: Any,
    ) -> SearchResult:
        """Search; `query` is user text (rewritten) or a ready RoleQuery (used as is)."""
        settings = self.settings.override(k=k, **overrides)
        t0 = time.perf_counter()
        rq = validated(query) if isinstance(query, RoleQuery) else self.rewrite(
            _query_text(query), history=history
        )
        return self._execute(rq, settings, {"rewrite": _ms(t0)})

    async def asearch(
        self,
        query: str | RoleQuery,
        k: int | None = None,
        *,
        history: Sequence[Message | dict[str, str]] = (),
        **overrides: Any,
    ) -> SearchResult:
        """`search` for async servers: the LLM call is awaited, retrieval runs in a thread."""
        settings = self.settings.override(k=k, **overrides)
        t0 = time.perf_counter()
        if isinstance(query, RoleQuery):
            rq = validated(query)
        else:
            text = _query_text(query)
            _check_text(text)
            arewrite = getattr(self.rewriter, "arewrite", None)
            if arewrite is not None:
                read, notes = read_query_text(text)
                rq = with_notes(
                    await arewrite(read, history=_messages(history), catalog=self.catalog),
                    notes,
                )
            else:
                rq = await asyncio.to_thread(self.rewrite, text, history=history)
        return await asyncio.to_thread(self._execute, rq, settings, {"rewrite": _ms(t0)})

    def _execute(
        self, rq: RoleQuery, settings: SearchSettings, timings: dict[str, float]
    ) -> SearchResult:
        degraded = [Degradation(stage="rewrite", reason=r) for r in rq.provenance.degraded]
        notes: list[str] = []
        index = self.index
        t = time.perf_counter()
        vocab = _vocabulary_checker(index)
        grounding = ground(
            rq, index.kg, metadata_fields=index.metadata_fields() if rq.filters else (),
            in_vocabulary=vocab,
        )
        timings["ground"] = _ms(t)
        for gv in grounding.values:
            if not gv.resolved and gv.slot != "keywords":
                notes.append(f"unresolved {gv.slot} {gv.value!r}: reported, not enforced")

        # Symbolic filters: graph verdict and metadata filters.
        t = time.perf_counter()
        verdict = index.graph_verdict(grounding.target_type, grounding.relations)
        allowed = verdict.allowed
        blocked = dict(verdict.blocked)
        passing = index.passing(grounding.filters) if grounding.filters else None
        if passing is not None:
            allowed = passing if allowed is None else allowed & passing
        timings["graph"] = _ms(t)
        hard = settings.constraint_mode == "hard"
        # Soft role constraints still honour attribute filters: those are never soft.
        leg_allowed = allowed if hard else passing
        leg_blocked = set(blocked) if hard else set()

        # Legs.
        rankings: dict[str, list[tuple[int, float]]] = {}
        must_not = [e.text for e in rq.exclusions] if settings.exclusion_mode == "hard" else []
        query_vec: np.ndarray | None = None
        excl_vecs: np.ndarray | None = None
        original_vec: np.ndarray | None = None
        if "lexical" in settings.legs:
            t = time.perf_counter()
            rankings["lexical"] = index.lexical.search(
                _expanded_lexical_text(rq, grounding, index.kg),
                settings.depth,
                allowed=leg_allowed,
                blocked=leg_blocked,
                must_not_phrases=must_not,
            )
            timings["lexical"] = _ms(t)
        if "dense" in settings.legs:
            t = time.perf_counter()
            # Exclusions are embedded only when that evidence kind is switched on.
            embed_exclusions = rq.exclusions if self.evidence.exclusion_weight > 0 else []
            texts = [rq.embed_text] + [e.looks_like or e.text for e in embed_exclusions]
            if rq.exclusions:
                texts.append(rq.text)  # the unconstrained reading, for exclusion evidence
            try:
                vecs = index.embedder.encode(texts)
                query_vec = vecs[0]
                excl_vecs = vecs[1 : 1 + len(embed_exclusions)] if embed_exclusions else None
                if rq.exclusions and rq.text.strip() != rq.embed_text.strip():
                    original_vec = vecs[-1]
                timings["embed"] = _ms(t)
                t = time.perf_counter()
                rankings["dense"] = index.dense.search(
                    query_vec, settings.depth, allowed=leg_allowed, blocked=leg_blocked
                )
                timings["dense"] = _ms(t)
            except RolecallError:
                raise
            except Exception as exc:  # the model failed to load or run: keep the lexical leg
                degraded.append(Degradation(stage="dense", reason=f"{type(exc).__name__}: {exc}"))

        # Fusion and penalties.
        t = time.perf_counter()
        weights = {leg: float(settings.weights.get(leg, 1.0)) for leg in rankings}
        fused = weighted_rrf(rankings, weights, rrf_k=settings.rrf_k)
        cands = [f.key for f in fused]
        ev = exclusion_evidence(
            rq.exclusions,
            cands,
            lexical=index.lexical,
            dense=index.dense if query_vec is not None else None,
            query_vec=query_vec,
            original_vec=original_vec,
            exclusion_vecs=excl_vecs,
            entity_ids=grounding.exclusion_entities,
            links=index.links,
            weights=self.evidence,
        )
        penalties: dict[int, float] = {}
        suppressed: set[int] = set()
        for d, s in ev.strength.items():
            if settings.exclusion_mode == "hard" and (
                s >= settings.exclusion_threshold or d in ev.contains
            ):
                suppressed.add(d)
            else:
                penalties[d] = settings.exclusion_penalty * s
        if not hard:
            for d in cands:
                if (allowed is not None and d not in allowed) or d in blocked:
                    penalties[d] = 1 - (1 - penalties.get(d, 0.0)) * (1 - settings.role_penalty)
        fused = apply_penalties(fused, penalties, suppressed)
        timings["fuse"] = _ms(t)

        # Explanations.
        t = time.perf_counter()
        hits: list[Hit] = []
        for f in fused:
            if f.suppressed or f.score < settings.min_score:
                continue
            if len(hits) >= settings.k:
                break
            doc = index.document(f.key)
            checks: list[ConstraintCheck] = []
            if grounding.target_type or grounding.relations:
                checks += index.kg.explain_doc(
                    index.links[f.key],
                    target_type=grounding.target_type,
                    relations=grounding.relations,
                )
            checks += [
                ConstraintCheck(constraint=describe_filter(flt), kind="filter", satisfied=True)
                for flt in grounding.filters
            ]
            checks += ev.checks.get(f.key, [])
            hits.append(
                Hit(
                    id=doc.id,
                    score=round(f.score, 6),
                    title=doc.title,
                    text=doc.text,
                    metadata=doc.metadata,
                    explanation=Explanation(
                        legs=f.legs, checks=checks, fused=round(f.fused, 6),
                        penalty=round(f.penalty, 4), suppressed=False,
                    ),
                )
            )
        timings["explain"] = _ms(t)
        timings["total"] = round(sum(timings.values()), 3)
        plan = Plan(
            query=rq,
            grounding=grounding.values,
            legs=list(rankings),
            weights=weights,
            exclusion_mode=settings.exclusion_mode,
            candidates=len(fused),
            allowed=None if allowed is None else len(allowed),
            blocked=len(blocked) + len(suppressed),
            timings_ms=timings,
            notes=notes
            + ([f"graph: {', '.join(verdict.constraints)}"] if verdict.constraints else []),
        )
        return SearchResult(hits=hits, plan=plan, degraded=degraded)


    def explain_document(self, query: str | RoleQuery, doc_id: str) -> list[ConstraintCheck]:
        """Every constraint's verdict on one document — also one the search did not return
        ("why is X not in my results?")."""
        rq = validated(query) if isinstance(query, RoleQuery) else self.rewrite(
            _query_text(query)
        )
        index = self.index
        ordinal = index.ordinal(doc_id)
        if ordinal is None:
            raise InvalidQueryError(f"document {doc_id!r} is not in the index")
        g = ground(rq, index.kg, metadata_fields=index.metadata_fields() if rq.filters else ())
        checks: list[ConstraintCheck] = []
        if g.target_type or g.relations:
            checks += index.kg.explain_doc(
                index.links[ordinal], target_type=g.target_type, relations=g.relations
            )
        md = index.document(ordinal).metadata
        checks += [
            ConstraintCheck(constraint=describe_filter(f), kind="filter",
                            satisfied=matches_all(md, [f]))
            for f in g.filters
        ]
        if rq.exclusions:
            texts = [rq.embed_text, rq.text] + [e.looks_like or e.text for e in rq.exclusions]
            vecs = index.embedder.encode(texts)
            ev = exclusion_evidence(
                rq.exclusions, [ordinal], lexical=index.lexical, dense=index.dense,
                query_vec=vecs[0], original_vec=vecs[1] if texts[0] != texts[1] else None,
                exclusion_vecs=vecs[2:], entity_ids=g.exclusion_entities, links=index.links,
                weights=self.evidence,
            )
            checks += ev.checks.get(ordinal, [])
        return checks


def _expanded_lexical_text(rq: RoleQuery, grounding: Grounding, kg: KnowledgeGraph) -> str:
    """The lexical query plus the names and aliases of required relation objects: the graph
    knows that "diarrhea" is also spelt "diarrhoea"; BM25 does not."""
    extra: list[str] = []
    for rc, eid in grounding.relations:
        if rc.polarity == Polarity.MUST and eid in kg.entities:
            extra += kg.entities[eid].surface_forms()
    return " ".join([rq.lexical_text, *extra])


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


def _vocabulary_checker(index: BackendReader) -> Any:
    def in_vocab(value: str) -> bool:
        toks = index.lexical.tokens(value)
        return bool(toks) and all(index.lexical.doc_freq(t) > 0 for t in toks)

    return in_vocab


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 3)
