"""`extract_graph`: documents in, a grounded knowledge graph out, with a report.

Per document, one request (plus one repair round-trip when the reply is not valid JSON);
the reply is cached under (document hash, model, prompt hash) before anything is made of it,
so a re-run — after a crash, a `budget` stop, or a change to the grounding rules — makes no
call for a document already answered.  Failures are not cached: the next run sends them
again.  Grounding (`ground.py`) and merging (`merge.py`) run after every reply is in.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .._checks import check_integer
from .._progress import progress_bar
from ..documents import Document, coerce_documents
from ..graph import KnowledgeGraph
from ..llm.client import LLMCallError, LLMClient, Usage, as_client, describe_failure
from ..llm.kvcache import SqliteCache, TextCache, default_cache_dir
from .ground import DocExtraction, ground
from .lexical import Proposal, propose_entities
from .merge import Fact, Merged, build_graph, merge_mentions
from .prompt import (
    Reply,
    ReplyError,
    build_messages,
    parse_reply,
    prompt_hash,
    repair_messages,
    reply_schema,
)
from .report import DocFailure, ExtractionReport
from .schema import ExtractionSchema

__all__ = ["ExtractionResult", "default_cache_path", "extract_graph", "reply_cache_key"]

#: After this many documents in a row fail on the request itself, the model is taken to be
#: unreachable (or refusing): the rest are not sent, and the report says so.
MAX_FAILED_IN_A_ROW = 3
LEXICAL_NOTE = ("no LLM: entities were proposed from the words alone (title heads, "
                "capitalised and repeated noun phrases, with counts) and no relation was "
                "extracted; give a model (--model, ROLECALL_MODEL, or the local LLM) to "
                "extract relations")


@dataclass
class ExtractionResult:
    """The graph, what each document is about, the report, and every grounded fact."""

    kg: KnowledgeGraph
    #: document id -> ids of the entities it is about (documents extracted from only)
    links: dict[str, list[str]]
    report: ExtractionReport
    facts: list[Fact] = field(default_factory=list)
    #: the lexical fallback's proposals, with counts (empty when a model extracted)
    proposals: list[Proposal] = field(default_factory=list)

    def write(self, out: str | Path, documents: Iterable[Document]) -> dict[str, Path]:
        """`kg.jsonl`, `corpus.linked.jsonl`, `facts.jsonl` and `report.json` in `out`
        (see `rolecall.extract.output`)."""
        from .output import write_extraction

        return write_extraction(self, documents, out)


def default_cache_path() -> Path:
    return default_cache_dir() / "kg_extract.sqlite"


def reply_cache_key(doc: Document, model: str, prompt: str) -> str:
    """The cache key of a document's reply: its text (title included), the model, the prompt."""
    text_hash = hashlib.sha256(f"{doc.title}\n{doc.text}".encode()).hexdigest()
    return hashlib.sha256(json.dumps([text_hash, model, prompt]).encode()).hexdigest()


def _open_cache(cache: TextCache | None | Literal[False]) -> TextCache | None:
    if cache is False:
        return None
    if cache is None:
        return SqliteCache(default_cache_path(), table="kg_extract")
    return cache


def extract_graph(
    documents: Iterable[Document | dict[str, Any]],
    *,
    model: str | LLMClient | None,
    schema: ExtractionSchema | None = None,
    cache: TextCache | None | Literal[False] = None,
    budget: int | None = None,
    progress: bool = True,
    max_tokens: int = 1024,
    timeout: float = 300.0,
    min_evidence_words: int = 2,
) -> ExtractionResult:
    """Extract a knowledge graph from `documents`.

    `model` is a litellm model string or a ready `LLMClient`; None runs the lexical fallback
    (entities only, no relations).  `schema` limits types and relations (None: the model
    names them).  `cache`: None uses the default SQLite cache under the rolecall cache dir,
    False none, or any `TextCache`.  `budget` caps the LLM requests (repairs and retries
    included); documents not sent are listed in `report.remaining`, and a re-run with the
    same cache resumes there.  `max_tokens` / `timeout` apply to each request.
    """
    docs = coerce_documents(documents)
    if budget is not None:
        check_integer("budget", budget, 0, 10**9)
    if schema is not None and schema.is_empty():
        schema = None
    if model is None:
        return _lexical(docs)
    client = as_client(model, {}, owner="extract_graph")
    run = _Run(client, schema, _open_cache(cache), budget, max_tokens, timeout)
    replies: list[tuple[Document, Reply]] = []
    bar = progress_bar("extracting", total=len(docs), enabled=progress, unit="docs")
    with client.metered() as usage, bar as advance:
        run.usage = usage
        for doc in docs:
            reply = run.reply(doc)
            if reply is not None:
                replies.append((doc, reply))
                if reply.truncated:
                    run.report.truncated.append(doc.id)
            advance(1)
    report = run.finish(len(docs))
    extractions = [ground(doc, reply, schema, min_evidence_words=min_evidence_words)
                   for doc, reply in replies]
    return _assemble(extractions, schema, report)


def _assemble(
    extractions: list[DocExtraction], schema: ExtractionSchema | None, report: ExtractionReport,
    proposals: list[Proposal] | None = None,
) -> ExtractionResult:
    merged: Merged = merge_mentions(extractions)
    kg, links, facts = build_graph(extractions, merged, schema)
    report.entities = len(kg.entities)
    report.relations = Counter(r.relation for r in kg.relations)
    report.facts = len(facts)
    report.dropped = [d for ext in extractions for d in ext.dropped]
    report.entities_dropped = [d for ext in extractions for d in ext.entities_dropped]
    report.merged_mentions = merged.merged_mentions
    report.alias_merges = merged.alias_merges
    report.ambiguous_aliases = merged.ambiguous
    return ExtractionResult(kg=kg, links=links, report=report, facts=facts,
                            proposals=proposals or [])


def _lexical(docs: list[Document]) -> ExtractionResult:
    proposals, extractions = propose_entities(docs)
    report = ExtractionReport(method="lexical", documents=len(docs), done=len(docs),
                              notes=[LEXICAL_NOTE])
    return _assemble(extractions, None, report, proposals)


class _DocFailed(Exception):
    def __init__(self, reason: str, *, call: bool) -> None:
        super().__init__(reason)
        self.call = call  # the request failed (not the reply): counts towards a stop


class _Run:
    """One extraction's requests: the cache, the budget, failures in a row."""

    def __init__(self, client: LLMClient, schema: ExtractionSchema | None,
                 cache: TextCache | None, budget: int | None, max_tokens: int,
                 timeout: float) -> None:
        self.client, self.schema, self.cache, self.budget = client, schema, cache, budget
        self.max_tokens, self.timeout = max_tokens, timeout
        self.prompt = prompt_hash(schema)
        self.json_schema = reply_schema(schema)
        self.report = ExtractionReport(method=f"llm:{client.model}", prompt_hash=self.prompt)
        self.usage = Usage()
        self.failed_in_a_row = 0
        self.unreachable: str | None = None

    def reply(self, doc: Document) -> Reply | None:
        """The document's reply: cached, asked for, or None (failed, or not sent)."""
        key = reply_cache_key(doc, self.client.model, self.prompt)
        hit = self.cache.get_text(key) if self.cache is not None else None
        if hit is not None:
            try:
                reply = Reply.model_validate_json(hit)
            except ValueError:
                reply = None  # an unreadable entry is a miss, and is overwritten
            if reply is not None:
                self.report.cached += 1
                return reply
        if self.unreachable is not None or not self._affordable():
            self.report.remaining.append(doc.id)
            return None
        try:
            reply = self._ask(doc)
        except _DocFailed as failure:
            self.report.failed.append(DocFailure(doc=doc.id, reason=str(failure)))
            self.failed_in_a_row = self.failed_in_a_row + 1 if failure.call else 0
            if self.failed_in_a_row >= MAX_FAILED_IN_A_ROW:
                self.unreachable = (f"{MAX_FAILED_IN_A_ROW} documents in a row failed on the "
                                    f"request (last: {failure}); the rest were not sent")
            return None
        self.failed_in_a_row = 0
        if self.cache is not None:
            self.cache.put_text(key, reply.model_dump_json())
        self.report.done += 1
        return reply

    def _affordable(self) -> bool:
        return self.budget is None or self.usage.calls < self.budget

    def _ask(self, doc: Document) -> Reply:
        messages = build_messages(doc, self.schema)
        content = self._call(messages)
        try:
            return parse_reply(content)
        except ReplyError as first:
            if not self._affordable():
                raise _DocFailed(f"invalid reply ({first}) and no budget left for a repair",
                                 call=False) from first
            second_content = self._call(repair_messages(messages, content, first))
            try:
                return parse_reply(second_content)
            except ReplyError as second:
                raise _DocFailed(f"invalid reply after one repair: {second}",
                                 call=False) from second

    def _call(self, messages: list[dict[str, str]]) -> str:
        try:
            return self.client.complete(messages, schema=self.json_schema,
                                        schema_name="GraphExtraction",
                                        max_tokens=self.max_tokens, timeout=self.timeout)
        except LLMCallError as exc:
            raise _DocFailed(describe_failure(exc), call=True) from exc

    def finish(self, documents: int) -> ExtractionReport:
        report = self.report
        report.documents = documents
        report.calls, report.tokens = self.usage.calls, self.usage.tokens
        if self.unreachable is not None:
            report.stopped = self.unreachable
        elif report.remaining:
            n = len(report.remaining)
            report.stopped = (f"the budget of {self.budget} LLM calls is spent: {n} "
                              f"{'document was' if n == 1 else 'documents were'} not sent "
                              "(a re-run with the same cache resumes with them)")
        return report
