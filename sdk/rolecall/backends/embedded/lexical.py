"""The lexical leg: BM25 over a persisted tantivy index.

User text never reaches tantivy's query parser: it is tokenised with the same analyzer the
index uses and the query is built from term queries, so `"`, `:`, `AND`, `*` are just text.
Allowed and blocked ordinals follow `filter_plan.py`: a restrictive set is a term set on the
document ordinal inside the query; a permissive one is applied to an oversampled result,
since a term set of tens of thousands of ordinals costs more than the oversampling saves.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import cast

import tantivy

from ...errors import IndexCorruptError
from ..filter_plan import plan_filters

__all__ = ["LexicalIndex", "analyze", "positioned_tokens"]

_ANALYZER = "rolecall_en"
_FIELDS = ("title", "body")


def _analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stopword("english"))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


#: tantivy's simple tokenizer splits on every character that is not alphanumeric.
_WORD = re.compile(r"[^\W_]+")
_SHARED = threading.local()


@functools.lru_cache(maxsize=262_144)
def _analyze_word(word: str) -> tuple[str, ...]:
    analyzer = getattr(_SHARED, "analyzer", None)
    if analyzer is None:
        analyzer = _SHARED.analyzer = _analyzer()
    return tuple(analyzer.analyze(word))


def analyze(text: str) -> list[str]:
    """The index analyzer's tokens for `text` (lowercased, folded, stemmed, no stopwords)."""
    return [tok for _, tok in positioned_tokens(text)]


def positioned_tokens(text: str) -> list[tuple[int, str]]:
    """(position, token) as the index stores them: a stopword or an over-long word keeps its
    position, so "rite of spring" is `rite` at 0 and `spring` at 2 and a phrase query must
    say so.  Words are analysed one at a time (every filter is per token), memoised."""
    out: list[tuple[int, str]] = []
    pos = 0
    for match in _WORD.finditer(text):
        for tok in _analyze_word(match.group()):
            out.append((pos, tok))
        pos += 1
    return out


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("ord", stored=False, indexed=True, fast=True)
    sb.add_text_field("title", stored=False, tokenizer_name=_ANALYZER)
    sb.add_text_field("body", stored=False, tokenizer_name=_ANALYZER)
    return sb.build()


class LexicalIndex:
    """BM25 over title and body; documents are addressed by their ordinal in the index."""

    def __init__(self, index: tantivy.Index, path: Path) -> None:
        self._index = index
        self._path = path
        self._schema = index.schema
        self._analyzer_obj = _analyzer()
        self._searcher = index.searcher()
        self._lock = threading.Lock()
        self._view: _ReadView | None = None

    # -- build / open ----------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path) -> LexicalIndex:
        path.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(_schema(), path=str(path), reuse=False)
        index.register_tokenizer(_ANALYZER, _analyzer())
        return cls(index, path)

    @classmethod
    def open(cls, path: Path, *, writable: bool = False) -> LexicalIndex:
        """Open a committed index.  Readers (`writable=False`) never write into `path`:
        tantivy takes a lock file in the folder it opens, which a read-only filesystem or
        another user's files refuse, so a reader opens a private folder of links to the
        segment files instead (see `_ReadView`).  A published generation never changes, so
        the lock guards nothing a reader needs."""
        if not (path / "meta.json").exists():
            raise IndexCorruptError("tantivy index is missing (no meta.json); rebuild", path=path)
        view = None if writable else _ReadView.of(path)
        try:
            index = tantivy.Index.open(str(view.path if view else path))
            index.register_tokenizer(_ANALYZER, _analyzer())
            out = cls(index, path)
        except ValueError as exc:
            if view is not None:
                view.close()
            raise IndexCorruptError(f"tantivy index unreadable: {exc}; rebuild", path=path)
        out._view = view
        return out

    def close(self) -> None:
        """Release the private read view (its links; the segment files are untouched)."""
        view, self._view = self._view, None
        if view is not None:
            view.close()

    def add(
        self, docs: Iterable[tuple[int, str, str]], *, heap_size: int = 128_000_000
    ) -> int:
        """Index (ordinal, title, body) triples and commit; returns how many were added."""
        n = 0
        try:
            writer = self._index.writer(heap_size=heap_size, num_threads=1)
            for ordinal, title, body in docs:
                doc = tantivy.Document()
                doc.add_unsigned("ord", ordinal)  # a plain int kwarg would be typed i64
                doc.add_text("title", title)
                doc.add_text("body", body)
                writer.add_document(doc)
                n += 1
            writer.commit()
            writer.wait_merging_threads()
        except ValueError as exc:  # tantivy reports I/O failures (disk full…) as ValueError
            raise OSError(errno.EIO, f"tantivy could not write its index ({exc})") from exc
        self._index.reload()
        self._searcher = self._index.searcher()
        return n

    @property
    def num_docs(self) -> int:
        return int(self._searcher.num_docs)

    # -- querying --------------------------------------------------------------------------------

    def tokens(self, text: str) -> list[str]:
        """The analyzer's tokens for `text` (lowercased, stemmed, stopwords removed)."""
        return list(self._analyzer_obj.analyze(text))

    def _terms_query(self, tokens: Sequence[str]) -> tantivy.Query | None:
        clauses = []
        for tok in dict.fromkeys(tokens):
            for f in _FIELDS:
                clauses.append(
                    (tantivy.Occur.Should, tantivy.Query.term_query(self._schema, f, tok))
                )
        return tantivy.Query.boolean_query(clauses) if clauses else None

    def _phrase_query(self, phrase: str) -> tantivy.Query | None:
        tokens = positioned_tokens(phrase)
        if not tokens:
            return None
        if len(tokens) == 1:
            return self._terms_query([tokens[0][1]])
        first = tokens[0][0]
        words: list[str | tuple[int, str]] = [(pos - first, tok) for pos, tok in tokens]
        return tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Should, tantivy.Query.phrase_query(self._schema, f, words))
                for f in _FIELDS
            ]
        )

    def _ord_set(self, ords: Iterable[int]) -> tantivy.Query:
        return tantivy.Query.term_set_query(self._schema, "ord", sorted(ords))

    def search(
        self,
        text: str,
        k: int,
        *,
        allowed: AbstractSet[int] | None = None,
        blocked: Iterable[int] = (),
        must_not_phrases: Sequence[str] = (),
    ) -> list[tuple[int, float]]:
        """Top-k (ordinal, BM25) for `text`; `allowed`/`blocked` restrict the ordinals and
        documents containing any of `must_not_phrases` are excluded."""
        base = self._terms_query(self.tokens(text))
        if base is None or k <= 0 or (allowed is not None and not allowed):
            return []
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = [(tantivy.Occur.Must, base)]
        plan = plan_filters(allowed, blocked, k=k, n=self.num_docs)
        if plan.blocked:
            clauses.append((tantivy.Occur.MustNot, self._ord_set(plan.blocked)))
        for phrase in must_not_phrases:
            pq = self._phrase_query(phrase)
            if pq is not None:
                clauses.append((tantivy.Occur.MustNot, pq))
        if plan.allowed is not None:
            first = self._allowed_after(clauses, plan.allowed, k)
            if first is not None:
                return plan.apply(first, k)
            clauses.append((tantivy.Occur.Must, self._ord_set(plan.allowed)))
        return plan.apply(self._run(clauses, plan.limit)[0], k)

    def _run(self, clauses: list[tuple[tantivy.Occur, tantivy.Query]],
             limit: int) -> tuple[list[tuple[int, float]], int]:
        """(ordinal, score) hits of the boolean query, and how many tantivy returned."""
        searcher = self._searcher
        # One clause is the query itself: a boolean wrapper around it costs tantivy a
        # second scorer per document.
        query = clauses[0][1] if len(clauses) == 1 else tantivy.Query.boolean_query(clauses)
        hits = searcher.search(query, limit=limit, count=False).hits
        ords = searcher.fast_field_values("ord", [addr for _, addr in hits])
        # tantivy hands back Python ints and floats already: no conversion per hit.
        out = [(o, s) for (s, _), o in zip(hits, ords, strict=True) if o is not None]
        return cast("list[tuple[int, float]]", out), len(hits)

    def _allowed_after(self, clauses: list[tuple[tantivy.Occur, tantivy.Query]],
                       allowed: AbstractSet[int], k: int) -> list[tuple[int, float]] | None:
        """The top k allowed hits read off an unrestricted search, when the allowed set is
        a large enough share of the index (a term set of thousands of ordinals costs tantivy
        several times the search itself); None when too few of them rank high enough, and
        the set must go into the query.  Exact either way: once k allowed documents are
        among the top `limit` overall, no allowed document below them can outrank them."""
        n = max(1, self.num_docs)
        share = len(allowed) / n
        if share < _POST_FIRST_SHARE:
            return None
        limit = min(n, int(k / share * 1.5) + 1)
        hits, fetched = self._run(clauses, limit)
        kept = [h for h in hits if h[0] in allowed]
        return kept if len(kept) >= k or fetched < limit else None

    def phrase_scores(self, phrase: str, ords: Iterable[int]) -> dict[int, float]:
        """BM25 of `phrase` (as a phrase) for the given ordinals; absent = no match."""
        pq = self._phrase_query(phrase)
        ords = list(ords)
        if pq is None or not ords:
            return {}
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, pq), (tantivy.Occur.Must, self._ord_set(ords))]
        )
        searcher = self._searcher
        hits = searcher.search(query, limit=len(ords), count=False).hits
        values = searcher.fast_field_values("ord", [addr for _, addr in hits])
        return {int(o): float(s) for (s, _), o in zip(hits, values, strict=True) if o is not None}

    def doc_freq(self, token: str) -> int:
        """In how many documents an (analysed) token occurs, in either field."""
        return max(int(self._searcher.doc_freq(f, token)) for f in _FIELDS)


#: From this share of the index, an allowed set is tried after an unrestricted search first;
#: below it the term set is the faster (BENCHMARKS.md, "Speed", the timings per share).
_POST_FIRST_SHARE = 0.08


class _ReadView:
    """A private folder of symbolic links to a committed tantivy index's files, where
    tantivy may put its lock file.  Removed on `close()`, when the reader is collected, or —
    for a process that was killed — by the next reader (its name carries the owner's pid)."""

    _PREFIX = "rolecall-lexical-"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(path), True)

    @classmethod
    def of(cls, source: Path) -> _ReadView | None:
        _remove_stale_views()
        try:
            view = Path(tempfile.mkdtemp(prefix=f"{cls._PREFIX}{os.getpid()}-"))
        except OSError:
            return None  # no temporary space: open in place (tantivy's lock goes there)
        target = source.resolve()
        for entry in target.iterdir():
            if not entry.name.startswith(".tantivy-"):  # the lock files are per opener
                os.symlink(entry, view / entry.name)
        return cls(view)

    def close(self) -> None:
        self._finalizer()


def _remove_stale_views() -> None:
    for p in Path(tempfile.gettempdir()).glob(f"{_ReadView._PREFIX}*"):
        pid = p.name[len(_ReadView._PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
