"""How extraction compares the model's words with a document's: folding, spans, names.

One folding serves every comparison, so that a span, a name and the text they are looked up
in are always in the same form: `rolecall.graph.normalize` (lowercase, accents stripped,
lookalike letters read as Latin, whitespace folded), then quotes dropped and dashes made
one dash — a model copies `Reye's syndrome` as `Reye’s syndrome` or `“for pain”` as often
as not, and neither is a different span.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .._kg_files import generic_form
from ..graph import normalize

__all__ = [
    "FoldedText", "fold", "fold_key", "lead", "snake", "span_in",
]

_QUOTES = re.compile(r"[\"'`´‘’‚‛“”„‟«»‹›]")
_DASHES = re.compile(r"[‐‑‒–—―−]")
_WS = re.compile(r"\s+")
# A model marks an omission inside a quote with an ellipsis: each part must be found, in order.
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*")
_EDGE_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")
_WORDS = re.compile(r"\w+")
_LEAD_END = re.compile(r"[.!?](?=\s|$)|\n")


def fold(text: str) -> str:
    """The form texts, spans and names are compared in (see the module docstring)."""
    folded = _DASHES.sub("-", _QUOTES.sub("", normalize(text)))
    return _WS.sub(" ", folded).strip()


def fold_key(name: str) -> str:
    """The key entity names are merged by: their words (punctuation dropped), without a
    leading `the`, the last one without a plural `s` — so `NSAIDs`, `NSAID` and `nsaid` are
    one entity, `headaches` is `headache` and `The Rite of Spring` is `Rite of Spring`."""
    words = _WORDS.findall(fold(name))
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    if words and len(words[-1]) > 3 and words[-1].endswith("s") and not words[-1].endswith("ss"):
        words[-1] = words[-1][:-1]
    return " ".join(words)


def snake(text: str) -> str:
    """`Type 2 diabetes` → `type_2_diabetes`, `The Rake's Progress` → `the_rakes_progress`:
    entity ids, type and relation names as rolecall's files write them."""
    return "_".join(_WORDS.findall(fold(text).replace("_", " ")))


def lead(text: str) -> str:
    """A text's first sentence (all of it when it has one), as the graph's linking reads it."""
    text = text.strip()
    end = _LEAD_END.search(text)
    return text[: end.end()] if end else text


@lru_cache(maxsize=4096)
def _name_pattern(folded_name: str) -> re.Pattern[str]:
    # Whole words, and a plural either way: the model writes `headache` where the text says
    # `headaches`, and the reverse.
    stem = folded_name[:-1] if len(folded_name) > 3 and folded_name.endswith("s") else folded_name
    return re.compile(rf"(?<!\w){re.escape(stem)}(?:s|es)?(?!\w)")


class FoldedText:
    """A document folded once, asked many times whether a span or a name occurs in it."""

    def __init__(self, text: str) -> None:
        self.text = fold(text)

    def names(self, name: str) -> bool:
        """Whether `name` occurs as whole words (a plural `s` either way is the same name).
        A name that would match almost any text (`it`, `2`) never does."""
        key = fold(name)
        if not key or generic_form(key) is not None:
            return False
        return _name_pattern(key).search(self.text) is not None

    def count(self, name: str) -> int:
        """How many times `name` occurs, as `names` finds it."""
        key = fold(name)
        if not key or generic_form(key) is not None:
            return 0
        return len(_name_pattern(key).findall(self.text))

    def quotes(self, span: str, *, min_words: int = 2) -> bool:
        """Whether `span` is a quotation of the text: every part between ellipses occurs, in
        order, edge punctuation aside, and together they hold at least `min_words` words (a
        lone name is not evidence of a fact)."""
        return span_in(span, self.text, min_words=min_words)


def span_in(span: str, folded_text: str, *, min_words: int = 2) -> bool:
    """`FoldedText.quotes` on an already folded text."""
    parts = [_EDGE_PUNCT.sub("", p) for p in _ELLIPSIS.split(fold(span))]
    parts = [p for p in parts if p]
    if not parts or sum(len(_WORDS.findall(p)) for p in parts) < min_words:
        return False
    at = 0
    for part in parts:
        # Whole words at both ends: `elieves pain` is not a quotation of `relieves pain`.
        found = re.compile(rf"(?<!\w){re.escape(part)}(?!\w)").search(folded_text, at)
        if found is None:
            return False
        at = found.end()
    return True
