"""A RAG app: rolecall finds the sources, their explanations go into the answer prompt.

    .venv/bin/python examples/rag_app.py ["question"]

The prompt lists each source with why it qualifies (the constraints it satisfied), so the
answering model is told which documents meet the user's roles — and which were demoted and
why.  With a model available (ROLECALL_MODEL, or the local one via `make llm`) the answer is
generated through litellm; without one the prompt is printed and the output says so.
"""

from __future__ import annotations

import os
import sys

from rolecall import LLMCallError, Retriever, SearchResult, rewriter_from_env
from rolecall.demo import open_demo

QUESTION = "medicine for nausea that doesn't make you drowsy"


def build_prompt(question: str, result: SearchResult) -> list[dict[str, str]]:
    lines = []
    for i, hit in enumerate(result.hits, 1):
        held = [c.constraint for c in hit.explanation.checks if c.satisfied]
        failed = [c.constraint for c in hit.explanation.checks if not c.satisfied]
        why = "; ".join(held) or "relevant to the question"
        lines.append(f"[{i}] {hit.title}: {hit.text[:400]}\n    qualifies: {why}"
                     + (f"\n    caution: {'; '.join(failed)}" if failed else ""))
    system = ("Answer from the numbered sources only and cite them like [1]. Each source says "
              "why it qualifies for the question; do not recommend a source marked with a "
              "caution for what the caution names.")
    return [{"role": "system", "content": system},
            {"role": "user", "content": "Sources:\n" + "\n".join(lines)
             + f"\n\nQuestion: {question}"}]


def answer(messages: list[dict[str, str]]) -> str | None:
    """The answer from the configured or local model, or None when there is none."""
    rewriter, _ = rewriter_from_env()
    client = rewriter.client  # an LLMRewriter's LLMClient; None for the rules
    if client is None:
        return None
    try:
        return client.complete(messages, schema=None, schema_name="", max_tokens=300)
    except LLMCallError as exc:
        return f"(no answer: {exc})"


def main(question: str, retriever: Retriever) -> None:
    result = retriever.search(question, k=4)
    messages = build_prompt(question, result)
    print(messages[1]["content"])
    reply = answer(messages) if os.environ.get("ROLECALL_NO_ANSWER") != "1" else None
    print("\nanswer:", reply if reply is not None else
          "(no model configured: set ROLECALL_MODEL or run `make llm`; the prompt is above)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else QUESTION, open_demo(progress=False))
