"""`ExtractionReport`: what an extraction did, document by document and in total.

A model that invents a fact is the failure that matters most in a graph built by one, so
every triple that was not kept is listed with its reason, and the summary leads with how
many were dropped because their evidence is not in the document.
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field

__all__ = [
    "DROP_REASONS", "DocFailure", "DroppedEntity", "DroppedTriple", "ExtractionReport",
]

#: Why a triple is dropped (`DroppedTriple.reason`), in the order the checks run.
DROP_REASONS = (
    "relation not in schema", "no evidence", "evidence not in text", "object not in evidence",
    "negated in evidence", "subject not in text", "object not in text", "end is not a name",
    "subject and object are one entity", "subject type", "object type",
)


class DroppedTriple(BaseModel):
    """A triple the model proposed that is not in the graph."""

    doc: str
    subject: str
    relation: str
    object: str
    evidence: str = ""
    #: one of `DROP_REASONS`
    reason: str
    detail: str = ""


class DroppedEntity(BaseModel):
    """An entity the model proposed that is not in the graph."""

    doc: str
    name: str
    reason: str


class DocFailure(BaseModel):
    """A document the model could not extract from (a failed call or an unreadable reply);
    it is not cached, so the next run sends it again."""

    doc: str
    reason: str


class ExtractionReport(BaseModel):
    """Counts and reasons; `summary()` is for a terminal, the model dumps as JSON."""

    #: `llm:<model>` or `lexical` (no LLM: entities proposed, no relations)
    method: str
    prompt_hash: str = ""
    documents: int = 0
    #: documents extracted by a call in this run
    done: int = 0
    #: documents whose reply came from the cache (no call)
    cached: int = 0
    failed: list[DocFailure] = Field(default_factory=list)
    #: documents whose reply was cut at the token limit (its complete items were kept)
    truncated: list[str] = Field(default_factory=list)
    #: documents not sent: the budget was spent, or the run stopped (see `stopped`)
    remaining: list[str] = Field(default_factory=list)
    stopped: str | None = None
    entities: int = 0
    #: edges in the graph by relation name (one per distinct subject, relation, object)
    relations: Counter[str] = Field(default_factory=Counter)
    #: grounded triples over all documents, a fact stated by two documents counted twice
    facts: int = 0
    dropped: list[DroppedTriple] = Field(default_factory=list)
    entities_dropped: list[DroppedEntity] = Field(default_factory=list)
    #: entity mentions folded into an entity that another document named first
    merged_mentions: int = 0
    #: `alias → entity id`: entities joined because one's name is the other's alias
    alias_merges: list[str] = Field(default_factory=list)
    #: aliases claimed by several entities, so used to join none
    ambiguous_aliases: list[str] = Field(default_factory=list)
    calls: int = 0
    tokens: int = 0
    notes: list[str] = Field(default_factory=list)

    def dropped_by_reason(self) -> Counter[str]:
        return Counter(d.reason for d in self.dropped)

    @property
    def dropped_for_evidence(self) -> int:
        """Triples dropped because their evidence is missing or not a quotation of the text."""
        by = self.dropped_by_reason()
        return by["evidence not in text"] + by["no evidence"]

    def summary(self) -> str:
        lines = [self._head(), self._graph()]
        if self.dropped:
            by = ", ".join(f"{r} {n}" for r, n in self.dropped_by_reason().most_common())
            lines.append(f"  triples dropped: {len(self.dropped)} ({by}); "
                         f"{self.dropped_for_evidence} for evidence not in the document")
        if self.entities_dropped:
            lines.append(f"  entities dropped: {len(self.entities_dropped)}")
        if self.merged_mentions or self.alias_merges:
            shown = ", ".join(self.alias_merges[:5]) + (", …" if len(self.alias_merges) > 5
                                                         else "")
            lines.append(f"  merges: {self.merged_mentions} mentions folded into entities "
                         f"named in other documents; {len(self.alias_merges)} by alias"
                         + (f" ({shown})" if shown else ""))
        if self.method != "lexical":
            lines.append(f"  LLM calls {self.calls}, tokens {self.tokens}")
        if self.truncated:
            lines.append(f"  replies cut at the token limit: {len(self.truncated)} "
                         f"({', '.join(self.truncated[:5])}); their complete items were kept")
        lines += [f"  failed {f.doc}: {f.reason}" for f in self.failed[:10]]
        if self.stopped:
            lines.append(f"  stopped: {self.stopped}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _head(self) -> str:
        return (f"extracted from {self.documents} documents with {self.method}: "
                f"{self.done} done, {self.cached} cached, {len(self.failed)} failed, "
                f"{len(self.remaining)} remaining")

    def _graph(self) -> str:
        rels = ", ".join(f"{r} {n}" for r, n in self.relations.most_common())
        total = sum(self.relations.values())
        return (f"  {self.entities} entities, {total} relations"
                + (f" ({rels})" if rels else "") + f" from {self.facts} grounded triples")
