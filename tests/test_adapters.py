"""The LangChain and LlamaIndex adapters against the real packages, inside each framework's
own plumbing (an LCEL chain; a LlamaIndex query engine), with the LLM rewriter replayed from
a cassette recorded from the local model."""

from __future__ import annotations

import asyncio

import pytest
from rolecall import Agent, LLMRewriter, Retriever
from rolecall.testing import recorded_llm

from .conftest import CASSETTES, LOCAL_MODEL

langchain_core = pytest.importorskip("langchain_core", reason="extra: rolecall[langchain]")
pytest.importorskip("llama_index.core", reason="extra: rolecall[llamaindex]")

from langchain_core.messages import AIMessage, HumanMessage  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from langchain_core.runnables import RunnableLambda, RunnablePassthrough  # noqa: E402
from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.query_engine import RetrieverQueryEngine  # noqa: E402
from llama_index.core.response_synthesizers.no_text import NoText  # noqa: E402
from llama_index.core.schema import MetadataMode  # noqa: E402
from rolecall_langchain import RolecallRetriever as LCRetriever  # noqa: E402
from rolecall_llamaindex import RolecallRetriever as LIRetriever  # noqa: E402

QUERY = "medicine for nausea that doesn't make you drowsy"


def test_langchain_retriever_returns_hits_with_explanations(demo: Retriever) -> None:
    retriever = LCRetriever(searcher=demo, k=3)
    docs = retriever.invoke(QUERY)
    direct = demo.search(QUERY, k=3)
    assert [d.id for d in docs] == direct.ids
    assert all(d.metadata["explanation"]["legs"] and 0 <= d.metadata["score"] <= 1 for d in docs)
    assert retriever.last_result is not None and retriever.last_result.plan.query.relations
    adocs = asyncio.run(retriever.ainvoke(QUERY))
    assert [d.id for d in adocs] == direct.ids


def test_langchain_chain_with_recorded_llm_and_history(demo: Retriever, llm_api_base: str) -> None:
    """A RAG chain's retrieval half: history goes to the LLM rewriter (replayed), documents
    and their explanations into the prompt."""
    rw = LLMRewriter(LOCAL_MODEL, api_base=llm_api_base, cache=False, strict=True)
    retriever = LCRetriever(searcher=Retriever(demo.index, rewriter=rw), k=3)
    history = [HumanMessage("something for nausea"),
               AIMessage("Ondansetron, promethazine or metoclopramide.")]
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from these sources:\n{context}"), ("human", "{question}")]
    )

    def context(docs: list) -> str:  # type: ignore[type-arg]
        return "\n".join(f"[{d.id}] {d.metadata['title']} ({d.metadata['why']})" for d in docs)

    chain = {
        "context": RunnableLambda(lambda q: retriever.invoke(q, history=history)) | context,
        "question": RunnablePassthrough(),
    } | prompt
    with recorded_llm(CASSETTES / "rewrite" / "followup_without_drowsy.yaml"):
        value = chain.invoke("and without ones that make you drowsy?")
    text = value.to_messages()[0].content
    assert retriever.last_result is not None
    rq = retriever.last_result.plan.query
    assert rq.provenance.rewriter == f"llm:{LOCAL_MODEL}"
    assert {r.relation for r in rq.relations} >= {"treats", "causes"}
    for hit in retriever.last_result.hits:
        assert f"[{hit.id}]" in text


def test_llamaindex_retriever_and_query_engine(demo: Retriever) -> None:
    retriever = LIRetriever(demo, k=3)
    nodes = retriever.retrieve(QUERY)
    direct = demo.search(QUERY, k=3)
    assert [n.node.node_id for n in nodes] == direct.ids
    assert [n.score for n in nodes] == [h.score for h in direct.hits]
    assert "explanation" in nodes[0].node.metadata
    # Kept out of what an LLM reads.
    assert "explanation" not in nodes[0].node.get_content(metadata_mode=MetadataMode.LLM)
    # NO_TEXT synthesis makes no LLM call; MockLLM only stops LlamaIndex from resolving its
    # default (OpenAI) model at construction.
    engine = RetrieverQueryEngine(retriever=retriever, response_synthesizer=NoText(llm=MockLLM()))
    response = engine.query(QUERY)
    assert [n.node.node_id for n in response.source_nodes] == direct.ids
    anodes = asyncio.run(retriever.aretrieve(QUERY))
    assert [n.node.node_id for n in anodes] == direct.ids


def test_adapters_accept_the_agent(demo: Retriever) -> None:
    agent = Agent(demo)
    docs = LCRetriever(searcher=agent, k=3).invoke("drugs")
    nodes = LIRetriever(agent, k=3).retrieve("drugs")
    assert [d.id for d in docs] == [n.node.node_id for n in nodes]
