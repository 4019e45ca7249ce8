"""rolecall as a LlamaIndex retriever.

    from rolecall_llamaindex import RolecallRetriever
    retriever = RolecallRetriever(Retriever.open("idx"), k=5)
    nodes = retriever.retrieve("allergy tablets that won't make me sleepy")
    engine = RetrieverQueryEngine.from_args(retriever)   # inside LlamaIndex's plumbing

`searcher` is a `rolecall.Retriever` or a `rolecall.Agent`.  Each `NodeWithScore` carries
rolecall's bounded score, and its node's metadata the `id`, `title` and `explanation`.  Chat
history for follow-ups is set with `history=` (constructor) or `retriever.history = [...]`.
Install with `pip install "rolecall[llamaindex]"`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rolecall import Message, SearchResult
from rolecall.errors import MissingDependencyError

try:
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("llama-index-core", "llamaindex") from exc

__all__ = ["RolecallRetriever", "to_nodes"]


class RolecallRetriever(BaseRetriever):
    """A LlamaIndex `BaseRetriever` (sync and async) over a rolecall Retriever or Agent."""

    def __init__(
        self,
        searcher: Any,
        *,
        k: int = 10,
        history: Sequence[Message | dict[str, str]] = (),
        search_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.searcher = searcher
        self.k = k
        self.history = list(history)
        self.search_kwargs = dict(search_kwargs or {})
        self.last_result: SearchResult | None = None

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = self.searcher.search(
            query_bundle.query_str, k=self.k, history=self.history, **self.search_kwargs
        )
        self.last_result = result
        return to_nodes(result)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = await self.searcher.asearch(
            query_bundle.query_str, k=self.k, history=self.history, **self.search_kwargs
        )
        self.last_result = result
        return to_nodes(result)


def to_nodes(result: SearchResult) -> list[NodeWithScore]:
    """Hits as NodeWithScore: text in the node, explanation in its metadata (kept out of
    the text the LLM and the embedder see)."""
    out = []
    for hit in result.hits:
        node = TextNode(
            id_=hit.id,
            text=hit.text,
            metadata={**hit.metadata, "id": hit.id, "title": hit.title,
                      "explanation": hit.explanation.model_dump(mode="json"),
                      "why": hit.explanation.summary()},
            excluded_llm_metadata_keys=["explanation", "why"],
            excluded_embed_metadata_keys=["explanation", "why"],
        )
        out.append(NodeWithScore(node=node, score=hit.score))
    return out
