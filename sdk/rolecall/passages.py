"""Passages: how a document is cut into the sentences that verification reads.

One splitter for the agent's verification (`rolecall.agent.verify`) and for the sentence
vectors an index can store (`Index.build(sentence_vectors=True)`): the stored rows are the
vectors of exactly these sentences, so the splitter is the index format's, and changing it
means the stored vectors no longer line up (the reader checks the count per document).
"""

from __future__ import annotations

import re

__all__ = ["MAX_PASSAGES", "passages"]

_SENT_RE = re.compile(r"(?<=[.!?;])\s+|\n+")
#: the head is where documents say what they are; a long document's tail is not read
MAX_PASSAGES = 40


def passages(text: str) -> list[str]:
    """A document's sentences of three words or more (the whole text when none is), at
    most `MAX_PASSAGES`."""
    out = [s.strip() for s in _SENT_RE.split(text) if len(s.split()) >= 3]
    return (out or [text.strip()])[:MAX_PASSAGES]
