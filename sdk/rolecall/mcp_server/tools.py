"""The three tools `rolecall mcp` serves, as plain functions over a `Retriever`.

Each tool has a pydantic input model (what `tools/list` publishes as its input schema and
what every call is validated against) and an output model (its output schema; the
structured content of a result).  Nothing here imports `mcp`: the server (`server.py`) only
maps MCP requests onto `run_tool`, which never raises: a bad argument, a rolecall error or a
bug each becomes an error message for the caller, and the server goes on serving.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InvalidSettingError, RolecallError
from ..explain import ConstraintCheck, SearchResult
from ..query import RoleQuery
from ..retriever import Retriever
from ..rewrite.base import Message

__all__ = [
    "MAX_TOOL_K",
    "TOOLS",
    "ExplainInput",
    "ExplainOutput",
    "RewriteInput",
    "SearchInput",
    "SearchOutput",
    "ToolHit",
    "ToolOutcome",
    "ToolSpec",
    "describe_invalid",
    "plan_summary",
    "run_tool",
]

_log = logging.getLogger("rolecall.mcp")

#: The most hits one `search` call returns: an agent reads them all, so a page, not a dump.
MAX_TOOL_K = 100


class _Input(BaseModel):
    # An unknown argument is a caller's typo ("top_k"): refused by name, never ignored.
    model_config = ConfigDict(extra="forbid")


class SearchInput(_Input):
    """Arguments of `search`."""

    query: str = Field(min_length=1, description="The user's question, as they asked it.")
    k: int = Field(default=10, ge=1, le=MAX_TOOL_K, description="How many hits to return.")
    history: list[Message] = Field(
        default_factory=list,
        description="Earlier turns of the conversation, oldest first, so a follow-up "
        "('and without the drowsy ones?') is read in context.",
    )


class ExplainInput(_Input):
    """Arguments of `explain_document`."""

    query: str = Field(min_length=1, description="The question the document was judged for.")
    doc_id: str = Field(min_length=1, description="The id of an indexed document.")


class RewriteInput(_Input):
    """Arguments of `rewrite`."""

    query: str = Field(min_length=1, description="The user's question, as they asked it.")
    history: list[Message] = Field(
        default_factory=list, description="Earlier turns of the conversation, oldest first."
    )


class ToolHit(BaseModel):
    """One hit of `search`: what an agent cites, and the one line saying why it ranked."""

    id: str
    title: str
    score: float = Field(description="0..1, after penalties.")
    why: str = Field(description="Which legs found it, which constraints it meets or breaks.")


class SearchOutput(BaseModel):
    """What `search` returns."""

    summary: str = Field(description="How the query was read and what the search did.")
    hits: list[ToolHit]
    clarification: str | None = Field(
        default=None, description="A question to ask the user when the query is too vague."
    )


class ExplainOutput(BaseModel):
    """What `explain_document` returns."""

    doc_id: str
    title: str
    why: str = Field(description="One line: the constraints the document breaks or meets.")
    checks: list[ConstraintCheck] = Field(description="Every constraint's verdict on it.")


@dataclass(frozen=True)
class ToolSpec:
    """A tool as `tools/list` describes it and `tools/call` runs it."""

    name: str
    description: str
    input_model: type[_Input]
    output_model: type[BaseModel]
    run: Callable[[Retriever, Any], Awaitable[BaseModel]]


async def search(retriever: Retriever, args: SearchInput) -> SearchOutput:
    result = await retriever.asearch(args.query, k=args.k, history=args.history)
    return SearchOutput(
        summary=plan_summary(result),
        hits=[ToolHit(id=h.id, title=h.title, score=round(h.score, 4),
                      why=h.explanation.summary()) for h in result.hits],
        clarification=result.clarification.question if result.clarification else None,
    )


async def explain_document(retriever: Retriever, args: ExplainInput) -> ExplainOutput:
    ordinal = retriever.index.ordinal(args.doc_id)
    if ordinal is None:
        # Checked here, not left to the Retriever: the caller is told which argument is wrong.
        raise InvalidSettingError("doc_id", args.doc_id, "the id of an indexed document "
                                  "(the `id` of a search hit)")
    title = retriever.index.document(ordinal).title
    # The rewrite may call an LLM and the checks read the index: off the event loop.
    checks = await asyncio.to_thread(retriever.explain_document, args.query, args.doc_id)
    return ExplainOutput(doc_id=args.doc_id, title=title, why=_verdict(checks), checks=checks)


async def rewrite(retriever: Retriever, args: RewriteInput) -> RoleQuery:
    return await retriever.arewrite(args.query, history=args.history)


TOOLS: dict[str, ToolSpec] = {t.name: t for t in (
    ToolSpec("search", "Search the index. Each hit comes with a one-line `why` (the legs that "
             "found it, the constraints it meets or breaks); `summary` says how the query was "
             "read (target type, required and excluded relations, exclusions).",
             SearchInput, SearchOutput, search),
    ToolSpec("explain_document", "Why is a document not in my results? Every constraint of "
             "the query judged on that one document (by id), returned by the search or not.",
             ExplainInput, ExplainOutput, explain_document),
    ToolSpec("rewrite", "What the query became: the role-explicit query (RoleQuery) the "
             "search runs, without searching.", RewriteInput, RoleQuery, rewrite),
)}


@dataclass(frozen=True)
class ToolOutcome:
    """A tool call's result: `output` when it ran, else `error`, a message for the caller."""

    output: BaseModel | None = None
    error: str | None = None


async def run_tool(retriever: Retriever, name: str, arguments: dict[str, Any]) -> ToolOutcome:
    """Validate `arguments` against the tool's input model and run it."""
    tool = TOOLS.get(name)
    if tool is None:
        return ToolOutcome(error=f"unknown tool {name!r}; this server has {', '.join(TOOLS)}")
    try:
        args = tool.input_model.model_validate(arguments)
    except ValidationError as exc:
        return ToolOutcome(error=describe_invalid(tool, exc))
    try:
        return ToolOutcome(output=await tool.run(retriever, args))
    except RolecallError as exc:  # the message already says what was wrong and how to fix it
        return ToolOutcome(error=str(exc))
    except Exception:
        # A bug of ours: the traceback is for the operator's log, not for the caller.
        _log.exception("tool %s failed", name)
        return ToolOutcome(error=f"{name} failed on an internal error (logged by the server); "
                                 "the server is still up: retry, or report the log")


def plan_summary(result: SearchResult) -> str:
    """One paragraph of what `rolecall search` prints above its table: the reading, the
    notes, what degraded, the count and the time."""
    rq = result.plan.query
    reading = "; ".join(
        ([f"target {rq.target_type}"] if rq.target_type else [])
        + [f"{c.polarity.value.replace('_', ' ')} {c.relation} {c.object}"
           for c in rq.relations]
        + [f"exclude {e.text!r}" for e in rq.exclusions]
    ) or "no structure (plain search)"
    parts = [f"read as: {reading} (rewriter: {rq.provenance.rewriter})"]
    parts += result.plan.notes
    parts += [f"degraded {d.stage}: {d.reason}" for d in result.degraded]
    total = result.plan.timings_ms.get("total", 0.0)
    parts.append(f"{len(result.hits)} hits in {total:.0f} ms")
    return ". ".join(parts)


def _verdict(checks: list[ConstraintCheck]) -> str:
    failed = [c.constraint for c in checks if not c.satisfied]
    held = [c.constraint for c in checks if c.satisfied]
    if not checks:
        return "the query sets no constraint: only its ranking can leave the document out"
    if failed:
        return "violates: " + "; ".join(failed) + ("; ok: " + "; ".join(held) if held else "")
    return "meets every constraint: " + "; ".join(held)


def describe_invalid(tool: ToolSpec, exc: ValidationError) -> str:
    """A validation error as one message naming each wrong argument and how to fix it."""
    fields = ", ".join(tool.input_model.model_fields)
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        if err["type"] == "missing":
            problems.append(f"{where}: required, pass it")
        elif err["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown argument (the tool takes {fields})")
        else:
            got = json.dumps(err.get("input"), default=str)[:80]
            problems.append(f"{where}: {err['msg'][:1].lower()}{err['msg'][1:]} (got {got})")
    return f"invalid arguments for {tool.name}: " + "; ".join(problems)
