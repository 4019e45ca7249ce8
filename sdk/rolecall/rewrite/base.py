"""The rewriter protocol and the catalog a rewriter may draw values from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from ..graph import KnowledgeGraph
from ..query import RoleQuery

if TYPE_CHECKING:
    from ..llm.client import LLMClient

__all__ = ["Catalog", "Message", "Rewriter"]


class Message(BaseModel):
    """One chat turn given as history."""

    role: Literal["user", "assistant", "system"]
    content: str


@dataclass
class Catalog:
    """The vocabulary a RoleQuery's values should come from: the index's graph and fields."""

    kg: KnowledgeGraph = field(default_factory=KnowledgeGraph)
    metadata_fields: Sequence[str] = ()

    @property
    def types(self) -> list[str]:
        return self.kg.types()

    @property
    def relations(self) -> list[str]:
        return self.kg.relation_names()


@runtime_checkable
class Rewriter(Protocol):
    """Turns a user query (and optional chat history) into a RoleQuery.

    Callers (the retriever, the agent) use all four members without probing for them.  A
    class that subclasses `Rewriter` explicitly inherits the defaults of `client` (None) and
    `arewrite` (runs `rewrite`), which fit a rewriter that calls no LLM; one that calls an
    LLM names its client and awaits it in `arewrite`.
    """

    name: str

    @property
    def client(self) -> LLMClient | None:
        """The LLM client the rewrite calls, None when it calls none.  The agent checks its
        budget before a rewrite that calls one, and charges what `client.metered()` counts."""
        return None

    def rewrite(
        self, text: str, *, history: Sequence[Message] = (), catalog: Catalog
    ) -> RoleQuery: ...

    async def arewrite(
        self, text: str, *, history: Sequence[Message] = (), catalog: Catalog
    ) -> RoleQuery:
        """`rewrite` for async callers.  The default runs `rewrite` on the event loop, which
        is right for a CPU-only, fast rewriter (rules); a rewriter that waits on a network
        must await it here instead of blocking the loop."""
        return self.rewrite(text, history=history, catalog=catalog)
