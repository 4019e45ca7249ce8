"""Mapping: a value the catalog does not have, to the catalog name the evidence points to.

A rewriter (an LLM especially) says `treats` where the graph says `used_for`, `medication`
where it says `drug`.  Grounding asks this module for the nearest catalog name and how sure
it may be.  Nothing here knows a domain's words: the evidence is the schema's own words
(relation names, aliases, descriptions, inverses; type and field names), an embedder's
similarity when one is given, and the graph's shape.

Evidence, each a score in 0..1 for one candidate `c`:

* lexical `L(c)` — the value's content words (function words dropped, lightly stemmed,
  two words matching at rapidfuzz ratio ≥ 85) against each of c's names (Dice of the two
  word sets), or `DESCRIPTION_WEIGHT` × the share of the value's words that c's
  description contains (a description is long: it is weaker evidence than a name);
* embedding `E(c)` — the best cosine of the value to c's strings, as a margin over the
  best rival's: `clip((cos(c) − max(EMBED_FLOOR, cos(best rival))) / EMBED_SPAN, 0, 1)`.
  A small model's cosines mean little in absolute terms and something relative to each
  other ("filmed by" is 0.66 from "directed by" and 0.43 from "starring");
* structural `S(c)` — `1/|C|` when c is one of the `C` candidates the graph's shape
  allows (a relation whose objects have the constraint object's type and whose subjects
  have the target type; a type the query's relations want), else 0.

Combined (noisy-OR: each kind of evidence alone can carry a mapping as far as its weight,
and independent kinds add up), then lowered by what points at a rival:

    raw(c)        = 1 − (1 − W_LEXICAL·L)(1 − W_EMBED·E)(1 − W_STRUCTURE·S)
    confidence(c) = max(0, raw(c) − AMBIGUITY · max over rivals c' of LE(c'))
    LE(c')        = 1 − (1 − W_LEXICAL·L(c'))(1 − W_EMBED·E(c'))

(structure shared by rivals is already divided in `S`, so only words count against).  The
weights place each kind alone against the thresholds: a name or alias match (0.9) is the
schema's own word for it and is enforced; the graph's shape alone (0.7) cannot tell
`treats` from `causes` when only one relation fits, so it only ever demotes; an embedding
alone (0.6) at most demotes; a description alone (0.72) demotes.  With
`confidence ≥ MAP_HARD` a value is enforced like a resolved one; with `MAP_SOFT ≤
confidence < MAP_HARD` it only demotes the documents that violate it; below `MAP_SOFT` it
stays unresolved.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from rapidfuzz import fuzz

from ..errors import EmbeddingError
from ..explain import MappedAlternative
from ..graph import KnowledgeGraph, normalize
from ..query import Direction, Polarity, RelationConstraint

if TYPE_CHECKING:
    import numpy as np

    from ..backends.interface import BackendReader

__all__ = [
    "MAP_HARD", "MAP_SOFT", "Candidate", "Mapping", "Scored", "Similarity",
    "embedding_similarity", "field_candidates", "map_value", "relation_candidates",
    "type_candidates", "wanted_types",
]

#: At or above: the mapped value is enforced like a resolved one.
MAP_HARD = 0.8
#: At or above (and below MAP_HARD): the mapped value only demotes; below, unresolved.
MAP_SOFT = 0.5

W_LEXICAL = 0.9
W_EMBED = 0.6
W_STRUCTURE = 0.7
DESCRIPTION_WEIGHT = 0.8
AMBIGUITY = 0.5
EMBED_FLOOR = 0.3
EMBED_SPAN = 0.4
#: Two stemmed words this alike (rapidfuzz ratio / 100) count as the same word.
WORD_MATCH = 0.85

Enforcement = Literal["hard", "soft", "none"]
#: `similarity(value, texts)` → the cosine of `value` to each text (empty: no evidence).
Similarity = Callable[[str, list[str]], list[float]]

# Function words carry no meaning of their own ("filmed *by*" and "directed *by*" share
# nothing); English only, as the schema's words are.
_STOP = frozenset(
    "a an the of to for by in on at with from as into onto is are was were be been being "
    "it its this that these those and or not no who whom whose which what has have had "
    "do does did can may".split()
)
_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ies", "ied", "ers", "er",
             "ed", "es", "s")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Candidate:
    """One catalog name a value might mean, with the strings that describe it."""

    name: str
    names: tuple[str, ...]
    description: str = ""
    structure: float = 0.0
    #: a relation read from the other end (its inverse name, or only that reading fits)
    flipped: bool = False


@dataclass(frozen=True)
class Scored:
    """A candidate with its evidence and confidence."""

    name: str
    confidence: float
    lexical: float
    embedding: float
    structure: float
    flipped: bool = False


@dataclass(frozen=True)
class Mapping:
    """The candidates for one value, best first."""

    value: str
    ranked: tuple[Scored, ...] = ()

    @property
    def best(self) -> Scored | None:
        return self.ranked[0] if self.ranked and self.ranked[0].confidence > 0 else None

    @property
    def confidence(self) -> float:
        return self.best.confidence if self.best else 0.0

    @property
    def enforcement(self) -> Enforcement:
        c = self.confidence
        return "hard" if c >= MAP_HARD else "soft" if c >= MAP_SOFT else "none"

    def alternatives(self, *, skip_best: bool, limit: int = 5) -> list[MappedAlternative]:
        """The candidates with any confidence (without the chosen one when one is)."""
        rest = self.ranked[1:] if skip_best else self.ranked
        return [MappedAlternative(name=s.name, confidence=round(s.confidence, 3))
                for s in rest if s.confidence > 0][:limit]


# -- the evidence -----------------------------------------------------------------------------


def _stem(word: str) -> str:
    """Light suffix stripping: enough for "treats"/"treated"/"treatment" to meet."""
    for suf in _SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            return word[: -len(suf)] + ("y" if suf in ("ies", "ied") else "")
    return word


def content_words(text: str) -> list[str]:
    words = _WORD.findall(normalize(text.replace("_", " ").replace("-", " ")))
    return list(dict.fromkeys(_stem(w) for w in words if w not in _STOP))


def _matched(value: list[str], other: list[str]) -> float:
    """How many of the value's words the other string has (fractional for near matches)."""
    total = 0.0
    for w in value:
        best = max((fuzz.ratio(w, u) / 100 for u in other), default=0.0)
        total += best if best >= WORD_MATCH else 0.0
    return total


def lexical(value: str, names: Iterable[str], description: str = "") -> float:
    """L(c): Dice against the best name, or the description's coverage of the value."""
    v = content_words(value)
    if not v:
        return 0.0
    best = 0.0
    for name in names:
        n = content_words(name)
        if n:
            best = max(best, min(1.0, 2 * _matched(v, n) / (len(v) + len(n))))
    d = content_words(description) if description else []
    if d:
        best = max(best, DESCRIPTION_WEIGHT * _matched(v, d) / len(v))
    return best


def _cosines(value: str, candidates: Sequence[Candidate], similarity: Similarity | None
             ) -> list[float]:
    """The best cosine of the value to each candidate's strings (one call for all)."""
    if similarity is None or not candidates:
        return [0.0] * len(candidates)
    texts = [[*c.names, *([c.description] if c.description else [])] for c in candidates]
    flat = [t for ts in texts for t in ts]
    sims = similarity(" ".join(value.replace("_", " ").split()), flat)
    if len(sims) != len(flat):  # no embedder, or it failed: no embedding evidence
        return [0.0] * len(candidates)
    out, at = [], 0
    for ts in texts:
        out.append(max(sims[at:at + len(ts)], default=0.0))
        at += len(ts)
    return out


def _margins(cos: list[float]) -> list[float]:
    """E(c): each cosine's margin over the best rival's (and the floor), on 0..1."""
    out = []
    for i, c in enumerate(cos):
        rival = max((x for j, x in enumerate(cos) if j != i), default=0.0)
        out.append(min(1.0, max(0.0, (c - max(EMBED_FLOOR, rival)) / EMBED_SPAN)))
    return out


def map_value(
    value: str, candidates: Sequence[Candidate], similarity: Similarity | None = None
) -> Mapping:
    """Score every candidate for `value` by the formula in the module docstring."""
    lex = [lexical(value, c.names, c.description) for c in candidates]
    emb = _margins(_cosines(value, candidates, similarity))
    words = [1 - (1 - W_LEXICAL * lx) * (1 - W_EMBED * e) for lx, e in zip(lex, emb, strict=True)]
    scored = []
    for i, c in enumerate(candidates):
        raw = 1 - (1 - words[i]) * (1 - W_STRUCTURE * c.structure)
        rival = max((w for j, w in enumerate(words) if j != i), default=0.0)
        scored.append(Scored(
            name=c.name, confidence=round(max(0.0, raw - AMBIGUITY * rival), 4),
            lexical=lex[i], embedding=emb[i], structure=c.structure, flipped=c.flipped,
        ))
    scored.sort(key=lambda s: (-s.confidence, s.name))
    return Mapping(value=value, ranked=tuple(scored))


# -- the graph's shape ------------------------------------------------------------------------


@dataclass
class _Ends:
    """Who a relation connects: the entities at each end and their types."""

    subjects: set[str]
    objects: set[str]
    subject_types: set[str]
    object_types: set[str]


_SHAPES: weakref.WeakKeyDictionary[KnowledgeGraph, tuple[tuple[int, int, int], dict[str, _Ends]]]
_SHAPES = weakref.WeakKeyDictionary()
_SHAPES_LOCK = threading.Lock()


def _shape(kg: KnowledgeGraph) -> dict[str, _Ends]:
    """Every relation's ends, computed once per graph version (a pass over the edges is
    too much to repeat for every query that names an unknown relation)."""
    version = (len(kg.relations), len(kg.entities), len(kg.schema))
    with _SHAPES_LOCK:
        hit = _SHAPES.get(kg)
        if hit is not None and hit[0] == version:
            return hit[1]
    ends: dict[str, _Ends] = {}
    for r in kg.relations:
        e = ends.setdefault(r.relation, _Ends(set(), set(), set(), set()))
        e.subjects.add(r.subject)
        e.objects.add(r.object)
        for eid, types in ((r.subject, e.subject_types), (r.object, e.object_types)):
            t = kg.entities[eid].type if eid in kg.entities else None
            if t:
                types.add(t)
    for name, e in ends.items():
        rt = kg.relation_type(name)
        e.subject_types |= {rt.subject_type} if rt.subject_type else set()
        e.object_types |= {rt.object_type} if rt.object_type else set()
    with _SHAPES_LOCK:
        _SHAPES[kg] = (version, ends)
    return ends


def _sides(e: _Ends, direction: Direction) -> tuple[set[str], set[str], set[str], set[str]]:
    """(wanted ends, their types, other ends, their types) for a constraint's direction."""
    if direction == Direction.SUBJECT:
        return e.subjects, e.subject_types, e.objects, e.object_types
    return e.objects, e.object_types, e.subjects, e.subject_types


def _fits(kg: KnowledgeGraph, e: _Ends, direction: Direction, object_id: str,
          target_type: str | None) -> bool:
    """Whether the relation, read in `direction`, can connect the target type to the
    constraint's object (an end, a kind of an end, or of an end's type)."""
    wanted, wanted_types, other, other_types = _sides(e, direction)
    object_ok = (object_id in other or bool(kg.descendants(object_id) & other)
                 or any(kg.has_type(object_id, t) for t in other_types))
    if not object_ok or target_type is None:
        return object_ok
    return target_type in wanted_types or any(kg.has_type(s, target_type) for s in wanted)


def _flip(direction: Direction) -> Direction:
    return Direction.OBJECT if direction == Direction.SUBJECT else Direction.SUBJECT


def _reads_inverse(value: str, name: str, inverse: str | None) -> bool:
    """Whether the value is the relation's inverse name ("treated_by" for `treats`) rather
    than its name: then the constraint is read from the other end."""
    if not inverse:
        return False
    v = normalize(value.replace("_", " "))
    to_inverse = fuzz.ratio(v, normalize(inverse.replace("_", " ")))
    return to_inverse >= WORD_MATCH * 100 and to_inverse > fuzz.ratio(v, normalize(name))


def relation_candidates(
    kg: KnowledgeGraph, rc: RelationConstraint, object_id: str | None, target_type: str | None
) -> list[Candidate]:
    """Every relation of the graph as a candidate for `rc.relation`, with its structural
    evidence when the object is an entity (`target_type`: the grounded one, or None).

    A relation is read from the other end (`flipped`) when the value is its inverse name,
    or when only that reading fits the graph: `treated_by(aspirin)` on a graph with
    `treats` (drug → symptom) wants what aspirin treats."""
    shape = _shape(kg)
    out: list[Candidate] = []
    fits: set[str] = set()
    for name in kg.relation_names():
        rt = kg.relation_type(name)
        inverse = rt.inverse.replace("_", " ") if rt.inverse else None
        flipped = _reads_inverse(rc.relation, rt.words, inverse)
        if object_id is not None:
            ahead = _flip(rc.direction) if flipped else rc.direction
            if _fits(kg, shape[name], ahead, object_id, target_type):
                fits.add(name)
            elif _fits(kg, shape[name], _flip(ahead), object_id, target_type):
                fits.add(name)
                flipped = not flipped
        out.append(Candidate(
            name=name, names=(rt.words, *rt.aliases, *([inverse] if inverse else [])),
            description=rt.description, flipped=flipped,
        ))
    return [replace(c, structure=1 / len(fits)) if c.name in fits else c for c in out]


def wanted_types(kg: KnowledgeGraph, relations: Iterable[RelationConstraint]) -> set[str]:
    """The types every required relation's wanted end has in the graph (empty: no
    structural evidence for a type)."""
    shape = _shape(kg)
    out: set[str] | None = None
    for rc in relations:
        if rc.polarity != Polarity.MUST or rc.relation not in shape:
            continue
        types = _sides(shape[rc.relation], rc.direction)[1]
        out = set(types) if out is None else out & types
    return out or set()


def type_candidates(kg: KnowledgeGraph, wanted: set[str]) -> list[Candidate]:
    """Every type in use as a candidate: its name and, when a type entity declares it, that
    entity's names and aliases; structural evidence from the types the relations want."""
    out = []
    for t in kg.types():
        ent = kg.entities.get(t)
        names = (t.replace("_", " "), *(ent.surface_forms() if ent else ()))
        out.append(Candidate(name=t, names=tuple(dict.fromkeys(names)),
                             structure=1 / len(wanted) if t in wanted else 0.0))
    return out


def field_candidates(fields: Iterable[str]) -> list[Candidate]:
    """Metadata fields as candidates: their names only (no structure: a field's values are
    not the graph's)."""
    return [Candidate(name=f, names=(f.replace("_", " "),)) for f in sorted(fields)]


# -- embedding similarity ---------------------------------------------------------------------

_VECTORS: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_VECTORS_LOCK = threading.Lock()
_VECTORS_MAX = 4096


def embedding_similarity(index: BackendReader) -> Similarity:
    """`similarity` from the index's embedder.  Catalog strings recur from query to query,
    so their vectors are kept (bounded, by model name and text); an embedder that cannot
    load or run gives no evidence (the dense leg reports the failure)."""

    def similarity(value: str, texts: list[str]) -> list[float]:
        try:
            embedder = index.embedder
            vecs = _vectors(embedder.name, [value, *texts], embedder.encode)
        except EmbeddingError:
            return []
        return [float(vecs[0] @ v) for v in vecs[1:]]

    return similarity


def _vectors(model: str, texts: list[str],
             encode: Callable[[Sequence[str]], np.ndarray]) -> list[np.ndarray]:
    """The vectors of `texts`, encoding only those not kept yet (least recently used go)."""
    unique = list(dict.fromkeys(texts))
    with _VECTORS_LOCK:
        known = {t: _VECTORS[(model, t)] for t in unique if (model, t) in _VECTORS}
    missing = [t for t in unique if t not in known]
    if missing:
        known.update(zip(missing, encode(missing), strict=True))
    with _VECTORS_LOCK:
        for t in unique:
            _VECTORS[(model, t)] = known[t]
            _VECTORS.move_to_end((model, t))
        while len(_VECTORS) > _VECTORS_MAX:
            _VECTORS.popitem(last=False)
    return [known[t] for t in texts]
