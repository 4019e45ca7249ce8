"""The rewriter protocol and the catalog a rewriter may draw values from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from ..graph import KnowledgeGraph
from ..query import RoleQuery

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
    """Turns a user query (and optional chat history) into a RoleQuery."""

    name: str

    def rewrite(
        self, text: str, *, history: Sequence[Message] = (), catalog: Catalog
    ) -> RoleQuery: ...
