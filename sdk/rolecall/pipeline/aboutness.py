"""Aboutness: how central a phrase is to a document, read from where and how often it occurs.

A document is about what its title names, what its lead sentence states first and what a
large share of its sentences discuss; a phrase met once in the middle of a long text is a
mention in passing.  The exclusion evidence uses this so that "Johnny Bravo, without Cartoon
Cartoons" demotes the article about Cartoon Cartoons much more than the Johnny Bravo article
that names the block in its lead.

Matching is on the index analyser's tokens (stemmed, stopwords removed, as BM25 sees them):
a sentence mentions a phrase when it holds the phrase's tokens in order, so "The Rite of
Spring" is mentioned by "…premiere of the Rite of Spring…" and not by "…in spring…".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, field

__all__ = ["Aboutness", "AboutnessWeights", "PhraseTokens", "Reading", "aboutness", "sentences"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class AboutnessWeights:
    """How aboutness is scored (chosen on a development split: BENCHMARKS.md)."""

    #: what naming the phrase first in the lead sentence adds, when the document has no
    #: title (a title states the subject; the lead's other names are then its neighbours)
    lead_weight: float = 0.5
    #: what mentioning it in every sentence adds (scaled by the share of sentences)
    share_weight: float = 1.0
    #: a score below this is a mention in passing ...
    passing: float = 0.5
    #: ... which scores this: little, not nothing — "do not mention X" may mean just that
    mention: float = 0.2


@dataclass(frozen=True)
class PhraseTokens:
    """A phrase as analysed tokens, in order."""

    text: str
    tokens: tuple[str, ...]

    @classmethod
    def of(cls, text: str, tokens: Callable[[str], list[str]], *,
           subject: Set[str] = frozenset()) -> PhraseTokens:
        """The phrase's tokens; none when every one is a word of the query's own `subject`
        ("excluding the album …" in a question about an album): such a phrase tells no
        document apart, so no text mentions it."""
        toks = tuple(tokens(text))
        return cls(text, toks if any(t not in subject for t in toks) else ())

    def mentioned_in(self, sentence: Sequence[str]) -> bool:
        n = len(self.tokens)
        if not n or n > len(sentence):
            return False
        first = self.tokens[0]
        return any(sentence[i] == first and tuple(sentence[i:i + n]) == self.tokens
                   for i in range(len(sentence) - n + 1))

    def position(self, sentence: Sequence[str]) -> int | None:
        """Where the phrase first starts in `sentence`."""
        n = len(self.tokens)
        return next((i for i in range(len(sentence) - n + 1)
                     if n and tuple(sentence[i:i + n]) == self.tokens), None)


@dataclass(frozen=True)
class Aboutness:
    """Where a phrase occurs in one document, and the score (0..1) that makes of it."""

    phrase: str
    score: float
    in_title: bool
    in_lead: bool
    sentences: int  # sentences that mention it
    total: int  # sentences in the document

    @property
    def mentioned(self) -> bool:
        return self.in_title or self.sentences > 0

    def describe(self) -> str:
        """“about X: title and 4 of 6 sentences” / “mentions X once, in passing …”."""
        where = [w for w, on in (("title", self.in_title), ("lead sentence", self.in_lead)) if on]
        counted = f"{self.sentences} of {self.total} sentences"
        if self.score >= 0.5:
            return f"about “{self.phrase}”: {' and '.join([*where, counted])}"
        times = "once" if self.sentences == 1 else f"in {counted}"
        place = " (in its lead sentence)" if self.in_lead else ", in passing"
        held = "not demoted" if self.score == 0 else f"demoted little ({self.score:.2f})"
        return f"mentions “{self.phrase}” {times}{place}: {held}"


@dataclass(frozen=True)
class Reading:
    """A document as aboutness reads it: analysed title and sentences, tokens in order."""

    title: tuple[str, ...]
    sentences: tuple[tuple[str, ...], ...]
    #: token -> a bit mask of the sentences holding it: a search reads hundreds of
    #: (document, phrase) pairs, and most documents lack the phrase's words altogether
    where: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where: dict[str, int] = {}
        for i, sentence in enumerate(self.sentences):
            bit = 1 << i
            for t in sentence:
                where[t] = where.get(t, 0) | bit
        object.__setattr__(self, "where", where)

    def mentioning(self, phrase: PhraseTokens) -> list[int]:
        """The sentences that mention `phrase` (its tokens in order), in order."""
        if not phrase.tokens:
            return []
        mask = -1
        for t in phrase.tokens:
            mask &= self.where.get(t, 0)
            if not mask:
                return []
        return [i for i in range(mask.bit_length())
                if mask >> i & 1 and phrase.mentioned_in(self.sentences[i])]


def sentences(text: str) -> list[str]:
    """A text's sentences (a text without sentence ends is one sentence)."""
    return [s for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def _leads_with(phrase: PhraseTokens, lead: Sequence[str], subject: Set[str]) -> bool:
    """Whether the lead names the phrase before the query's own subject: "The collective
    unconscious is a concept of Jung's" is about the concept; "Benjamin Burrows was an English
    composer" is about Burrows, composing in passing."""
    at = phrase.position(lead)
    own = next((i for i, t in enumerate(lead) if t in subject and t not in phrase.tokens), None)
    return at is not None and (own is None or at <= own)


def _names_subject(title: Sequence[str], subject: Set[str]) -> bool:
    """Whether at least half of a title's words are the query's own."""
    return 2 * sum(t in subject for t in title) >= len(title)


def aboutness(
    phrase: PhraseTokens, doc: Reading, subject: Set[str] = frozenset(),
    weights: AboutnessWeights = AboutnessWeights(),
) -> Aboutness:
    """How central `phrase` is to `doc`; `subject` holds the query's own tokens."""
    found = doc.mentioning(phrase)
    in_title = phrase.mentioned_in(doc.title)
    in_lead = bool(found) and found[0] == 0
    lead = in_lead and not doc.title and _leads_with(phrase, doc.sentences[0], subject)
    total = len(doc.sentences)
    share = len(found) / total if total else 0.0
    score = 1.0 if in_title else min(
        1.0, weights.lead_weight * lead + weights.share_weight * share)
    if doc.title and not in_title:
        # The title states what the document is about, and it is not the phrase ("Aaron":
        # "…the brother of Moses…, who spoke for Moses…" is Aaron's page).
        score = min(score, weights.passing - 1e-9)
    if score < weights.passing:
        score = weights.mention if found else 0.0
    if doc.title and not in_title and _names_subject(doc.title, subject):
        # Its title names the query's own subject: the user asked for this document, and
        # it names the excluded thing on the way ("Johnny Bravo" naming Cartoon Cartoons).
        score = 0.0
    return Aboutness(phrase.text, round(score, 3), in_title, in_lead, len(found), total)
