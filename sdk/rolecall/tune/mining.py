"""Contrastive training triples (query, positive, hard negative) mined from an index, with
no labels from its user.

A dense model learns what its negatives teach: random negatives teach topic, which it
already knows.  The negatives mined here are the associated-but-wrong documents rolecall
exists to tell apart, read from the index's own graph schema and corpus (no domain words):

* **role** — for an edge `S -r-> X`, the query "<S's type> <r as words> <X>" ("film
  directed by Clint Eastwood"); the positive is a document about such an `S`, the negative
  a document about an `S'` with a *different* relation to the same `X` (a film Eastwood
  only stars in) and about nothing that has `r` to `X`;
* **aboutness** — a query naming a thing; the positive is a document about it, the
  negative one that only mentions it.  With a graph, "about" and "mentions" are the index's
  links; without one, the things are phrases repeated across the corpus (capitalised runs
  of words) and the aboutness scorer (`pipeline.aboutness`) tells about from in passing;
* **exclusion** — "A, but not B"; both documents are about A, the positive never mentions
  B, the negative is also about B or mentions it;
* **qrels** (optional) — a labelled training split: a judged-relevant document against the
  best BM25 hit that was not judged at all.

Mining is deterministic for a seed: candidates are built in sorted order before any draw,
and at most `max_per_kind` triples of a kind are drawn round-robin over their queries, so
one frequent object or phrase cannot fill a kind on its own.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from .._checks import check_integer, check_real
from ..backends.embedded.index import Index
from ..errors import InvalidSettingError
from ..graph import KnowledgeGraph
from ..pipeline.aboutness import AboutnessWeights, PhraseTokens
from ..pipeline.documents import AnalysedDocuments, analysed_documents
from ..query import RelationConstraint
from ..rewrite.examples import _phrase

__all__ = ["MinedTriples", "Triple", "TripleKind", "mine_triples"]

TripleKind = Literal["role", "aboutness", "exclusion", "qrels"]
_KINDS: tuple[TripleKind, ...] = get_args(TripleKind)

#: A run of up to four capitalised words: the names a corpus without a graph repeats.
#: ASCII capitals only: a cased letter outside them is rare in names and costs a Unicode
#: category check per word.
_CAPITALISED = re.compile(r"\b[A-Z][^\W_]*(?: [A-Z][^\W_]*){0,3}\b")
_LOWER_WORD = re.compile(r"\b[a-z][^\W_]*")
#: What ends a sentence, or opens a quotation: a capital after it says nothing.
_OPENERS = frozenset(".!?:;\"'“”‘’")
#: A phrase in more than this share of the documents (and more than `_MIN_MOST` of them)
#: sets none apart: boilerplate.
_MAX_DOC_SHARE = 0.05
_MIN_MOST = 5


@dataclass(frozen=True)
class Triple:
    """One training example: the query, a document id to rank high and one to rank lower."""

    query: str
    positive: str
    negative: str
    kind: TripleKind
    why: str


@dataclass(frozen=True)
class MinedTriples:
    """The mined triples, in draw order; `kinds` are the kinds mined (a kind that gave none
    is still counted, so a report says what was tried)."""

    triples: tuple[Triple, ...]
    kinds: tuple[TripleKind, ...] = ()

    def counts(self) -> dict[str, int]:
        """Kind -> number of triples, for every kind mined or present."""
        n = Counter(t.kind for t in self.triples)
        return {k: n[k] for k in _KINDS if k in n or k in self.kinds}

    def split(self, held_back: float, *, seed: int = 0,
              by: Literal["query", "pair"] = "query") -> tuple[MinedTriples, MinedTriples]:
        """(train, held back), deterministic.  By "query", held-back triples share no query
        with train: a held-back score measures the model on queries it never saw.  By
        "pair", whole triples are held back: the same intents, (positive, negative) pairs
        it never trained on."""
        check_real("held_back", held_back, 0.0, 1.0)
        if by == "pair":
            order = list(range(len(self.triples)))
            random.Random(seed).shuffle(order)
            out = set(order[: round(held_back * len(order))])
            return (MinedTriples(tuple(t for i, t in enumerate(self.triples) if i not in out),
                                 self.kinds),
                    MinedTriples(tuple(t for i, t in enumerate(self.triples) if i in out),
                                 self.kinds))
        queries = sorted({t.query for t in self.triples})
        random.Random(seed).shuffle(queries)
        held = set(queries[: round(held_back * len(queries))])
        return (MinedTriples(tuple(t for t in self.triples if t.query not in held), self.kinds),
                MinedTriples(tuple(t for t in self.triples if t.query in held), self.kinds))


@dataclass(frozen=True)
class _Group:
    """Candidate triples sharing one query: every positive against every negative
    (ordinals, sorted); `why(positive, negative)` words one of them."""

    query: str
    kind: TripleKind
    positives: tuple[int, ...]
    negatives: tuple[int, ...]
    why: Callable[[int, int], str] = field(compare=False)


def mine_triples(
    index: Index, *, kinds: Sequence[TripleKind] = ("role", "aboutness", "exclusion"),
    qrels: Mapping[str, tuple[str, Mapping[str, int]]] | None = None,
    max_per_kind: int = 2000, seed: int = 0,
) -> MinedTriples:
    """Mine up to `max_per_kind` triples of each kind from `index` (see the module doc).
    `qrels` (query id -> (query text, {doc id: grade})) adds the "qrels" kind; it must be
    a split the tuned model is never evaluated on."""
    check_integer("max_per_kind", max_per_kind, 0, 10**9)
    wanted = _wanted(kinds, qrels)
    miner = _Miner(index, qrels or {}, max_per_kind, seed)
    out: dict[tuple[str, str, str], Triple] = {}
    for kind in wanted:
        for t in _draw(miner.groups(kind), max_per_kind, random.Random(f"{seed}/{kind}"),
                       index.ids):
            # The same (query, positive, negative) found by two kinds is one example.
            out.setdefault((t.query, t.positive, t.negative), t)
    return MinedTriples(tuple(out.values()), wanted)


def _wanted(kinds: Sequence[TripleKind],
            qrels: Mapping[str, tuple[str, Mapping[str, int]]] | None) -> tuple[TripleKind, ...]:
    wanted = tuple(dict.fromkeys([*kinds, *(("qrels",) if qrels is not None else ())]))
    bad = [k for k in wanted if k not in _KINDS]
    if bad or isinstance(kinds, str):
        raise InvalidSettingError("kinds", kinds, f"a sequence of {', '.join(_KINDS)}")
    if "qrels" in wanted and qrels is None:
        raise InvalidSettingError("qrels", qrels, "query id -> (text, {doc id: grade}) "
                                  "when 'qrels' is one of the kinds")
    return wanted


# -- drawing -----------------------------------------------------------------------------------


def _draw(groups: list[_Group], limit: int, rng: random.Random,
          ids: Sequence[str]) -> Iterator[Triple]:
    """Up to `limit` triples, round-robin over the groups in a seeded order."""
    groups = sorted(groups, key=lambda g: (g.query, g.positives, g.negatives))
    rng.shuffle(groups)
    active = [(g, _pairs(g, rng)) for g in groups]
    drawn = 0
    while active and drawn < limit:
        still = []
        for g, pairs in active:
            pair = next(pairs, None)
            if pair is None:
                continue
            still.append((g, pairs))
            yield Triple(g.query, ids[pair[0]], ids[pair[1]], g.kind, g.why(*pair))
            drawn += 1
            if drawn >= limit:
                return
        active = still


def _pairs(g: _Group, rng: random.Random) -> Iterator[tuple[int, int]]:
    """Every (positive, negative) of a group once, in a seeded order, lazily: a group can
    hold millions of pairs and only a few are drawn.  Diagonals of the shuffled grid, so
    the first pairs use as many different documents as there are."""
    pos, neg = list(g.positives), list(g.negatives)
    rng.shuffle(pos)
    rng.shuffle(neg)
    for shift in range(len(neg)):
        for i, p in enumerate(pos):
            n = neg[(i + shift) % len(neg)]
            if p != n:
                yield p, n


# -- the miners ----------------------------------------------------------------------------------


class _Miner:
    """The groups of each kind for one index; corpus phrases are read once, on first need."""

    def __init__(self, index: Index, qrels: Mapping[str, tuple[str, Mapping[str, int]]],
                 limit: int, seed: int) -> None:
        self.index, self.qrels, self.limit, self.seed = index, qrels, limit, seed
        # Documents linked to entities: the graph answers about / mentions; else the corpus.
        self.graph = bool(index.entity_docs)
        self._phrases: list[_Phrase] | None = None

    def groups(self, kind: TripleKind) -> list[_Group]:
        if kind == "role":
            return _role_groups(self.index)
        if kind == "qrels":
            return _qrels_groups(self.index, self.qrels)
        if self.graph:
            return (_graph_aboutness_groups(self.index) if kind == "aboutness"
                    else _graph_exclusion_groups(self.index))
        if kind == "aboutness":
            return [g for p in self.phrases() if (g := p.aboutness_group()) is not None]
        return _phrase_exclusion_groups(self.index, self.phrases(), self.limit,
                                        random.Random(f"{self.seed}/exclusion-phrases"))

    def phrases(self) -> list[_Phrase]:
        if self._phrases is None:
            self._phrases = _corpus_phrases(self.index)
        return self._phrases


# -- role ------------------------------------------------------------------------------------------


def _role_groups(index: Index) -> list[_Group]:
    """One group per (relation r, object X) with subjects of r and subjects of another
    relation to X: the same object in a different role is the hard negative."""
    by_object: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for rel in index.kg.relations:
        by_object[rel.object][rel.relation].add(rel.subject)
    groups = []
    for obj in sorted(by_object):
        for r in sorted(by_object[obj]):
            g = _role_group(index, obj, r, by_object[obj])
            if g is not None:
                groups.append(g)
    return groups


def _role_group(index: Index, obj: str, r: str,
                roles: Mapping[str, set[str]]) -> _Group | None:
    kg = index.kg
    rc = RelationConstraint(relation=r, object=obj)
    holds: dict[str, bool] = {}

    def has_r(e: str) -> bool:
        # By the graph's own semantics (is-a inheritance, descendants of X), so that a
        # negative is never a document the graph would answer the query with.
        if e not in holds:
            holds[e] = e in kg.entities and kg.holds(e, rc, obj)
        return holds[e]

    other: dict[str, str] = {}  # other-role subject -> its (first) relation to X
    for r2 in sorted(roles):
        for s in sorted(roles[r2]) if r2 != r else ():
            if not has_r(s):
                other.setdefault(s, r2)
    pos = _docs_about(index, roles[r])
    neg = tuple(d for d in _docs_about(index, other)
                if not any(has_r(e) for e in index.links[d].about))
    if not pos or not neg:
        return None
    names = _Names(kg)
    x, words = names(obj), kg.relation_type(r).words

    def why(p: int, n: int) -> str:
        s = next(e for e in sorted(index.links[p].about) if e in roles[r])
        s2 = next(e for e in sorted(index.links[n].about) if e in other)
        return (f"positive about {names(s)} ({names(s)} {words} {x}); negative about "
                f"{names(s2)} ({kg.relation_type(other[s2]).words} {x}, not {words})")

    return _Group(f"{_thing(kg, r, roles[r])} {_relation_words(kg, r)} {x}", "role", pos,
                  neg, why)


def _docs_about(index: Index, entities: Iterable[str]) -> tuple[int, ...]:
    return tuple(sorted({d for e in entities for d in index.entity_docs.get(e, ())}))


def _thing(kg: KnowledgeGraph, r: str, subjects: set[str]) -> str:
    """What the query asks for: r's declared subject type, else the one type its subjects
    share, by the type entity's name when there is one."""
    types = {kg.entities[s].type for s in subjects if s in kg.entities}
    t = kg.relation_type(r).subject_type or (types.pop() if len(types) == 1 else None)
    if not t:
        return "things"
    ent = kg.entities.get(t)
    return ent.name if ent is not None and ent.name else t.replace("_", " ")


def _relation_words(kg: KnowledgeGraph, r: str) -> str:
    """`_phrase`, except that a present participle reads without "that" ("film starring
    X"), as a past participle does ("film directed by X")."""
    words = _phrase(kg, r)
    rest = words.removeprefix("that ")
    return rest if rest != words and rest.split()[0].endswith("ing") else words


class _Names:
    """Entity id -> display name (the id when the graph has no such entity)."""

    def __init__(self, kg: KnowledgeGraph) -> None:
        self.kg = kg

    def __call__(self, eid: str) -> str:
        ent = self.kg.entities.get(eid)
        return ent.name if ent is not None and ent.name else eid


# -- aboutness and exclusion, from the graph's links -------------------------------------------


def _graph_aboutness_groups(index: Index) -> list[_Group]:
    """Entity E: documents about E against documents that mention E but are about others."""
    passing: dict[str, list[int]] = defaultdict(list)
    for d, dl in enumerate(index.links):
        for e in dl.mentions:
            if e not in dl.about:
                passing[e].append(d)
    names = _Names(index.kg)
    groups = []
    for e in sorted(index.entity_docs):
        if passing.get(e) and e in index.kg.entities:
            groups.append(_Group(names(e), "aboutness", tuple(index.entity_docs[e]),
                                 tuple(passing[e]), _mention_why(index, e)))
    return groups


def _mention_why(index: Index, e: str) -> Callable[[int, int], str]:
    names = _Names(index.kg)

    def why(p: int, n: int) -> str:
        about = ", ".join(names(a) for a in index.links[n].about) or "nothing linked"
        times = index.links[n].mentions.get(e, 0)
        return (f"positive about {names(e)}; negative mentions {names(e)} {times}x, "
                f"about {about}")

    return why


def _graph_exclusion_groups(index: Index) -> list[_Group]:
    """"A, but not B": documents about A that never name B against documents about A that
    are about B or mention it."""
    kg, names = index.kg, _Names(index.kg)
    # "A, but not drug" or "ibuprofen, but not NSAID" (what A is) asks nothing.
    types = set(kg.types())
    groups = []
    for a in sorted(e for e, docs in index.entity_docs.items() if len(docs) > 1):
        near = _named_in(index, index.entity_docs[a])
        for b in sorted(near - {a} - types - kg.ancestors(a)):
            if b not in kg.entities or kg.entities[b].type == "type":
                continue  # an entity of the meta-type "type" names a type: as above
            neg = tuple(d for d in index.entity_docs[a] if _names(index, d, b))
            pos = tuple(d for d in index.entity_docs[a] if not _names(index, d, b))
            if pos and neg:
                groups.append(_Group(f"{names(a)}, but not {names(b)}", "exclusion", pos, neg,
                                     _exclusion_why(names(a), names(b))))
    return groups


def _named_in(index: Index, docs: Sequence[int]) -> set[str]:
    return {e for d in docs for e in (*index.links[d].about, *index.links[d].mentions)}


def _names(index: Index, d: int, e: str) -> bool:
    return e in index.links[d].about or e in index.links[d].mentions


def _exclusion_why(a: str, b: str) -> Callable[[int, int], str]:
    def why(p: int, n: int) -> str:
        return f"both about {a}; positive never names {b}, negative is about or names {b}"

    return why


# -- aboutness and exclusion, from the corpus's own phrases ---------------------------------------


@dataclass(frozen=True)
class _Phrase:
    """A phrase repeated in the corpus and how each document that names it reads it."""

    text: str
    tokens: PhraseTokens
    about: tuple[int, ...]  # aboutness score >= passing
    passing: tuple[int, ...]  # mentioned, score < passing

    def aboutness_group(self) -> _Group | None:
        if not self.about or not self.passing:
            return None
        text = self.text

        def why(p: int, n: int) -> str:
            return f"positive is about “{text}”; negative mentions it in passing"

        return _Group(text, "aboutness", self.about, self.passing, why)


def _corpus_phrases(index: Index) -> list[_Phrase]:
    """The corpus's names (`_Runs`) in at least two documents and at most a twentieth of
    them, each read by the aboutness scorer in every document that names it."""
    runs = _Runs()
    for d in range(len(index)):
        doc = index.document(d)
        runs.read(d, f"{doc.title}\n{doc.text}", index.lexical.tokens)
    most = max(_MIN_MOST, int(_MAX_DOC_SHARE * len(index)))
    docs = analysed_documents(index)
    return [_read_phrase(docs, _display(runs.forms[key]), key, sorted(runs.where[key]))
            for key in runs.names() if 2 <= len(runs.where[key]) <= most]


@dataclass
class _Runs:
    """Capitalised runs of words, keyed by their analysed tokens: where each is named, how
    it is written, and how often it is capitalised inside a sentence."""

    forms: defaultdict[tuple[str, ...], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter))
    where: defaultdict[tuple[str, ...], set[int]] = field(
        default_factory=lambda: defaultdict(set))
    inside: Counter[tuple[str, ...]] = field(default_factory=Counter)
    lower: Counter[str] = field(default_factory=Counter)  # words written in lower case

    def read(self, d: int, text: str, tokens: Callable[[str], list[str]]) -> None:
        self.lower.update(_LOWER_WORD.findall(text))
        for m in _CAPITALISED.finditer(text):
            key = tuple(tokens(m.group()))
            if key:
                self.forms[key][m.group()] += 1
                self.where[key].add(d)
                self.inside[key] += _mid_sentence(text, m.start())

    def names(self) -> list[tuple[str, ...]]:
        """Runs that read as names: capitalised inside a sentence at least once, where
        grammar does not ask for it ("However", "When Moses" never are), and, for one
        word, more often capitalised there than written in lower case ("Battle", "State"
        are common words that start a name; "Moses" is a name)."""
        return sorted(k for k, n in self.inside.items() if n and (
            len(k) > 1 or n > self.lower[_display(self.forms[k]).lower()]))


def _mid_sentence(text: str, start: int) -> bool:
    """Whether a capital at `start` is inside a sentence, where it is chosen, not required."""
    before = text[max(0, start - 3):start].rstrip()
    return bool(before) and before[-1] not in _OPENERS


def _display(forms: Counter[str]) -> str:
    """The form a phrase is most often written in (the shortest, then first, on ties):
    "Hebrew Bible" rather than a sentence's "The Hebrew Bible"."""
    return min(forms, key=lambda f: (-forms[f], len(f), f))


def _read_phrase(docs: AnalysedDocuments, text: str, key: tuple[str, ...],
                 where: list[int]) -> _Phrase:
    phrase, weights = PhraseTokens(text, key), AboutnessWeights()
    # The query is the phrase alone, so no words of the document count as the query's own.
    read = [(d, docs.aboutness(d, phrase, frozenset(), weights)) for d in where]
    return _Phrase(text, phrase,
                   tuple(d for d, a in read if a.score >= weights.passing),
                   tuple(d for d, a in read if a.mentioned and a.score < weights.passing))


def _phrase_exclusion_groups(index: Index, phrases: list[_Phrase], limit: int,
                             rng: random.Random) -> list[_Group]:
    """"A, but not B" over corpus phrases: B named by some of the documents about A and not
    by others.  A's are taken in a seeded order until `limit` groups are found: each group
    gives at least one triple, and checking every pair of phrases would cost minutes."""
    named: dict[int, list[_Phrase]] = defaultdict(list)
    for p in phrases:
        for d in (*p.about, *p.passing):
            named[d].append(p)
    docs = analysed_documents(index)
    candidates = sorted((p for p in phrases if len(p.about) > 1), key=lambda p: p.tokens.tokens)
    rng.shuffle(candidates)
    groups: list[_Group] = []
    for a in candidates:
        groups.extend(_excluding(docs, a, named))
        if len(groups) >= limit:
            break
    return groups


def _excluding(docs: AnalysedDocuments, a: _Phrase,
               named: Mapping[int, list[_Phrase]]) -> list[_Group]:
    about = set(a.about)
    near = {b.text: b for d in a.about for b in named[d]}
    groups = []
    for text in sorted(near):
        b = near[text]
        if set(b.tokens.tokens) & set(a.tokens.tokens):
            continue  # "Johnny Bravo, but not Bravo" contradicts itself
        neg = tuple(sorted(about & {*b.about, *b.passing}))
        # Checked in the document itself: B may be named there in lower case, not a run.
        pos = tuple(d for d in a.about if d not in neg and not docs.aboutness(
            d, b.tokens, frozenset(), AboutnessWeights()).mentioned)
        if pos and neg:
            groups.append(_Group(f"{a.text}, but not {b.text}", "exclusion", pos, neg,
                                 _exclusion_why(f"“{a.text}”", f"“{b.text}”")))
    return groups


# -- qrels -----------------------------------------------------------------------------------------


def _qrels_groups(index: Index, qrels: Mapping[str, tuple[str, Mapping[str, int]]]
                  ) -> list[_Group]:
    """A judged-relevant document against the best BM25 hit that was not judged: the
    document plain lexical search would rank in its place."""
    groups = []
    for qid in sorted(qrels):
        text, grades = qrels[qid]
        judged = {o for d in grades if (o := index.ordinal(d)) is not None}
        pos = tuple(sorted(o for d, g in grades.items()
                           if g > 0 and (o := index.ordinal(d)) is not None))
        hits = index.lexical.search(text, 1, blocked=judged) if pos and text.strip() else []
        if hits:
            groups.append(_Group(text, "qrels", pos, (hits[0][0],), _qrels_why(qid)))
    return groups


def _qrels_why(qid: str) -> Callable[[int, int], str]:
    def why(p: int, n: int) -> str:
        return f"positive judged relevant to query {qid}; negative the top BM25 hit not judged"

    return why
