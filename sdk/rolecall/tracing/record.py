"""What each piece of rolecall records on its span: a search, its rewrite and stages, an LLM
call, an agent run.  Every `record_*` returns at once on a span that is not recording, so
nothing here costs anything without an SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from ._core import (
    DOCUMENT_CONTENT,
    DOCUMENT_ID,
    DOCUMENT_SCORE,
    INPUT_MIME_TYPE,
    INPUT_VALUE,
    KIND_AGENT,
    KIND_CHAIN,
    KIND_LLM,
    KIND_RETRIEVER,
    LLM_INPUT_MESSAGES,
    LLM_INVOCATION_PARAMETERS,
    LLM_MODEL_NAME,
    LLM_OUTPUT_MESSAGES,
    LLM_TOKEN_COUNT_COMPLETION,
    LLM_TOKEN_COUNT_PROMPT,
    LLM_TOKEN_COUNT_TOTAL,
    MESSAGE_CONTENT,
    MESSAGE_ROLE,
    MIME_JSON,
    MIME_TEXT,
    OUTPUT_MIME_TYPE,
    OUTPUT_VALUE,
    RETRIEVAL_DOCUMENTS,
    mask,
    record_content,
    span,
)

if TYPE_CHECKING:
    from ..explain import AgentStep, GroundedValue, Hit, SearchResult
    from ..pipeline.state import SearchState
    from ..query import RoleQuery
    from ..rewrite.base import Message

__all__ = ["agent_span", "agent_step", "llm_span", "record_agent", "record_llm_reply",
           "record_rewrite", "record_search", "record_stage", "rewrite_span", "search_span",
           "stage_span"]

#: At most this many ids in one list attribute (a count beside it says how many there were).
MAX_IDS = 100
#: The LLM request keywords a span may show: never the key, the base URL or extra params,
#: which can carry headers.
_SAFE_PARAMS = ("temperature", "max_tokens", "seed", "timeout")


def _text_input(text: str) -> dict[str, AttributeValue]:
    return {INPUT_VALUE: text, INPUT_MIME_TYPE: MIME_TEXT}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


# -- search -------------------------------------------------------------------------------------


def search_span(query: object) -> AbstractContextManager[Span]:
    """The root of one search; `query` is the user's text or a RoleQuery."""
    text = query if isinstance(query, str) else str(getattr(query, "text", ""))
    return span("rolecall.search", KIND_RETRIEVER, _text_input(text))


def record_search(current: Span, rq: RoleQuery, result: SearchResult) -> None:
    if not current.is_recording():
        return
    p = result.plan
    attrs: dict[str, AttributeValue] = {
        "rolecall.rewrite": rq.model_dump_json(exclude_defaults=True),
        "rolecall.rewrite.by": rq.provenance.rewriter,
        "rolecall.legs": list(p.legs),
        "rolecall.candidates": p.candidates,
        "rolecall.blocked": p.blocked,
        "rolecall.hits": len(result.hits),
        **_documents(result.hits),
    }
    if p.allowed is not None:
        attrs["rolecall.allowed"] = p.allowed
    for stage in p.stages:
        if stage.name in p.legs:
            attrs[f"rolecall.leg.{stage.name}.ms"] = stage.ms
    if result.degraded:
        attrs["rolecall.degraded"] = [f"{d.stage}: {d.reason}" for d in result.degraded]
    current.set_attributes(attrs)


def _documents(found: Sequence[Hit]) -> dict[str, AttributeValue]:
    content = record_content()
    out: dict[str, AttributeValue] = {}
    for i, hit in enumerate(found):
        prefix = f"{RETRIEVAL_DOCUMENTS}.{i}."
        out[prefix + DOCUMENT_ID] = hit.id
        out[prefix + DOCUMENT_SCORE] = hit.score
        if content:
            out[prefix + DOCUMENT_CONTENT] = hit.text
    return out


@contextmanager
def rewrite_span(text: str, rewriter: str, history: Sequence[Message]) -> Iterator[Span]:
    """The rewrite: the history's length always, its messages only with content on."""
    with span("rolecall.rewrite", KIND_CHAIN, _text_input(text)) as current:
        if current.is_recording():
            current.set_attributes({"rolecall.rewriter": rewriter,
                                    "rolecall.history.length": len(history)})
            if history and record_content():
                current.set_attribute(
                    "rolecall.history", _json([m.model_dump() for m in history]))
        yield current


def record_rewrite(current: Span, rq: RoleQuery) -> None:
    if not current.is_recording():
        return
    attrs: dict[str, AttributeValue] = {
        OUTPUT_VALUE: rq.model_dump_json(exclude_defaults=True), OUTPUT_MIME_TYPE: MIME_JSON,
        "rolecall.rewrite.by": rq.provenance.rewriter,
    }
    if rq.provenance.degraded:
        attrs["rolecall.degraded"] = list(rq.provenance.degraded)
    current.set_attributes(attrs)


# -- stages -------------------------------------------------------------------------------------


def stage_span(name: str) -> AbstractContextManager[Span]:
    return span(f"rolecall.stage.{name}", KIND_CHAIN, {"rolecall.stage": name})


def record_stage(
    current: Span, before: SearchState, after: SearchState, ms: float, detail: str
) -> None:
    """What the stage changed, read from the states before and after it — so an added
    stage (a reranker, an aboutness scorer) is described like the default ones."""
    if not current.is_recording():
        return
    attrs: dict[str, AttributeValue] = {"rolecall.stage.ms": ms, "rolecall.stage.detail": detail}
    if after.grounding is not before.grounding:
        attrs.update(_grounding(after.grounding.values))
    r = after.restriction
    if r is not None and r is not before.restriction:
        attrs["rolecall.restrict.blocked"] = len(r.blocked)
        attrs["rolecall.restrict.constraints"] = list(r.constraints)
        if r.allowed is not None:
            attrs["rolecall.restrict.allowed"] = len(r.allowed)
    for leg, ranking in after.rankings.items():
        if ranking is not before.rankings.get(leg):
            attrs[f"rolecall.leg.{leg}.candidates"] = len(ranking)
            attrs[f"rolecall.leg.{leg}.ms"] = ms
    if after.fused is not before.fused:
        attrs["rolecall.candidates"] = len(after.fused)
    if after.evidence is not before.evidence:
        attrs["rolecall.exclusions.evidence"] = len(after.evidence.strength)
    decided = after.penalties is not before.penalties  # the policy ran (or a stage like it)
    if decided or after.suppressed != before.suppressed:
        attrs.update(_ids(after, "rolecall.suppressed", sorted(after.suppressed)))
    if decided:
        demoted = sorted(o for o, p in after.penalties.items() if p > 0)
        attrs.update(_ids(after, "rolecall.demoted", demoted))
    new = after.degraded[len(before.degraded):]
    if new:
        attrs["rolecall.degraded"] = [f"{d.stage}: {d.reason}" for d in new]
    current.set_attributes(attrs)


def _grounding(values: Sequence[GroundedValue]) -> dict[str, AttributeValue]:
    links, unresolved = [], []
    for gv in values:
        if not gv.resolved:
            unresolved.append(f"{gv.slot}: {gv.value}")
            continue
        target = gv.mapped_to if gv.method == "mapped" else (gv.entity_id or gv.value)
        links.append(f"{gv.slot}: {gv.value} -> {target} ({gv.method} {gv.confidence:.2f}, "
                     f"{gv.enforcement})")
    return {"rolecall.grounding.links": links, "rolecall.grounding.unresolved": unresolved,
            "rolecall.grounding.linked": len(links)}


def _ids(state: SearchState, key: str, ordinals: Sequence[int]) -> dict[str, AttributeValue]:
    # Document ids cost a read each (a query on PostgreSQL): only the first MAX_IDS.
    ids = [state.index.document(o).id for o in ordinals[:MAX_IDS]]
    return {f"{key}.ids": ids, f"{key}.count": len(ordinals)}


# -- LLM calls ----------------------------------------------------------------------------------


@contextmanager
def llm_span(model: str, params: dict[str, Any], secrets: tuple[str | None, ...]) -> Iterator[Span]:
    """One `LLMClient` request (its retries included).  From `params` only the keywords in
    `_SAFE_PARAMS` and the response format's type are kept; the messages only with content
    on."""
    with span("rolecall.llm", KIND_LLM, secrets=secrets) as current:
        if current.is_recording():
            current.set_attributes(_llm_request(model, params, secrets))
        yield current


def _llm_request(
    model: str, params: dict[str, Any], secrets: tuple[str | None, ...]
) -> dict[str, AttributeValue]:
    shown = {k: params[k] for k in _SAFE_PARAMS if k in params}
    rf = params.get("response_format")
    if isinstance(rf, dict) and "type" in rf:
        shown["response_format"] = {"type": rf["type"]}
    attrs: dict[str, AttributeValue] = {
        LLM_MODEL_NAME: model, LLM_INVOCATION_PARAMETERS: _json(shown),
    }
    if record_content():
        for i, m in enumerate(params.get("messages", ())):
            prefix = f"{LLM_INPUT_MESSAGES}.{i}."
            attrs[prefix + MESSAGE_ROLE] = str(m.get("role", ""))
            attrs[prefix + MESSAGE_CONTENT] = mask(str(m.get("content", "")), secrets)
    return attrs


def record_llm_reply(current: Span, resp: Any, content: str, attempts: int) -> None:
    """Token counts as the provider reported them, and the reply with content on."""
    if not current.is_recording():
        return
    attrs: dict[str, AttributeValue] = {"rolecall.llm.attempts": attempts}
    usage = getattr(resp, "usage", None)
    for key, name in ((LLM_TOKEN_COUNT_PROMPT, "prompt_tokens"),
                      (LLM_TOKEN_COUNT_COMPLETION, "completion_tokens"),
                      (LLM_TOKEN_COUNT_TOTAL, "total_tokens")):
        value = getattr(usage, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            attrs[key] = value
    if record_content():
        prefix = f"{LLM_OUTPUT_MESSAGES}.0."
        attrs[prefix + MESSAGE_ROLE] = "assistant"
        attrs[prefix + MESSAGE_CONTENT] = content
    current.set_attributes(attrs)


# -- the agent ----------------------------------------------------------------------------------


def agent_span(query: object) -> AbstractContextManager[Span]:
    text = query if isinstance(query, str) else str(getattr(query, "text", ""))
    return span("rolecall.agent", KIND_AGENT, _text_input(text))


@contextmanager
def agent_step(kind: str, steps: list[AgentStep]) -> Iterator[Span]:
    """One step of the loop; on the way out it carries what the step reported in the plan."""
    with span(f"rolecall.agent.{kind}", KIND_CHAIN) as current:
        first = len(steps)
        yield current
        if current.is_recording() and len(steps) > first:
            done = steps[first:]
            current.set_attributes({
                "rolecall.step.detail": "; ".join(s.detail for s in done),
                "rolecall.step.llm_calls": sum(s.llm_calls for s in done),
            })


def record_agent(current: Span, result: SearchResult) -> None:
    if not current.is_recording():
        return
    p = result.plan
    attrs: dict[str, AttributeValue] = {
        "rolecall.rewrite": p.query.model_dump_json(exclude_defaults=True),
        "rolecall.steps": [s.kind for s in p.steps],
        "rolecall.hits": len(result.hits),
        **_documents(result.hits),
    }
    if p.spent is not None:
        attrs.update({"rolecall.spent.llm_calls": p.spent.llm_calls,
                      "rolecall.spent.tokens": p.spent.tokens,
                      "rolecall.spent.seconds": p.spent.seconds,
                      "rolecall.spent.exhausted": list(p.spent.exhausted)})
    if result.clarification is not None:
        attrs["rolecall.clarification"] = result.clarification.reason
    if result.degraded:
        attrs["rolecall.degraded"] = [f"{d.stage}: {d.reason}" for d in result.degraded]
    current.set_attributes(attrs)
