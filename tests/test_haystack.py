"""The Haystack component against the real package, inside Haystack's own plumbing: a
`Pipeline` (sync `run` and `run_async`) with a prompt builder after the retriever, the
component's own `run` / `run_async`, and a pipeline file written and loaded back.  The rule
rewriter searches (no LLM); the history test replays the LLM rewriter from the cassette
the LangChain adapter's history test uses."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from rolecall import Agent, ConfigurationError, InvalidSettingError, LLMRewriter, Message, Retriever
from rolecall.testing import recorded_llm

from .conftest import CASSETTES, LOCAL_MODEL

pytest.importorskip("haystack", reason="extra: rolecall[haystack]")

from haystack import Document, Pipeline  # noqa: E402
from haystack.components.builders import ChatPromptBuilder, PromptBuilder  # noqa: E402
from haystack.core.errors import DeserializationError, SerializationError  # noqa: E402
from haystack.dataclasses import ChatMessage, ToolCall  # noqa: E402
from rolecall_haystack import NotSerializableError, RolecallRetriever  # noqa: E402

QUERY = "allergy medicine that doesn't make you drowsy"
TEMPLATE = ("{% for d in documents %}[{{ d.id }}] {{ d.meta.title }} ({{ d.meta.why }})\n"
            "{% endfor %}Question: {{ query }}")


def rag_pipeline(retriever: RolecallRetriever) -> Pipeline:
    """The retrieval half of a RAG pipeline: rolecall, then the prompt an LLM would read."""
    pipe = Pipeline()
    pipe.add_component("retriever", retriever)
    pipe.add_component("prompt", PromptBuilder(TEMPLATE, required_variables=["documents",
                                                                            "query"]))
    pipe.connect("retriever.documents", "prompt.documents")
    return pipe


def inputs(query: str, **retriever: Any) -> dict[str, dict[str, Any]]:
    return {"retriever": {"query": query, **retriever}, "prompt": {"query": query}}


def test_pipeline_prompt_carries_the_top_document(tiny: Retriever) -> None:
    retriever = RolecallRetriever(tiny, top_k=3)
    pipe = rag_pipeline(retriever)
    out = pipe.run(inputs(QUERY), include_outputs_from={"retriever"})
    direct = tiny.search(QUERY, k=3)
    docs: list[Document] = out["retriever"]["documents"]
    assert [d.id for d in docs] == direct.ids and direct.ids[0] == "d"  # Clearhist
    prompt: str = out["prompt"]["prompt"]
    assert prompt.startswith("[d] Clearhist (lexical#1, dense#1 | ok: type drug; must not "
                             "causes drowsiness; must treats allergy)\n")
    assert "[c] Sleepyhist" not in prompt  # the drowsy antihistamine is not a source
    assert retriever.last_result is not None and retriever.last_result.plan.query.relations


def test_documents_carry_score_and_explanation(tiny: Retriever) -> None:
    docs = RolecallRetriever(tiny, top_k=3).run(QUERY)["documents"]
    direct = tiny.search(QUERY, k=3)
    for doc, hit in zip(docs, direct.hits, strict=True):
        assert doc.content == hit.text and doc.score == hit.score == doc.meta["score"]
        assert 0 <= doc.meta["score"] <= 1 and doc.meta["title"] == hit.title
        assert doc.meta["explanation"] == hit.explanation.model_dump(mode="json")
        assert doc.meta["why"] == hit.explanation.summary()
    assert docs[0].meta["explanation"]["legs"] and docs[0].meta["otc"] is True  # its own


def test_async_pipeline_and_run_async(tiny: Retriever, monkeypatch: pytest.MonkeyPatch) -> None:
    """`Pipeline.run_async` awaits the component's `run_async`, which awaits `asearch`: the
    sync `search` is never called on the way."""
    direct = tiny.search(QUERY, k=2)

    def no_sync_search(*args: object, **kwargs: object) -> None:
        raise AssertionError("the async path called the sync search")

    monkeypatch.setattr(tiny, "search", no_sync_search)
    retriever = RolecallRetriever(tiny, top_k=2)
    pipe = Pipeline()
    pipe.add_component("retriever", retriever)
    pipe.add_component("prompt", ChatPromptBuilder(
        [ChatMessage.from_system("Sources:\n" + TEMPLATE.split("Question")[0]),
         ChatMessage.from_user("{{ query }}")], required_variables=["documents", "query"]))
    pipe.connect("retriever.documents", "prompt.documents")
    out = asyncio.run(pipe.run_async(inputs(QUERY)))
    system, user = out["prompt"]["prompt"]
    assert system.text.startswith("Sources:\n[d] Clearhist (") and user.text == QUERY
    docs = asyncio.run(retriever.run_async(QUERY, top_k=1))["documents"]
    assert [d.id for d in docs] == direct.ids[:1]


def test_top_k_default_and_override(tiny: Retriever) -> None:
    retriever = RolecallRetriever(tiny, top_k=2)
    assert len(retriever.run(QUERY)["documents"]) == 2
    out = rag_pipeline(retriever).run(inputs(QUERY, top_k=1), include_outputs_from={"retriever"})
    assert [d.id for d in out["retriever"]["documents"]] == ["d"]
    assert out["prompt"]["prompt"].count("\n[") == 0  # one source line
    default = RolecallRetriever(tiny)  # top_k=10, as the other adapters' k
    assert [d.id for d in default.run(QUERY)["documents"]] == tiny.search(QUERY, k=10).ids
    with pytest.raises(InvalidSettingError, match="top_k must be an int >= 1"):
        retriever.run(QUERY, top_k=0)
    with pytest.raises(InvalidSettingError, match="top_k"):
        RolecallRetriever(tiny, top_k=True)


def test_history_reaches_the_searcher(tiny: Retriever, monkeypatch: pytest.MonkeyPatch) -> None:
    """ChatMessages become rolecall Messages (tool turns left out), dicts pass as they are,
    and the rule rewriter records that it had a history."""
    seen: list[Any] = []
    search = tiny.search

    def spy(query: str, **kwargs: Any) -> Any:
        seen.append(kwargs["history"])
        return search(query, **kwargs)

    monkeypatch.setattr(tiny, "search", spy)
    retriever = RolecallRetriever(tiny, top_k=2)
    call = ToolCall(tool_name="lookup", arguments={"q": "hay fever"})
    history = [ChatMessage.from_user("something for hay fever"),
               ChatMessage.from_assistant(tool_calls=[call]),
               ChatMessage.from_tool("Clearhist, Sleepyhist", origin=call),
               ChatMessage.from_assistant("Clearhist or Sleepyhist."),
               {"role": "user", "content": "which one?"}]
    rag_pipeline(retriever).run(inputs(QUERY, history=history))
    assert seen[-1] == [Message(role="user", content="something for hay fever"),
                        Message(role="assistant", content="Clearhist or Sleepyhist."),
                        {"role": "user", "content": "which one?"}]
    assert retriever.last_result is not None
    assert any("history" in n for n in retriever.last_result.plan.query.provenance.notes)
    retriever.run(QUERY)
    assert seen[-1] == [] and not retriever.last_result.plan.query.provenance.notes


def test_history_changes_the_llm_rewrite(demo: Retriever, llm_api_base: str) -> None:
    """The follow-up alone names no symptom; with the chat history (Haystack messages) the
    LLM rewriter (replayed) resolves it to nausea, and the prompt lists those hits."""
    rw = LLMRewriter(LOCAL_MODEL, api_base=llm_api_base, cache=False, strict=True)
    retriever = RolecallRetriever(Retriever(demo.index, rewriter=rw), top_k=3)
    history = [ChatMessage.from_user("something for nausea"),
               ChatMessage.from_assistant("Ondansetron, promethazine or metoclopramide.")]
    followup = "and without ones that make you drowsy?"
    with recorded_llm(CASSETTES / "rewrite" / "followup_without_drowsy.yaml"):
        out = rag_pipeline(retriever).run(inputs(followup, history=history))
    assert retriever.last_result is not None
    rq = retriever.last_result.plan.query
    assert rq.provenance.rewriter == f"llm:{LOCAL_MODEL}"
    assert {r.relation for r in rq.relations} >= {"treats", "causes"}
    assert "nausea" in rq.model_dump_json().lower() and "nausea" not in followup
    for hit in retriever.last_result.hits:
        assert f"[{hit.id}] {hit.title}" in out["prompt"]["prompt"]


def test_the_agent_is_a_searcher(tiny: Retriever) -> None:
    docs = RolecallRetriever(Agent(tiny), top_k=3).run("drugs")["documents"]
    assert all(isinstance(d, Document) and "why" in d.meta for d in docs)
    assert [d.id for d in docs] == Agent(tiny).search("drugs", k=3).ids


def test_pipeline_file_round_trip(tiny_index_path: Path, tiny: Retriever) -> None:
    """Built from an index path, the component is saved with its settings and loaded back
    (from the module Haystack is told to trust); it opens the index at warm-up."""
    original = RolecallRetriever(index=tiny_index_path, top_k=2,
                                 search_kwargs={"exclusion_mode": "hard"})
    data = original.to_dict()
    assert data == {"type": "rolecall_haystack.RolecallRetriever",
                    "init_parameters": {"index": str(tiny_index_path), "top_k": 2,
                                        "search_kwargs": {"exclusion_mode": "hard"}}}
    assert RolecallRetriever.from_dict(data).to_dict() == data
    text = rag_pipeline(original).dumps()
    with pytest.raises(DeserializationError, match="allowed_modules"):
        Pipeline.loads(text)
    loaded = Pipeline.loads(text, allowed_modules=["rolecall_haystack"])
    out = loaded.run(inputs(QUERY), include_outputs_from={"retriever"})
    assert [d.id for d in out["retriever"]["documents"]] == tiny.search(
        QUERY, k=2, exclusion_mode="hard").ids
    component = loaded.get_component("retriever")
    assert isinstance(component, RolecallRetriever) and component.last_result is not None
    loaded.close()  # closes the index it opened; a later run opens it again
    assert loaded.run(inputs(QUERY))["prompt"]["prompt"].startswith("[d] Clearhist")
    loaded.close()


def test_a_ready_searcher_does_not_serialise(tiny: Retriever) -> None:
    retriever = RolecallRetriever(tiny)
    with pytest.raises(NotSerializableError, match=r"RolecallRetriever\(index=") as info:
        rag_pipeline(retriever).to_dict()
    assert isinstance(info.value, SerializationError) and isinstance(info.value,
                                                                     ConfigurationError)
    retriever.close()  # the caller's searcher: left open
    assert tiny.search(QUERY, k=1).ids == ["d"]


def test_constructor_wants_one_searcher(tiny: Retriever, tiny_index_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="exactly one of searcher=.*got neither"):
        RolecallRetriever()
    with pytest.raises(ConfigurationError, match="got both"):
        RolecallRetriever(tiny, index=tiny_index_path)
