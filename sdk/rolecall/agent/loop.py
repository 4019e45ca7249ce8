"""`Agent`: a small, bounded loop around `Retriever` — verify, relax, clarify, within a
budget — with every step reported in the plan.

    agent = Agent(retriever, judge=LLMJudge("openai/qwen", api_base=...))
    result = agent.search("Renaissance art, excluding the influence of classical antiquity")
    result.plan.steps      # rewrite, search, deepen?, relax?, verify, judge?, clarify?
    result.plan.spent      # LLM calls, tokens, seconds; which limit stopped a step
    result.clarification   # a question for the user, when the query needs one

The loop:

1. **rewrite** with the retriever's rewriter — if the budget allows an LLM call; otherwise
   the rule rewriter, and the plan says so;
2. **search strictly**: relations as hard filters and exclusions suppressed (the literal
   reading of "excluding X");
3. **deepen, then relax** while fewer than k hits survive: first widen each leg's candidate
   window (suppression is applied after fusion, so a narrow window can fall short on its
   own); then relax the least certain constraint first (grounding
   confidence; a hard exclusion counts as 0.9 — stated by the user, but suppressing every
   mention is its most literal reading), re-running after each, reporting what was relaxed;
4. **verify cheaply** the top `verify_window` hits: the sentence that best matches each
   exclusion (`rolecall.agent.verify`) goes into the explanation and becomes the judge's window.
   It does not re-rank: the strict search already suppressed documents containing an
   excluded phrase or with strong whole-document evidence, and demoting further by
   sentence evidence measured worse on NegConstraint-dev (a document about A always has
   sentences close to a sub-topic a of A);
5. **judge** with the LLM (`rolecall.agent.judge`), when one is configured and the budget allows:
   one listwise call over the top few; violators are demoted with the judge's reason;
6. **clarify** when the query cannot be acted on as asked (`rolecall.agent.clarify`).

Nothing is dropped by verification: violators are demoted, with the evidence.

Traced (`rolecall.tracing`), a run is a `rolecall.agent` span over one span per step
(`rolecall.agent.search`, `.deepen`, `.relax`, `.verify`, `.judge`), each over the searches
and LLM calls it made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from opentelemetry.trace import Span

from ..backends.interface import BackendReader, PassageVectorReader
from ..explain import AgentStep, ConstraintCheck, Degradation, Hit, SearchResult
from ..llm.client import LLMClient, Usage
from ..query import RoleQuery
from ..retriever import (
    History,
    Retriever,
    _check_text,
    _messages,
    _query_text,
    read_query_text,
    validated,
    with_notes,
)
from ..rewrite.base import Message
from ..rewrite.llm import LLMRewriter
from ..rewrite.rules import RuleRewriter
from ..settings import MAX_DEPTH, SearchSettings
from ..tracing.record import agent_span, agent_step, record_agent, record_rewrite, rewrite_span
from .budget import Budget, BudgetTracker
from .clarify import clarification
from .judge import Candidate, JudgeResult, LLMJudge
from .verify import Passage, best_passages, sentences

__all__ = ["Agent"]

# The cheap path does not demote by sentence evidence after the strict search: on
# NegConstraint-dev that raised violations and cost relevance (BENCHMARKS.md, the cheap path).

#: Score multiplier for a judged violator: below any comparable clean hit, still listed.
_JUDGE_KEEP = 0.2
_EXCLUSION_CERTAINTY = 0.9


@dataclass
class _Run:
    """One agent search in progress: what its steps share."""

    tracker: BudgetTracker
    history: list[Message]
    settings: SearchSettings
    overrides: dict[str, Any]
    steps: list[AgentStep] = field(default_factory=list)
    degraded: list[Degradation] = field(default_factory=list)


class Agent:
    """See the module docstring.  Settings given here are the defaults of every search;
    `search(..., budget=..., **overrides)` changes them for one call."""

    def __init__(
        self,
        retriever: Retriever,
        *,
        judge: LLMJudge | None = None,
        budget: Budget | None = None,
        verify_window: int = 10,
        strict_exclusions: bool = True,
        relax: bool = True,
        clarify: bool = True,
    ) -> None:
        self.retriever = retriever
        self.judge = judge
        self.budget = budget or Budget()
        self.verify_window = verify_window
        self.strict_exclusions = strict_exclusions
        self.relax = relax
        self.clarify = clarify

    # -- public -----------------------------------------------------------------------------------

    def search(self, query: str | RoleQuery, k: int | None = None, *, history: History = (),
               budget: Budget | None = None, **overrides: Any) -> SearchResult:
        run = self._start(k, history, budget, overrides)
        with agent_span(query) as span:
            planned = self._plan_rewrite(query, run)
            rq = planned if isinstance(planned, RoleQuery) else self._rewrite(planned, run)
            result, rq, passages = self._retrieve(rq, run)
            todo = self._to_judge(result, rq, passages, run)
            if todo is not None:
                assert self.judge is not None
                with agent_step("judge", run.steps):
                    t = time.perf_counter()
                    verdict = self.judge.judge(
                        rq, todo[1], deadline=run.tracker.remaining_seconds())
                    self._judged(rq, todo[0], verdict, t, run)
            return self._finish(result, rq, run, span)

    async def asearch(self, query: str | RoleQuery, k: int | None = None, *, history: History = (),
                      budget: Budget | None = None, **overrides: Any) -> SearchResult:
        """`search` for async servers: the LLM steps (rewrite, judge) are awaited on the event
        loop, and only the CPU-bound retrieval (search, deepen, relax, verify) runs in a
        worker thread, so waiting on a model holds no thread."""
        run = self._start(k, history, budget, overrides)
        with agent_span(query) as span:
            planned = self._plan_rewrite(query, run)
            rq = planned if isinstance(planned, RoleQuery) else await self._arewrite(
                planned, run)
            # to_thread copies the context: the retrieval's spans are this span's children.
            result, rq, passages = await asyncio.to_thread(self._retrieve, rq, run)
            todo = self._to_judge(result, rq, passages, run)
            if todo is not None:
                assert self.judge is not None
                with agent_step("judge", run.steps):
                    t = time.perf_counter()
                    verdict = await self.judge.ajudge(
                        rq, todo[1], deadline=run.tracker.remaining_seconds()
                    )
                    self._judged(rq, todo[0], verdict, t, run)
            return self._finish(result, rq, run, span)

    # -- steps ------------------------------------------------------------------------------------

    def _start(
        self,
        k: int | None,
        history: Sequence[Message | dict[str, str]],
        budget: Budget | None,
        overrides: dict[str, Any],
    ) -> _Run:
        """The checked arguments of one search (a bad one raises before anything runs)."""
        tracker = BudgetTracker(budget or self.budget)
        msgs = _messages(history)
        settings = self.retriever.settings.override(k=k, **overrides)
        return _Run(tracker, msgs, settings, dict(overrides))

    def _plan_rewrite(self, query: str | RoleQuery, run: _Run) -> RoleQuery | str:
        """A RoleQuery when no LLM rewrite is to run (one was given, or the budget forbids
        the call and the rule fallback read the text), else the text to rewrite."""
        if isinstance(query, RoleQuery):
            run.steps.append(AgentStep(kind="rewrite", detail="RoleQuery given: not rewritten"))
            return validated(query)
        text = _query_text(query)
        _check_text(text)
        rewriter = self.retriever.rewriter
        if rewriter.client is None or run.tracker.allows_llm_call():
            return text
        t = time.perf_counter()
        fallback = rewriter.fallback if isinstance(rewriter, LLMRewriter) else RuleRewriter()
        read, notes = read_query_text(text)
        with agent_step("budget", run.steps), rewrite_span(
            text, fallback.name, run.history
        ) as span:
            rq = with_notes(
                fallback.rewrite(read, history=run.history, catalog=self.retriever.catalog),
                notes,
            )
            record_rewrite(span, rq)
            run.steps.append(AgentStep(
                kind="budget", ms=_ms(t), detail=f"rewrite by {fallback.name}: LLM budget exhausted"
            ))
        return rq

    def _rewrite(self, text: str, run: _Run) -> RoleQuery:
        t = time.perf_counter()
        with _metered(self.retriever.rewriter.client) as usage:
            rq = self.retriever.rewrite(text, history=run.history)
        return self._rewrote(rq, usage, t, run)

    async def _arewrite(self, text: str, run: _Run) -> RoleQuery:
        """`Retriever.rewrite` with the rewriter's call awaited."""
        t = time.perf_counter()
        with _metered(self.retriever.rewriter.client) as usage:
            rq = await self.retriever.arewrite(text, history=run.history)
        return self._rewrote(rq, usage, t, run)

    def _rewrote(self, rq: RoleQuery, usage: Usage, t: float, run: _Run) -> RoleQuery:
        run.tracker.charge(usage.calls, usage.tokens)
        run.steps.append(AgentStep(kind="rewrite", detail=f"by {rq.provenance.rewriter}",
                                   llm_calls=usage.calls, ms=_ms(t)))
        return rq

    def _retrieve(
        self, rq: RoleQuery, run: _Run
    ) -> tuple[SearchResult, RoleQuery, dict[str, list[Passage]]]:
        """The CPU-bound steps: search strictly, deepen, relax, verify."""
        overrides, settings, k = run.overrides, run.settings, run.settings.k
        if self.strict_exclusions and rq.exclusions and "exclusion_mode" not in overrides:
            overrides = {**overrides, "exclusion_mode": "hard"}
        if "unknown_mode" not in overrides:
            # Strict means what the graph vouches for; relaxation, not the documents it
            # cannot judge, fills a short list.
            overrides = {**overrides, "unknown_mode": "hard"}
        with agent_step("search", run.steps):
            t = time.perf_counter()
            result = self.retriever.search(rq, k=k, **overrides)
            run.steps.append(AgentStep(
                kind="search", ms=_ms(t),
                detail=f"{len(result.hits)} hits (constraints {settings.constraint_mode}, "
                       f"exclusions {overrides.get('exclusion_mode', settings.exclusion_mode)})",
            ))
        if len(result.hits) < k:
            result, overrides = self._deepen(result, rq, k, settings.depth, overrides, run.steps)
        if self.relax:
            result, rq, overrides = self._relax(result, rq, k, overrides, run.steps)
        return result, rq, self._verify(result, rq, run.steps)

    def _finish(self, result: SearchResult, rq: RoleQuery, run: _Run, span: Span) -> SearchResult:
        if self.clarify:
            c = clarification(rq, result.plan.grounding, self.retriever.index.kg, run.history)
            if c is not None:
                result.clarification = c
                run.steps.append(AgentStep(kind="clarify", detail=f"{c.reason}: {c.question}"))
        result.hits.sort(key=lambda h: -h.score)
        result.plan.steps = run.steps
        result.plan.spent = run.tracker.spend()
        result.degraded = [*result.degraded, *run.degraded]
        record_agent(span, result)
        return result

    def _deepen(
        self,
        result: SearchResult,
        rq: RoleQuery,
        k: int,
        depth: int,
        overrides: dict[str, Any],
        steps: list[AgentStep],
    ) -> tuple[SearchResult, dict[str, Any]]:
        """Suppression happens after fusion, over each leg's top `depth` candidates: a strict
        search can fall short of k because the window was too narrow, not because the corpus
        lacks documents that meet every constraint.  Widen the window before relaxing any
        constraint, so that "relaxed" always means the corpus could not do it."""
        size = min(len(self.retriever.index), MAX_DEPTH)
        if depth >= size:
            return result, overrides
        wider = min(size, max(4 * depth, 4 * k))
        with agent_step("deepen", steps):
            t = time.perf_counter()
            deeper = self.retriever.search(rq, k=k, **{**overrides, "depth": wider})
            steps.append(AgentStep(
                kind="deepen", ms=_ms(t),
                detail=f"{len(result.hits)} hits < k={k} within {depth} candidates per leg: "
                       f"{len(deeper.hits)} within {wider}",
            ))
        # Kept even when it found nothing more: relaxed searches then fill from the wide window.
        return deeper, {**overrides, "depth": wider}

    def _relax(
        self,
        result: SearchResult,
        rq: RoleQuery,
        k: int,
        overrides: dict[str, Any],
        steps: list[AgentStep],
    ) -> tuple[SearchResult, RoleQuery, dict[str, Any]]:
        """Relaxation only fills: the hits that met every constraint keep their places and
        the relaxed search's other hits come after them, each saying what was relaxed."""
        relaxed_labels: list[str] = []
        while len(result.hits) < k:
            options = _relaxations(result, rq, overrides)
            if not options:
                break
            certainty, _, label, new_rq, new_overrides = min(options, key=lambda o: o[:2])
            with agent_step("relax", steps):
                t = time.perf_counter()
                relaxed = self.retriever.search(new_rq, k=k, **new_overrides)
                relaxed_labels.append(label)
                # Not what an earlier round added either: a second relaxation's search finds the
                # first's documents again.
                shown = {h.id for h in result.hits}
                extra = [h for h in relaxed.hits if h.id not in shown]
                for h in extra:
                    h.explanation.checks.append(ConstraintCheck(
                        constraint=f"relaxed: {', '.join(relaxed_labels)}", kind="relation",
                        satisfied=False, strength=0.0,
                        evidence="added to fill k after the strict search fell short; not "
                                 "required to meet the relaxed constraint",
                    ))
                steps.append(AgentStep(
                    kind="relax", ms=_ms(t),
                    detail=f"relaxed {label} (certainty {certainty:.2f}): "
                           f"{len(result.hits)} → {min(k, len(result.hits) + len(extra))} hits",
                ))
            floor = min((h.score for h in result.hits), default=1.0)
            for h in extra:  # below every strict hit, in the relaxed order
                h.score = round(min(h.score, floor * 0.999), 6)
                floor = h.score
            relaxed.hits = (result.hits + extra)[:k]
            relaxed.plan.notes.append(f"agent relaxed {label}")
            result, rq, overrides = relaxed, new_rq, new_overrides
        return result, rq, overrides

    def _verify(
        self, result: SearchResult, rq: RoleQuery, steps: list[AgentStep]
    ) -> dict[str, list[Passage]]:
        """Passages per verified hit id (also the judge's windows)."""
        if not rq.exclusions or not result.hits:
            return {}
        with agent_step("verify", steps):
            t = time.perf_counter()
            window = result.hits[: self.verify_window]
            stored = _stored_vectors(self.retriever.index, window)
            passages = best_passages([h.text for h in window], rq.exclusions,
                                     self.retriever.index.embedder, stored)
            named = 0
            for hit, found in zip(window, passages, strict=True):
                for p in found:
                    hit.explanation.checks.append(ConstraintCheck(
                        constraint=f"verify: exclude {p.exclusion}", kind="exclusion",
                        satisfied=not p.verbatim, evidence=p.describe(), strength=p.strength,
                    ))
                named += any(p.verbatim for p in found)
            steps.append(AgentStep(
                kind="verify", ms=_ms(t),
                detail=f"located {len(rq.exclusions)} exclusion(s) in {len(window)} hits: "
                       f"{named} name one (reported, not demoted); "
                       + _vectors_note(stored, len(window)),
            ))
        return {hit.id: found for hit, found in zip(window, passages, strict=True)}

    def _to_judge(
        self,
        result: SearchResult,
        rq: RoleQuery,
        passages: dict[str, list[Passage]],
        run: _Run,
    ) -> tuple[list[Hit], list[Candidate]] | None:
        """The top hits and what the judge reads of them, or None when the judge does not
        run (none configured, nothing to check, or the budget says no: a step then says so)."""
        if self.judge is None or not rq.exclusions or not result.hits:
            return None
        if not run.tracker.allows_llm_call(self.judge.orders):
            run.steps.append(AgentStep(
                kind="budget",
                detail=f"judge skipped: {', '.join(run.tracker.exhausted)} exhausted",
            ))
            return None
        result.hits.sort(key=lambda h: -h.score)
        top = result.hits[: self.judge.window]
        return top, [_candidate(h, passages.get(h.id, [])) for h in top]

    def _judged(
        self, rq: RoleQuery, top: list[Hit], verdict: JudgeResult, t: float, run: _Run
    ) -> None:
        """Charge the judgement, report a failure, and demote the violators it names."""
        assert self.judge is not None
        run.tracker.charge(verdict.calls, verdict.tokens)
        if verdict.error:
            run.degraded.append(Degradation(stage="judge", reason=verdict.error))
        flagged = 0
        for hit in top:
            v = verdict.verdicts.get(hit.id)
            if v is None:
                continue
            violates, reason = v
            hit.explanation.checks.append(ConstraintCheck(
                constraint="judge: " + "; ".join(f"exclude {e.text}" for e in rq.exclusions),
                kind="exclusion", satisfied=not violates,
                evidence=f"{self.judge.name}: {reason or ('violates' if violates else 'ok')}",
            ))
            if violates:
                _demote(hit, _JUDGE_KEEP)
                flagged += 1
        run.steps.append(AgentStep(
            kind="judge", llm_calls=verdict.calls, ms=_ms(t),
            detail=(f"{len(verdict.verdicts)} of {len(top)} judged"
                    f"{' (cached)' if verdict.cached else ''}: {flagged} violate"
                    + (f"; failed: {verdict.error}" if verdict.error else "")),
        ))


def _relaxations(
    result: SearchResult, rq: RoleQuery, overrides: dict[str, Any]
) -> list[tuple[float, int, str, RoleQuery, dict[str, Any]]]:
    """Each constraint that could be relaxed: (certainty, tie-break, label, query,
    overrides).  At equal certainty what narrows the request (a must-not, an exclusion) goes
    before what defines it (a must, the type): "allergy medicine without drowsiness" short
    of hits should fill with allergy medicines, flagged, not with any non-drowsy drug."""
    conf = {g.slot: g.confidence for g in result.plan.grounding if g.resolved}
    out: list[tuple[float, int, str, RoleQuery, dict[str, Any]]] = []
    for i, rc in enumerate(rq.relations):
        slot = f"relations[{i}].object"
        if slot in conf:
            # A relation name grounding mapped is only as certain as the mapping.
            conf[slot] = min(conf[slot], conf.get(f"relations[{i}].relation", 1.0))
            rest = [r for j, r in enumerate(rq.relations) if j != i]
            polarity = "must" if rc.polarity == "must" else "must not"
            label = f"'{polarity} {rc.relation} {rc.object}'"
            out.append((conf[slot], 0 if rc.polarity == "must_not" else 2, label,
                        rq.model_copy(update={"relations": rest}), overrides))
    if rq.target_type and "target_type" in conf:
        out.append((conf["target_type"], 3, f"type '{rq.target_type}'",
                    rq.model_copy(update={"target_type": None}), overrides))
    if rq.exclusions and overrides.get("exclusion_mode") == "hard":
        out.append((_EXCLUSION_CERTAINTY, 1, "exclusions from suppression to demotion", rq,
                    {**overrides, "exclusion_mode": "soft"}))
    return out


def _demote(hit: Hit, keep: float) -> None:
    hit.score = round(hit.score * keep, 6)
    e = hit.explanation
    e.penalty = round(1 - (1 - e.penalty) * keep, 4)


def _candidate(hit: Hit, passages: Sequence[Passage]) -> Candidate:
    """The judge's window: the first sentence (what the document is) and the sentences that
    best match each exclusion (found by verification)."""
    parts = sentences(hit.text)[:1]
    for p in passages:
        if p.short not in parts:
            parts.append(p.short)
    return Candidate(id=hit.id, title=hit.title, window=" … ".join(parts))


def _metered(client: LLMClient | None) -> AbstractContextManager[Usage]:
    """What a step's LLM calls cost, counted for this search only (see `LLMClient.metered`);
    nothing for a rewriter that calls no LLM."""
    return client.metered() if client is not None else nullcontext(Usage())


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 3)


def _stored_vectors(index: BackendReader, window: list[Hit]) -> list[np.ndarray | None]:
    """The window's stored sentence vectors, where the index keeps them."""
    if not isinstance(index, PassageVectorReader):
        return [None] * len(window)
    out: list[np.ndarray | None] = []
    for h in window:
        ordinal = index.ordinal(h.id)
        out.append(None if ordinal is None
                   else index.passage_vectors(ordinal, len(sentences(h.text))))
    return out


def _vectors_note(stored: list[np.ndarray | None], n: int) -> str:
    read = sum(v is not None for v in stored)
    if read == n:
        return "sentence vectors read from the index"
    return (f"sentences of {n - read} hit(s) embedded now (build the index with "
            "sentence_vectors=True, `rolecall index --sentence-vectors`, to read them)")

