"""Lookalike letters: a Latin word typed (or pasted) with a Greek or Cyrillic letter in it.

"Ιbuprofen" with a Greek capital iota looks like "Ibuprofen" and is not the same string: a
lexical index does not find it, and a fuzzy lookup ranks the real entity and any near name
alike.  Within a word that mixes Latin letters with Greek or Cyrillic lookalikes, the
lookalikes are read as the Latin letters they imitate (the single-character confusables of
Unicode TR39 for these scripts).  A word written wholly in Greek or Cyrillic is left alone:
it is another language, not a lookalike.  Every mapping is one character to one, so offsets
into the text stay valid.
"""

from __future__ import annotations

import re

__all__ = ["fold_confusables"]

_TO_LATIN = str.maketrans({
    # Greek capitals and small letters that render like Latin ones.
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "ο": "o", "ι": "i", "ν": "v", "ρ": "p",
    "α": "a", "κ": "k", "υ": "u",
    # Cyrillic.
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "а": "a", "е": "e", "о": "o", "р": "p",
    "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w",
})
_LOOKALIKES = frozenset(chr(c) for c in _TO_LATIN)
_WORD = re.compile(r"[^\W\d_]+")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


def fold_confusables(text: str) -> str:
    """`text` with the lookalike letters of mixed-script words read as Latin."""
    if text.isascii():
        return text

    def fold(m: re.Match[str]) -> str:
        word = m.group()
        if _LATIN.search(word) and any(c in _LOOKALIKES for c in word):
            return word.translate(_TO_LATIN)
        return word

    return _WORD.sub(fold, text)
