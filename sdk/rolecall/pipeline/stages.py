"""The stage protocol, the default stages of a search, and the runner that times them.

A search is a straight line of stages over one `SearchState`:

    ground → restrict → encode → lexical → dense → fuse → exclusions → policy

then `rolecall.pipeline.hits` turns the state into explained hits.  A stage is anything
with a `name`, the name of the stage it runs `after`, and `run(state) -> Outcome` — a
function decorated with `@stage(name, after=...)` is one; extra
stages (a reranker, an aboutness scorer) are given to `Retriever(stages=[...])` and slot in
after the stage they name, without editing the retriever.  The runner records each stage's
time and what it says it changed in the plan (`Plan.stages`) and in an OpenTelemetry span
(`rolecall.tracing`), and tags any `RolecallError` passing through with the stage it came from.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from ..errors import ConfigurationError, EmbeddingError, RolecallError
from ..explain import Degradation, StageRecord
from ..tracing.record import record_stage, stage_span
from .documents import analysed_documents
from .encode import encode
from .evidence import DenseView, exclusion_evidence
from .fusion import apply_penalties, weighted_rrf
from .grounding import ground, unresolved_notes, vocabulary_checker
from .legs import lexical_text
from .mapping import embedding_similarity
from .policy import decide
from .restrict import restrict
from .state import Outcome, SearchState, Stage, stage

__all__ = [
    "DEFAULT_STAGES",
    "RANKING_STAGES",
    "Outcome",
    "Stage",
    "dense_stage",
    "encode_stage",
    "exclusion_stage",
    "fuse_stage",
    "in_stage",
    "ground_stage",
    "lexical_stage",
    "policy_stage",
    "restrict_stage",
    "compose",
    "run_stages",
]


@stage("ground", after="")
def ground_stage(state: SearchState) -> Outcome:
    """Link every value of the query to the graph and the index vocabulary."""
    rq, index = state.query, state.index
    g = ground(
        rq, index.kg, metadata_fields=index.metadata_fields() if rq.filters else (),
        in_vocabulary=vocabulary_checker(index),
        # Embedding evidence for mapping unknown names, only when the model is in use anyway.
        similarity=embedding_similarity(index) if "dense" in state.settings.legs else None,
    )
    notes = unresolved_notes(g)
    linked = sum(1 for gv in g.values if gv.resolved)
    return Outcome(replace(state, grounding=g, notes=(*state.notes, *notes)),
                   f"{linked} of {len(g.values)} values linked")


@stage("restrict", after="ground")
def restrict_stage(state: SearchState) -> Outcome:
    """The graph verdict and the attribute filters (`pipeline.restrict`)."""
    r = restrict(state.index, state.grounding, state.settings)
    notes = [f"graph: {', '.join(r.constraints)}"] if r.constraints else []
    if r.unknown:
        notes.append(f"graph: {len(r.unknown)} documents link to no entity, so their role is "
                     "unknown: kept and demoted, not filtered (unknown_mode='soft')")
    detail = "unrestricted" if r.allowed is None else f"{len(r.allowed)} allowed"
    return Outcome(replace(state, restriction=r, notes=(*state.notes, *notes)),
                   f"{detail}, {len(r.blocked)} blocked")


@stage("encode", after="restrict")
def encode_stage(state: SearchState) -> Outcome:
    """The query's embeddings, once, when the dense leg runs.  A model that cannot load or
    run degrades the search to its other legs (`EmbeddingError`); any other exception is a
    bug and propagates."""
    if "dense" not in state.settings.legs:
        return Outcome(state, "dense leg off")
    try:
        vectors = encode(state.index, state.query, state.weights)
    except EmbeddingError as exc:
        down = Degradation(stage="dense", reason=f"{type(exc).__name__}: {exc}")
        return Outcome(replace(state, degraded=(*state.degraded, down)), "model failed")
    rows = 1 + (0 if vectors.exclusions is None else len(vectors.exclusions))
    rows += vectors.original is not None
    return Outcome(replace(state, vectors=vectors), f"{rows} texts embedded")


@stage("lexical", after="encode")
def lexical_stage(state: SearchState) -> Outcome:
    """BM25 over the query's keywords and the names of required relation objects."""
    if "lexical" not in state.settings.legs:
        return Outcome(state, "lexical leg off")
    allowed, blocked = _bounds(state)
    text = lexical_text(state.query, state.grounding, state.index.kg)
    return _ranked(state, "lexical", state.index.lexical.search(
        text, state.settings.depth, allowed=allowed, blocked=blocked,
    ))


@stage("dense", after="lexical")
def dense_stage(state: SearchState) -> Outcome:
    """Nearest neighbours of the query vector (skipped when encoding was off or failed)."""
    if "dense" not in state.settings.legs:
        return Outcome(state, "dense leg off")
    if state.vectors is None:
        return Outcome(state, "no query vector (the model failed)")
    allowed, blocked = _bounds(state)
    return _ranked(state, "dense", state.index.dense.search(
        state.vectors.query, state.settings.depth, allowed=allowed, blocked=blocked,
    ))


def _bounds(state: SearchState) -> tuple[frozenset[int] | None, frozenset[int]]:
    """What the legs may return: (allowed or None for all, blocked)."""
    r = state.restriction
    return (r.leg_allowed, r.leg_blocked) if r is not None else (None, frozenset())


def _ranked(state: SearchState, leg: str, ranking: list[tuple[int, float]]) -> Outcome:
    return Outcome(replace(state, rankings={**state.rankings, leg: ranking}),
                   f"{len(ranking)} documents")


@stage("fuse", after="dense")
def fuse_stage(state: SearchState) -> Outcome:
    """Weighted reciprocal-rank fusion of the legs that ran (`rolecall.pipeline.fusion`)."""
    s = state.settings
    weights = {leg: float(s.weights.get(leg, 1.0)) for leg in state.rankings}
    fused = weighted_rrf(state.rankings, weights, rrf_k=s.rrf_k)
    return Outcome(replace(state, fused=fused),
                   f"{len(fused)} candidates from {', '.join(state.rankings) or 'no leg'}")


@stage("exclusions", after="fuse")
def exclusion_stage(state: SearchState) -> Outcome:
    """How strongly each candidate is about an excluded thing (`pipeline.evidence`)."""
    rq, index, v = state.query, state.index, state.vectors
    if not rq.exclusions:
        return Outcome(state, "no exclusion")
    dense = None
    if v is not None:
        dense = DenseView(index.dense, v.query, v.original, v.exclusions)
    entities = set(state.grounding.exclusion_entities.values())
    ev = exclusion_evidence(
        rq.exclusions, state.candidates, docs=analysed_documents(index),
        subject=rq.embed_text, dense=dense,
        entity_ids=state.grounding.exclusion_entities,
        entity_forms={e: index.kg.entities[e].surface_forms()
                      for e in entities if e in index.kg.entities},
        links=index.links, weights=state.weights,
    )
    return Outcome(replace(state, evidence=ev),
                   f"evidence against {len(ev.strength)} of {len(state.candidates)}")


@stage("policy", after="exclusions")
def policy_stage(state: SearchState) -> Outcome:
    """Penalise and suppress by the one policy (`pipeline.policy`), then re-order."""
    penalties, suppressed = decide(
        state.candidates, state.evidence, state.restriction, state.settings
    )
    fused = apply_penalties(list(state.fused), penalties, suppressed)
    demoted = sum(1 for p in penalties.values() if p > 0)
    return Outcome(
        replace(state, fused=fused, penalties=penalties, suppressed=frozenset(suppressed)),
        f"{demoted} demoted, {len(suppressed)} suppressed",
    )


#: The default stages that only rank: `explain_document` (which asks about one document,
#: whatever its rank) skips them and runs every other stage, added ones included — but for
#: the packaged reranker (`rolecall.rerank`, off by default), which only ranks too.
RANKING_STAGES = frozenset({"lexical", "dense", "fuse", "rerank", "policy"})

DEFAULT_STAGES: tuple[Stage, ...] = (
    ground_stage, restrict_stage, encode_stage, lexical_stage, dense_stage, fuse_stage,
    exclusion_stage, policy_stage,
)


def compose(extra: Sequence[Stage], base: Sequence[Stage] = DEFAULT_STAGES) -> list[Stage]:
    """`base` with each extra stage inserted after the stage its `after` names (in the
    order given when several follow the same one)."""
    out = list(base)
    for extra_stage in extra:
        if not isinstance(extra_stage, Stage):
            raise ConfigurationError(
                f"{extra_stage!r} is not a search stage: it needs `name`, `after` and "
                "`run(state) -> Outcome`"
            )
        names = [s.name for s in out]
        if extra_stage.after not in names:
            raise ConfigurationError(
                f"stage {extra_stage.name!r} runs after {extra_stage.after!r}, which is not "
                f"a stage; stages: {names}"
            )
        at = names.index(extra_stage.after) + 1
        while at < len(out) and out[at].after == extra_stage.after and out[at] not in base:
            at += 1
        out.insert(at, extra_stage)
    return out


@contextmanager
def in_stage(name: str) -> Iterator[None]:
    """Tag a `RolecallError` raised inside the block with the stage `name` (unless a deeper
    stage already did)."""
    try:
        yield
    except RolecallError as exc:
        if exc.stage is None:
            exc.stage = name
        raise


def run_stages(
    state: SearchState, stages: Sequence[Stage], timings: dict[str, float]
) -> tuple[SearchState, list[StageRecord]]:
    """Run `stages` in order; each one's time goes into `timings` under its name."""
    records: list[StageRecord] = []
    for st in stages:
        # One span per stage (a no-op without an OpenTelemetry SDK): what it changed is read
        # from the states before and after it (`rolecall.tracing.record.record_stage`).
        with stage_span(st.name) as span:
            t = time.perf_counter()
            with in_stage(st.name):
                outcome = st.run(state)
            ms = round((time.perf_counter() - t) * 1000, 3)
            record_stage(span, state, outcome.state, ms, outcome.detail)
        timings[st.name] = ms
        records.append(StageRecord(name=st.name, ms=ms, detail=outcome.detail))
        state = outcome.state
    return state, records
