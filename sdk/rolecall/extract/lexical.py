"""The fallback without an LLM: entities proposed from the words alone, never relations.

Reading a relation needs understanding the sentence, so without a model none is proposed
and the report says so.  Entities are another matter — names look like names:

* a **title's head** (the title up to `:` or `(`, at most four words) names what the
  document is about (a parenthesis is not read as an alias: `Paracetamol (acetaminophen)`
  is one, `Bolero (Ravel)` is not);
* a **capitalised phrase** (`Igor Stravinsky`, `The Rite of Spring`, `NSAID`) that is
  capitalised somewhere other than at the start of a sentence, where every word is;
* a **repeated noun phrase**: two or three content words (no function word, each of three
  letters or more) that recur in at least `min_docs` documents (`hay fever`, `dry mouth`),
  unless a longer such phrase holding it occurs in as many documents (`common side` is
  only ever part of `common side effects`).

Each proposal carries how often and in how many documents it occurs, so a reader can prune;
a document is linked to the proposals its title (else its first sentence) names.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .._kg_files import generic_form
from ..documents import Document
from ..graph import normalize
from .ground import DocExtraction, Mention
from .text import FoldedText, fold, fold_key, lead

__all__ = ["Proposal", "propose_entities"]

_TOKEN = re.compile(r"[^\W_][\w'’-]*|[^\w\s]")
# Sentences and clauses after a colon or semicolon: their first word is capitalised by
# grammar ("Caution: May cause …"), not because it is a name.
_SENTENCE = re.compile(r"(?<=[.!?:;])\s+|\n+")
#: Lowercase words that may sit inside a capitalised name (`The Rite of Spring`).
_CONNECTORS = frozenset("of the de du des la le et von van der à".split())
_MAX_TITLE_WORDS = 4


@dataclass
class Proposal:
    """An entity the lexical fallback proposes, with the evidence for it."""

    name: str
    #: how it was found: "title", "capitalised", "repeated"
    how: str
    count: int = 0
    docs: int = 0
    aliases: list[str] = field(default_factory=list)


def _capitalised(word: str) -> bool:
    return word[:1].isupper()


def _cap_runs(sentence: str) -> list[tuple[str, bool]]:
    """Capitalised runs of a sentence, each with whether it starts the sentence."""
    tokens = _TOKEN.findall(sentence)
    runs: list[tuple[str, bool]] = []
    i = 0
    while i < len(tokens):
        if not _capitalised(tokens[i]):
            i += 1
            continue
        j = i + 1
        while j < len(tokens) and (_capitalised(tokens[j]) or (
                tokens[j].lower() in _CONNECTORS and j + 1 < len(tokens)
                and _capitalised(tokens[j + 1]))):
            j += 1
        words = [w.removesuffix("'s").removesuffix("’s") for w in tokens[i:j]]
        while words and normalize(words[0]) in _CONNECTORS | {"a", "an"} and len(words) > 1:
            words = words[1:]  # "The Rite of Spring" stays whole; "A Migraine" is "Migraine"
        runs.append((" ".join(words), i == 0))
        i = j
    return runs


def _title_head(title: str) -> str | None:
    """A title's head, when it is short enough to be a name."""
    head = re.split(r"[:(\[–—]", title, maxsplit=1)[0].strip()
    return head if 0 < len(head.split()) <= _MAX_TITLE_WORDS else None


def _candidates(docs: list[Document], min_docs: int) -> dict[str, Proposal]:
    found: dict[str, Proposal] = {}

    def add(name: str, how: str) -> None:
        key = fold_key(name)
        if key and generic_form(fold(name)) is None and not all(
                w in _CONNECTORS for w in key.split()):
            found.setdefault(key, Proposal(name=name, how=how))

    for doc in docs:
        head = _title_head(doc.title)
        if head:
            add(head, "title")
        for sentence in _SENTENCE.split(doc.text):
            for run, initial in _cap_runs(sentence):
                if not initial or len(run.split()) > 1:
                    add(run, "capitalised")
    for phrase in _repeated_phrases(docs, min_docs):
        add(phrase, "repeated")
    return found


def _repeated_phrases(docs: list[Document], min_docs: int) -> list[str]:
    """Two- and three-word phrases of content words used by at least `min_docs` documents
    (counted by `fold_key`, so `side effect` and `side effects` are one phrase)."""
    per_doc: Counter[str] = Counter()
    surface: dict[str, str] = {}
    for doc in docs:
        words = re.findall(r"[a-z]+|[^a-z\s]", fold(doc.text))
        seen: set[str] = set()
        for n in (2, 3):
            for i in range(len(words) - n + 1):
                gram = words[i : i + n]
                if all(len(w) >= 3 and w.isalpha() and generic_form(w) is None for w in gram):
                    key = fold_key(" ".join(gram))
                    seen.add(key)
                    surface.setdefault(key, " ".join(gram))
        per_doc.update(seen)
    frequent = {p: n for p, n in per_doc.items() if n >= min_docs}
    # A phrase only ever seen inside a longer one is a piece of it, not a name of its own.
    return [surface[p] for p, n in frequent.items() if not any(
        n == m and f" {p} " in f" {q} " for q, m in frequent.items() if len(q) > len(p))]


def propose_entities(
    docs: list[Document], *, min_docs: int = 3, min_count: int = 2
) -> tuple[list[Proposal], list[DocExtraction]]:
    """The proposals (most frequent first) and, per document, its mentions of them."""
    found = _candidates(docs, min_docs)
    texts = [FoldedText(d.full_text) for d in docs]
    for prop in found.values():
        names = (prop.name, *prop.aliases)
        hits = [sum(t.count(n) for n in names) for t in texts]
        prop.count, prop.docs = sum(hits), sum(1 for h in hits if h)
    kept = [p for p in found.values() if p.how == "title" or p.count >= min_count]
    kept.sort(key=lambda p: (-p.count, fold_key(p.name)))
    return kept, [_doc_mentions(doc, text, kept) for doc, text in zip(docs, texts, strict=True)]


def _doc_mentions(doc: Document, text: FoldedText, props: list[Proposal]) -> DocExtraction:
    ext = DocExtraction(doc_id=doc.id)
    for prop in props:
        seen = [n for n in (prop.name, *prop.aliases) if text.names(n)]
        if seen:
            ext.mentions.append(Mention(name=prop.name, type=None, doc=doc.id,
                                        aliases=[a for a in prop.aliases if a in seen]))
    placed = FoldedText(doc.title) if doc.title else None
    about = [i for i, m in enumerate(ext.mentions) if placed is not None
             and any(placed.names(n) for n in (m.name, *m.aliases))]
    if not about:
        first = FoldedText(lead(doc.text))
        about = [i for i, m in enumerate(ext.mentions)
                 if any(first.names(n) for n in (m.name, *m.aliases))]
    ext.about = about
    return ext
