"""The RAG app of rag_app.py on the LangChain adapter: an LCEL chain whose retrieval step is
rolecall, with the explanations in the prompt.

    .venv/bin/python examples/langchain_rag.py ["question"]      # needs rolecall[langchain]
"""

from __future__ import annotations

import sys

from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from rolecall.demo import open_demo
from rolecall_langchain import RolecallRetriever

QUESTION = "medicine for nausea that doesn't make you drowsy"

PROMPT = ChatPromptTemplate.from_messages([
    ("system", "Answer from the numbered sources only and cite them like [1]. Each source "
               "says why it qualifies.\n\n{sources}"),
    ("human", "{question}"),
])


def sources(docs: list[Document]) -> str:
    return "\n".join(f"[{i}] {d.metadata['title']}: {d.page_content[:300]}\n"
                     f"    why: {d.metadata['why']}" for i, d in enumerate(docs, 1))


def main(question: str) -> None:
    retriever = RolecallRetriever(searcher=open_demo(progress=False), k=4)
    chain = {"sources": retriever | sources, "question": RunnablePassthrough()} | PROMPT
    # Pipe `chain` into any LangChain chat model to answer; the prompt is what it would read.
    for message in chain.invoke(question).to_messages():
        print(f"--- {message.type}\n{message.content}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else QUESTION)
