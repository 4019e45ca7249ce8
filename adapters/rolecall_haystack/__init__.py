"""rolecall as a Haystack retriever component.

    from rolecall_haystack import RolecallRetriever
    pipe = Pipeline()
    pipe.add_component("retriever", RolecallRetriever(index="idx", top_k=5))
    pipe.add_component("prompt", PromptBuilder(template, required_variables=["documents"]))
    pipe.connect("retriever.documents", "prompt.documents")
    pipe.run({"retriever": {"query": "allergy tablets that won't make me sleepy"}})
    pipe.run({"retriever": {"query": "and without the drowsy ones?", "history": messages}})

The component searches a `rolecall.Retriever` or `rolecall.Agent` (`searcher=`), or opens
the index at `index=` itself (in `warm_up`, which a Pipeline calls before running).  `run`
and `run_async` take the query, an optional `top_k` and an optional chat `history` (Haystack
`ChatMessage`s or `{"role", "content"}` dicts) and return `{"documents": [...]}`: Haystack
`Document`s whose `score` is rolecall's bounded score and whose `meta` holds the `id`,
`title`, `score`, `explanation` (JSON-ready) and `why` (its one-line summary) beside the
document's own metadata.  The plan of the last search is kept on `last_result` for logging.

A pipeline holding the component serialises (`to_dict`, `Pipeline.dumps`) when the component
was built with `index=`; a ready searcher cannot be written to a file and `to_dict` raises
`NotSerializableError` saying so.  Haystack loads only allow-listed modules:
`Pipeline.loads(text, allowed_modules=["rolecall_haystack"])`.
Install with `pip install "rolecall[haystack]"`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rolecall import Agent, Message, Retriever, SearchResult
from rolecall.errors import ConfigurationError, InvalidSettingError, MissingDependencyError

try:
    from haystack import Document, component, default_from_dict, default_to_dict
    from haystack.core.errors import SerializationError
    from haystack.dataclasses import ChatMessage, ChatRole
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("haystack-ai", "haystack") from exc

__all__ = ["HistoryItem", "NotSerializableError", "RolecallRetriever", "to_documents"]

#: What `run(history=...)` accepts: Haystack chat messages, rolecall Messages, or dicts
#: (annotate a history you build as `list[HistoryItem]`: Haystack connects lists, not
#: Sequences, and a list is invariant to mypy).
HistoryItem = ChatMessage | Message | dict[str, str]


class NotSerializableError(ConfigurationError, SerializationError):
    """The component was given a ready searcher, which a pipeline file cannot hold.  Both a
    rolecall `ConfigurationError` and Haystack's `SerializationError`, so either handler
    catches it."""


@component
class RolecallRetriever:
    """A Haystack retriever component (sync and async) over a rolecall Retriever or Agent.

    Give exactly one of `searcher` (a ready `Retriever` or `Agent`) or `index` (the path of
    an index directory, opened with `Retriever.open`: the only form that serialises).
    `top_k` is the default number of documents, `search_kwargs` the settings passed to every
    search (`exclusion_mode="hard"`, … see `SearchSettings`).
    """

    def __init__(
        self,
        searcher: Retriever | Agent | None = None,
        *,
        index: str | Path | None = None,
        top_k: int = 10,
        search_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if (searcher is None) == (index is None):
            raise ConfigurationError(
                "RolecallRetriever needs exactly one of searcher= (a rolecall Retriever or "
                "Agent) or index= (the path of an index directory); got "
                + ("both" if searcher is not None else "neither")
            )
        self.index = None if index is None else str(index)
        self.top_k = _checked_top_k(top_k)
        self.search_kwargs = dict(search_kwargs or {})
        self.last_result: SearchResult | None = None
        self._searcher = searcher
        # Only a searcher this component opened is closed by it: a given one is the caller's.
        self._owns_searcher = searcher is None

    # -- lifecycle (Pipeline.warm_up / Pipeline.close call these) --------------------------------

    def warm_up(self) -> None:
        """Open the index given as `index=` (once; a Pipeline calls this before each run)."""
        if self._searcher is None and self.index is not None:
            self._searcher = Retriever.open(self.index)

    def close(self) -> None:
        """Close the index this component opened; a searcher passed in is left open."""
        if self._owns_searcher and isinstance(self._searcher, Retriever):
            self._searcher.close()
            self._searcher = None

    @property
    def searcher(self) -> Retriever | Agent:
        """The rolecall searcher (opening the index first when it was given as a path)."""
        self.warm_up()
        assert self._searcher is not None  # one of searcher/index is set by __init__
        return self._searcher

    # -- serialisation -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The component as a pipeline file holds it: the index path and the settings."""
        if self.index is None:
            raise NotSerializableError(
                "RolecallRetriever(searcher=...) cannot be serialised: a live Retriever or "
                "Agent is not data. Build the component with RolecallRetriever(index="
                "\"path/to/index\", top_k=..., search_kwargs={...}) to save the pipeline"
            )
        return default_to_dict(
            self, index=self.index, top_k=self.top_k, search_kwargs=self.search_kwargs
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolecallRetriever:
        """The component `to_dict` wrote (the index is opened at `warm_up`)."""
        return default_from_dict(cls, data)

    # -- search ------------------------------------------------------------------------------------

    @component.output_types(documents=list[Document])
    def run(
        self,
        query: str,
        top_k: int | None = None,
        history: list[HistoryItem] | None = None,
    ) -> dict[str, list[Document]]:
        """Search: `top_k` overrides the constructor's for this call; `history` is the chat
        so far, for the rewriter to resolve a follow-up against."""
        result = self.searcher.search(query, **self._search_args(top_k, history))
        self.last_result = result
        return {"documents": to_documents(result)}

    @component.output_types(documents=list[Document])
    async def run_async(
        self,
        query: str,
        top_k: int | None = None,
        history: list[HistoryItem] | None = None,
    ) -> dict[str, list[Document]]:
        """`run` for `Pipeline.run_async`: the searcher's `asearch` awaits the LLM rewrite on
        the event loop and runs retrieval in a worker thread."""
        result = await self.searcher.asearch(query, **self._search_args(top_k, history))
        self.last_result = result
        return {"documents": to_documents(result)}

    def _search_args(
        self, top_k: int | None, history: Sequence[HistoryItem] | None
    ) -> dict[str, Any]:
        k = self.top_k if top_k is None else _checked_top_k(top_k)
        return {**self.search_kwargs, "k": k, "history": _history(history or ())}


def to_documents(result: SearchResult) -> list[Document]:
    """Hits as Haystack Documents: text as content, rolecall's score as score; id, title,
    score, explanation (JSON-ready), why and the document's own metadata in meta."""
    return [
        Document(
            id=hit.id,
            content=hit.text,
            score=hit.score,
            meta={
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


def _checked_top_k(top_k: object) -> int:
    # bool is an int; `top_k=True` is a mistake, not 1.
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise InvalidSettingError("top_k", top_k, "an int >= 1 (documents to return)")
    return top_k


def _history(history: Sequence[HistoryItem]) -> list[Message | dict[str, str]]:
    """ChatMessages as rolecall Messages; dicts and Messages are left to the searcher, which
    validates them with an error naming the bad item."""
    out: list[Message | dict[str, str]] = []
    for m in history:
        if not isinstance(m, ChatMessage):
            out.append(m)
        # Tool calls and tool results are no chat turn a rewriter can resolve a follow-up
        # against (and rolecall's Message has no tool role): they are left out.
        elif m.role is not ChatRole.TOOL and m.text is not None:
            out.append(Message(role=m.role.value, content=m.text))
    return out
