"""Exclusions judged by aboutness: a document about the excluded thing is demoted, one that
names it in passing is demoted little, and the explanation says which."""

from __future__ import annotations

from pathlib import Path

import pytest
from rolecall import Index, Retriever, RoleQuery
from rolecall.pipeline.aboutness import PhraseTokens, Reading, aboutness, sentences
from rolecall.query import Exclusion


def _tokens(text: str) -> list[str]:
    return [w for w in text.lower().replace(".", " ").replace(",", " ").split()
            if w not in {"the", "a", "an", "of", "is", "in", "and", "was", "by"}]


def _reading(title: str, text: str) -> Reading:
    return Reading(tuple(_tokens(title)), tuple(tuple(_tokens(s)) for s in sentences(text)))


def test_a_title_naming_the_phrase_makes_the_document_about_it() -> None:
    doc = _reading("Cartoon Cartoons", "It was a block of shows. Many aired on Fridays.")
    a = aboutness(PhraseTokens.of("Cartoon Cartoons", _tokens), doc)
    assert a.score == 1.0 and a.in_title
    assert a.describe().startswith("about “Cartoon Cartoons”: title")


def test_a_titled_documents_lead_naming_the_phrase_is_a_mention_in_passing() -> None:
    text = ("Johnny Bravo is a series that was one of the Cartoon Cartoons. It follows a man. "
            "He is vain. Critics argued about it. It ran for four seasons. It was revived.")
    a = aboutness(PhraseTokens.of("Cartoon Cartoons", _tokens), _reading("Johnny Bravo", text))
    assert a.in_lead and a.sentences == 1 and a.total == 6
    assert a.score < 0.5
    assert "mentions “Cartoon Cartoons” once (in its lead sentence)" in a.describe()
    # When the title names what the query asks about, the mention is not held against it.
    subject = frozenset(_tokens("Johnny Bravo controversies"))
    asked = aboutness(PhraseTokens.of("Cartoon Cartoons", _tokens, subject=subject),
                      _reading("Johnny Bravo", text), subject)
    assert asked.score == 0 and asked.describe().endswith("not demoted")


def test_an_untitled_lead_counts_only_when_it_names_the_phrase_before_the_subject() -> None:
    subject = frozenset(_tokens("Benjamin Burrows activities"))
    about_him = _reading("", "Benjamin Burrows was an organist known for composing music. "
                             "He taught. He wrote letters. He lived in Leicester.")
    about_it = _reading("", "Composing music was what Benjamin Burrows did. He taught. "
                            "He wrote letters. He lived in Leicester.")
    phrase = PhraseTokens.of("composing music", _tokens, subject=subject)
    assert aboutness(phrase, about_him, subject).score < 0.5
    assert aboutness(phrase, about_it, subject).score >= 0.5


def test_a_phrase_of_only_the_subjects_words_tells_nothing_apart() -> None:
    subject = frozenset(_tokens("samples on the album"))
    phrase = PhraseTokens.of("album", _tokens, subject=subject)
    doc = _reading("The album", "The album went gold.")
    assert phrase.tokens == () and not aboutness(phrase, doc, subject).mentioned


def test_words_out_of_order_are_not_the_phrase() -> None:
    doc = _reading("", "Spring came early. The rite was old.")
    assert not aboutness(PhraseTokens.of("Rite of Spring", _tokens), doc).mentioned


DOCS = [
    {"id": "bravo", "title": "Johnny Bravo",
     "text": "Johnny Bravo is an animated series, one of the Cartoon Cartoons. The show "
             "follows a vain man who tries to date women. Critics called its humour crude and "
             "parents complained about it. Its creator answered the controversies in "
             "interviews. The series ran for four seasons. It was revived in 2004."},
    {"id": "block", "title": "Cartoon Cartoons",
     "text": "Cartoon Cartoons was a block of original series. Cartoon Cartoons aired on "
             "Fridays and Cartoon Cartoons shows included Johnny Bravo and its controversies."},
    {"id": "other", "title": "Dexter's Laboratory",
     "text": "Dexter's Laboratory is an animated series about a boy genius."},
]


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    path: Path = tmp_path_factory.mktemp("about") / "idx"
    return Retriever(Index.build(path, DOCS, progress=False))


def _query() -> RoleQuery:
    return RoleQuery(text="Johnny Bravo controversies without Cartoon Cartoons",
                     description="Johnny Bravo controversies",
                     keywords=["Johnny", "Bravo", "controversies"],
                     exclusions=[Exclusion(text="Cartoon Cartoons", entity=True)])


def test_the_document_about_the_excluded_thing_is_demoted_below_the_one_naming_it(
    retriever: Retriever,
) -> None:
    hits = retriever.search(_query(), k=3).hits
    assert [h.id for h in hits].index("bravo") < [h.id for h in hits].index("block")
    checks = {h.id: [c for c in h.explanation.checks if c.kind == "exclusion"] for h in hits}
    assert any("about “Cartoon Cartoons”: title" in c.evidence for c in checks["block"])
    assert not all(c.satisfied for c in checks["block"])
    assert all(c.satisfied for c in checks["bravo"])
    assert any("in its lead sentence): not demoted" in c.evidence for c in checks["bravo"])


def test_hard_mode_suppresses_what_is_about_it_and_keeps_the_passing_mention(
    retriever: Retriever,
) -> None:
    hits = retriever.search(_query(), k=3, exclusion_mode="hard").hits
    ids = [h.id for h in hits]  # suppressed candidates are not returned
    assert "bravo" in ids and "block" not in ids
