"""The lexical and dense legs in SQL, with the embedded legs' semantics.

Lexical: documents are analysed in Python with the embedded index's own analyzer
(`rolecall.backends.positioned_tokens`: tantivy's tokenizer, lowercasing, folding,
English stopwords and stemmer) and stored twice: as one tsvector per field with the same positions
(GIN-indexed; phrases and must-not phrases), and as postings (term, document, frequency per
field) for scoring.  PostgreSQL's `ts_rank` is not BM25, and BM25 computed from tsvectors
would read every matching document's whole vector; the postings table is read by its primary
key for the query's terms only.  The score is BM25 as tantivy defines it: k1 1.2, b 0.75,
idf per field, field lengths in tantivy's one-byte code (`fieldnorm`), fields summed.  What
still differs is float order (tantivy sums in f32), so exact ties can break differently.

Dense: pgvector cosine distance.  Exact scans below the ANN threshold or for small allowed
sets, HNSW (ef_search 128, iterative scan for filters) above, as in the embedded leg.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np
from rolecall.backends import analyze, as_set, plan_filters, positioned_tokens

from ._db import Database

__all__ = [
    "PgDense", "PgLexical", "fieldnorm", "phrase_query", "tsvector_literal", "vector_literal",
]

_K1 = 1.2
_B = 0.75
#: tsvector positions run 1..16383; later words share the last position.
_MAX_POS = 16_383
# The embedded dense leg's filter strategy, mirrored so both backends return the same hits
# (the lexical one is shared: rolecall.backends.plan_filters):
#: allowed sets up to this size are scored exactly even when an HNSW index exists;
_ANN_EXACT_MAX = 2_048
#: from this share of allowed documents on, HNSW results are filtered afterwards (legs/dense.py).
_POST_FILTER_SHARE = 0.1
#: pgvector's largest hnsw.ef_search.
_MAX_EF_SEARCH = 1_000


def _lexeme(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def phrase_query(phrase: str) -> str | None:
    """tsquery text for a phrase, with the gaps its stopwords leave (`'rite' <2> 'spring'`)."""
    toks = positioned_tokens(phrase)
    if not toks:
        return None
    out = _lexeme(toks[0][1])
    for (prev, _), (pos, tok) in zip(toks, toks[1:], strict=False):
        out = f"({out} <{pos - prev}> {_lexeme(tok)})"
    return out


def tsvector_literal(tokens: Sequence[tuple[int, str]]) -> str:
    """tsvector text for positioned tokens (positions 1-based, capped as PostgreSQL caps them)."""
    where: dict[str, list[int]] = {}
    for pos, tok in tokens:
        where.setdefault(tok, []).append(min(pos + 1, _MAX_POS))
    return " ".join(
        f"{_lexeme(tok)}:{','.join(str(p) for p in sorted(set(ps)))}" for tok, ps in where.items()
    )


def vector_literal(vec: np.ndarray) -> str:
    # repr of each float32 (as a double) reads back to the same float32.
    return "[" + ",".join(map(repr, np.asarray(vec, dtype=np.float32).tolist())) + "]"


# Field lengths as tantivy stores them: exact to 40, then 8 buckets per doubling of the step.
FIELDNORMS: list[int] = list(range(41))
while len(FIELDNORMS) < 256:
    FIELDNORMS.append(FIELDNORMS[-1] + 2 ** ((len(FIELDNORMS) - 41) // 8 + 1))


def fieldnorm(length: int) -> int:
    """A field length rounded down to tantivy's one-byte code (`fieldnorm_to_id`)."""
    return FIELDNORMS[bisect.bisect_right(FIELDNORMS, length) - 1]


_BM25 = """
WITH q(term, idf_t, idf_b) AS (
  SELECT * FROM unnest(%(terms)s::text[], %(idf_t)s::float8[], %(idf_b)s::float8[])),
scored AS (
  SELECT p.ord, sum(
      q.idf_t * p.tf_title * %(k1p1)s
        / (p.tf_title + %(k1)s * (1 - %(b)s + %(b)s * p.title_norm / %(avg_t)s))
    + q.idf_b * p.tf_body * %(k1p1)s
        / (p.tf_body + %(k1)s * (1 - %(b)s + %(b)s * p.body_norm / %(avg_b)s))) AS score
  FROM q JOIN rc_postings p ON p.term = q.term
  WHERE true{where}
  GROUP BY p.ord)
SELECT s.ord, s.score FROM scored s{exclude}"""
_ALLOWED = " AND p.ord = ANY(%(allowed)s::bigint[])"
_BLOCKED = " AND NOT (p.ord = ANY(%(blocked)s::bigint[]))"
_NOT_PHRASES = """
WHERE s.ord NOT IN (
  SELECT d.ord FROM rc_documents d
  WHERE d.title_tsv @@ %(neg)s::tsquery OR d.body_tsv @@ %(neg)s::tsquery)"""
_HAS_PHRASE = """
JOIN rc_documents d ON d.ord = s.ord
WHERE d.title_tsv @@ %(match)s::tsquery OR d.body_tsv @@ %(match)s::tsquery"""
_TOP = " ORDER BY s.score DESC, s.ord LIMIT %(k)s"


def _bm25(where: str = "", exclude: str = "") -> str:
    # Only the constant fragments above are ever spliced in.
    return _BM25.replace("{where}", where).replace("{exclude}", exclude)


class PgLexical:
    """BM25 over title and body tsvectors (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def tokens(self, text: str) -> list[str]:
        return analyze(text)

    def doc_freq(self, token: str) -> int:
        found = self._db.value(
            "SELECT greatest(df_title, df_body) FROM rc_terms WHERE term = %s", (token,)
        )
        return int(found or 0)

    def _bm25_params(self, terms: list[str]) -> dict[str, Any]:
        stats = self._db.rows(
            "SELECT key, value FROM rc_meta WHERE key IN ('count', 'title_tokens', 'body_tokens')"
        )
        meta = {k: float(v) for k, v in stats}
        n = max(meta.get("count", 0.0), 1.0)
        df = {t: (a, b) for t, a, b in self._db.rows(
            "SELECT term, df_title, df_body FROM rc_terms WHERE term = ANY(%s)", (terms,)
        )}

        def idf(d: float) -> float:
            return math.log(1 + (n - d + 0.5) / (d + 0.5)) if d > 0 else 0.0

        return {
            "terms": terms,
            "idf_t": [idf(df.get(t, (0, 0))[0]) for t in terms],
            "idf_b": [idf(df.get(t, (0, 0))[1]) for t in terms],
            "avg_t": max(meta.get("title_tokens", 0.0) / n, 1e-9),
            "avg_b": max(meta.get("body_tokens", 0.0) / n, 1e-9),
            "k1": _K1, "k1p1": _K1 + 1, "b": _B, "n": n,
        }

    def search(
        self,
        text: str,
        k: int,
        *,
        allowed: AbstractSet[int] | None = None,
        blocked: Iterable[int] = (),
        must_not_phrases: Sequence[str] = (),
    ) -> list[tuple[int, float]]:
        terms = list(dict.fromkeys(analyze(text)))
        if not terms or k <= 0 or (allowed is not None and not allowed):
            return []
        params = self._bm25_params(terms)
        plan = plan_filters(allowed, blocked, k=k, n=int(params["n"]))
        where = exclude = ""
        if plan.allowed is not None:
            where = _ALLOWED
            params["allowed"] = sorted(plan.allowed)
        elif plan.blocked:
            where = _BLOCKED
            params["blocked"] = sorted(plan.blocked)
        negs = [q for q in (phrase_query(p) for p in must_not_phrases) if q]
        if negs:
            exclude = _NOT_PHRASES
            params["neg"] = " | ".join(negs)
        rows = self._db.rows(_bm25(where, exclude) + _TOP, params | {"k": plan.limit})
        return plan.apply([(int(o), float(s)) for o, s in rows], k)

    def phrase_scores(self, phrase: str, ords: Iterable[int]) -> dict[int, float]:
        """BM25 of the phrase's terms in each of `ords` that contains the phrase."""
        match = phrase_query(phrase)
        ords = sorted(set(ords))
        if match is None or not ords:
            return {}
        terms = list(dict.fromkeys(analyze(phrase)))
        params = self._bm25_params(terms) | {"match": match, "allowed": ords}
        rows = self._db.rows(_bm25(_ALLOWED, _HAS_PHRASE), params)
        return {int(o): float(s) for o, s in rows}


_DISTANCE = "embedding <=> %(q)s::vector"


class PgDense:
    """Cosine similarity with pgvector; exact or HNSW like the embedded leg."""

    def __init__(self, db: Database, *, ann: bool) -> None:
        self._db = db
        self.ann = ann

    def search(
        self,
        query: np.ndarray,
        k: int,
        *,
        allowed: AbstractSet[int] | None = None,
        blocked: Iterable[int] = (),
    ) -> list[tuple[int, float]]:
        if k <= 0 or (allowed is not None and not allowed):
            return []
        blocked_set = as_set(blocked)
        q = vector_literal(query)
        if not self.ann or (allowed is not None and len(allowed) <= _ANN_EXACT_MAX):
            return self._query(q, k, allowed, blocked_set, exact=True)
        if allowed is None and not blocked_set:
            return self._query(q, k, None, set(), exact=False)
        n = max(1, self._count())
        share = (len(allowed) if allowed is not None else n - len(blocked_set)) / n
        if share >= _POST_FILTER_SHARE:
            fetch = min(n, int(k / share * 1.3) + 16)
            if fetch <= _MAX_EF_SEARCH:
                kept = [
                    (o, s) for o, s in self._query(q, fetch, None, set(), exact=False)
                    if (allowed is None or o in allowed) and o not in blocked_set
                ]
                if len(kept) >= k or fetch == n:
                    return kept[:k]
        return self._query(q, k, allowed, blocked_set, exact=False)

    def _count(self) -> int:
        return int(self._db.meta("count", 0))

    def _query(
        self, q: str, k: int, allowed: AbstractSet[int] | None, blocked: AbstractSet[int], *,
        exact: bool
    ) -> list[tuple[int, float]]:
        params: dict[str, Any] = {"q": q, "k": k}
        where = ""
        if allowed is not None:
            where = " WHERE ord = ANY(%(allowed)s::bigint[])"
            params["allowed"] = sorted(allowed - blocked)
        elif blocked:
            where = " WHERE NOT (ord = ANY(%(blocked)s::bigint[]))"
            params["blocked"] = sorted(blocked)
        select = f"SELECT ord, 1 - ({_DISTANCE}) FROM rc_documents{where}"
        if exact:
            # "+ 0" keeps the planner off the HNSW index: this path promises exact results.
            rows = self._db.rows(select + f" ORDER BY ({_DISTANCE}) + 0, ord LIMIT %(k)s", params)
        else:
            with self._db.transaction() as conn:
                # ef_search bounds what one HNSW scan returns; the embedded leg uses 128.
                conn.execute("SELECT set_config('hnsw.ef_search', %s, true)",
                             (str(min(_MAX_EF_SEARCH, max(128, k))),))
                if where:
                    # Without it a filtered scan stops at ef_search candidates and can return
                    # fewer than k; relaxed order is re-sorted below.
                    conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                rows = list(conn.execute(
                    select + f" ORDER BY {_DISTANCE} LIMIT %(k)s", params
                ).fetchall())
        out = [(int(o), float(s)) for o, s in rows]
        out.sort(key=lambda t: (-t[1], t[0]))
        return out

    def similarity(self, query: np.ndarray, ords: Iterable[int]) -> dict[int, float]:
        ids = sorted(set(ords))
        if not ids:
            return {}
        rows = self._db.rows(
            f"SELECT ord, 1 - ({_DISTANCE}) FROM rc_documents WHERE ord = ANY(%(ords)s)",
            {"q": vector_literal(query), "ords": ids},
        )
        return {int(o): float(s) for o, s in rows}
