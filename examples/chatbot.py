"""A multi-turn chatbot's retrieval: follow-ups are rewritten with the conversation.

    .venv/bin/python examples/chatbot.py                 # a scripted three-turn chat
    .venv/bin/python examples/chatbot.py "turn 1" "turn 2" …

With the local model up (`make llm`) or ROLECALL_MODEL set, turns are rewritten by the LLM
and follow-ups resolved against the chat; otherwise the rule rewriter runs (and the output
says so) — the same code either way.  The agent asks back when a turn cannot be acted on.
"""

from __future__ import annotations

import sys

from rolecall import Agent, Message, rewriter_from_env
from rolecall.demo import open_demo

TURNS = ["what helps with nausea?", "and without ones that make you drowsy?",
         "which of those cause constipation?"]


def main(turns: list[str]) -> None:
    rewriter, which = rewriter_from_env()
    print(f"rewriter: {which}")
    agent = Agent(open_demo(progress=False, rewriter=rewriter))
    history: list[Message] = []
    for turn in turns:
        result = agent.search(turn, k=3, history=history)
        print(f"\nuser: {turn}")
        rq = result.plan.query
        roles = "; ".join(f"{r.polarity.value} {r.relation} {r.object}" for r in rq.relations)
        print(f"  understood: {roles or rq.embed_text}")
        if result.clarification:
            print(f"  bot asks: {result.clarification.question}")
        for hit in result.hits:
            print(f"  - {hit.title}  [{hit.explanation.summary()}]")
        history += [Message(role="user", content=turn),
                    Message(role="assistant", content=", ".join(h.title for h in result.hits))]


if __name__ == "__main__":
    main(sys.argv[1:] or TURNS)
