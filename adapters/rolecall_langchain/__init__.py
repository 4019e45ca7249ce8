"""rolecall as a LangChain retriever.

    from rolecall_langchain import RolecallRetriever
    retriever = RolecallRetriever(searcher=Retriever.open("idx"), k=5)
    docs = retriever.invoke("allergy tablets that won't make me sleepy")
    docs = retriever.invoke("and without the drowsy ones?", history=chat_messages)

`searcher` is a `rolecall.Retriever` or a `rolecall.Agent`.  Each returned `Document` carries
rolecall's `id`, `score` and `explanation` (why it ranked where it did) in its metadata; the
plan of the last search is kept on `last_result` for logging.  Chat history may be LangChain
messages or `{"role", "content"}` dicts.  Install with `pip install "rolecall[langchain]"`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from rolecall import Message, SearchResult
from rolecall.errors import MissingDependencyError

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForRetrieverRun,
    )
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("langchain-core", "langchain") from exc

__all__ = ["RolecallRetriever", "to_documents"]

_ROLES = {"human": "user", "user": "user", "ai": "assistant", "assistant": "assistant",
          "system": "system"}


class RolecallRetriever(BaseRetriever):
    """A LangChain `BaseRetriever` (sync and async) over a rolecall Retriever or Agent."""

    searcher: Any
    k: int = 10
    search_kwargs: dict[str, Any] = {}
    last_result: SearchResult | None = None

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        history: Sequence[Any] = (),
        **kwargs: Any,
    ) -> list[Document]:
        result = self.searcher.search(
            query, k=kwargs.pop("k", self.k), history=_history(history),
            **{**self.search_kwargs, **kwargs},
        )
        self.last_result = result
        return to_documents(result)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        history: Sequence[Any] = (),
        **kwargs: Any,
    ) -> list[Document]:
        asearch = getattr(self.searcher, "asearch", None)
        args = {"k": kwargs.pop("k", self.k), "history": _history(history),
                **self.search_kwargs, **kwargs}
        if asearch is not None:
            result = await asearch(query, **args)
        else:  # pragma: no cover - every rolecall searcher has asearch
            result = await asyncio.to_thread(self.searcher.search, query, **args)
        self.last_result = result
        return to_documents(result)


def to_documents(result: SearchResult) -> list[Document]:
    """Hits as LangChain Documents: text as page_content; id, score, title, explanation
    (JSON-ready) and the document's own metadata in metadata."""
    return [
        Document(
            id=hit.id,
            page_content=hit.text,
            metadata={
                **hit.metadata,
                "id": hit.id,
                "title": hit.title,
                "score": hit.score,
                "explanation": hit.explanation.model_dump(mode="json"),
                "why": hit.explanation.summary(),
            },
        )
        for hit in result.hits
    ]


def _history(history: Sequence[Any]) -> list[Message]:
    out: list[Message] = []
    for m in history:
        if isinstance(m, Message):
            out.append(m)
        elif isinstance(m, dict):
            out.append(Message.model_validate(m))
        else:  # a LangChain BaseMessage
            role = _ROLES.get(getattr(m, "type", ""), "user")
            out.append(Message.model_validate({"role": role, "content": str(m.content)}))
    return out
