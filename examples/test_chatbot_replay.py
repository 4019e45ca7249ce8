"""Testing your own chatbot's retrieval with recorded LLM replays (rolecall.testing).

    pytest examples/test_chatbot_replay.py                    # replays the committed cassette
    ROLECALL_RECORD=1 pytest examples/test_chatbot_replay.py  # re-records from the local model
                                                              # (`make record` does this)

The "app" below is a two-turn chat over rolecall's demo corpus: the follow-up is rewritten
with the conversation, so the drowsy sea-sickness drugs drop out.  The assertions check the
app's behaviour, not what a mock returns: the cassette holds real replies of the local Qwen.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rolecall import LLMRewriter, Message, Retriever
from rolecall.demo import open_demo
from rolecall.testing import recorded_llm

CASSETTE = Path(__file__).parent / "cassettes" / "chatbot.yaml"

pytestmark = pytest.mark.llm


def chat_turn(retriever: Retriever, question: str, history: list[Message]) -> list[str]:
    """The app: retrieve for one chat turn and return the titles it would show."""
    result = retriever.search(question, history=history, k=3)
    history += [Message(role="user", content=question),
                Message(role="assistant", content=", ".join(h.title for h in result.hits))]
    return [h.title for h in result.hits]


def test_follow_up_keeps_the_conversation(tmp_path: Path, rolecall_llm_api_base: str) -> None:
    rewriter = LLMRewriter("openai/qwen2.5-coder-1.5b", api_base=rolecall_llm_api_base,
                           cache=False, strict=True)
    retriever = open_demo(tmp_path / "index", progress=False, rewriter=rewriter)
    history: list[Message] = []
    with recorded_llm(CASSETTE):
        first = chat_turn(retriever, "what helps with nausea?", history)
        second = chat_turn(retriever, "and without ones that make you drowsy?", history)
    assert first, "the first turn found nothing"
    titles = " ".join(second).lower()
    for drowsy in ("promethazine", "cinnarizine", "metoclopramide", "hyoscine"):
        assert drowsy not in titles
