"""The relation cues of one knowledge graph: what the rule rewriter reads as a relation.

Nothing here knows a domain.  Every cue comes from the graph itself:

* **declared** — a relation type's `cues`, `suffix_cues`, `aliases` and `absence` flag
  (`{"kind": "relation", "name": ...}` lines of a KG file, `KnowledgeGraph.declare_relation`);
* **derived from the name** with generic English verb morphology: `treats` → "treats",
  "treat", "treating", "treated"; `depends_on` → "depends on", "depend on", "depending
  on", "depended on"; `starring` → "starring", "star", "stars", "starred"; a name whose
  first word is a participle or a noun before "of" / "by" (`directed_by`, `used_for`,
  `part_of`) is read only as itself ("directed by"), since inflecting it would change or
  reverse its meaning ("directing" is the other end's role);
* **generic patterns** resolved through the graph's structure, each only where the graph
  leaves one reading (`KGCues.relations_into`): "for X", "in the X <X's type>" ("in the
  comedy genre") and the compound "X <type>" ("comedy film", "anxiety drugs") express the
  one relation that has X as an object (and, for the compound, subjects of that type).
  A phrase that some relation declares or derives is never read generically: a schema
  that says what "for" means overrides the guess.

The tables are built once per graph object and cached (`kg_cues`), so that a rewrite stays
about a millisecond; they are rebuilt when the graph grows or its schema changes.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..graph import KnowledgeGraph

__all__ = ["GENERIC_PHRASES", "KGCues", "kg_cues", "name_cues"]

#: Prepositions that express *some* relation into their object; which one, the graph says.
#: The flag: the object must be followed by the name of its own type ("in the comedy
#: genre"), because a bare "in X" is mostly place or time, not a relation.
GENERIC_PHRASES: dict[str, bool] = {"for": False, "in": True, "of": True}

_VOWELS = "aeiou"
#: First words of names that are English auxiliaries, with their forms: grammar, not domain.
_AUXILIARIES: dict[str, tuple[str, ...]] = {
    "has": ("has", "have", "had", "having"),
    "have": ("have", "has", "had", "having"),
    "is": ("is",),
    "are": ("are",),
    "was": ("was",),
}
#: A noun before these heads the name ("part_of", "member_of"); a participle before "by"
#: is passive ("directed_by").  Either way the name is read only as written.
_FIXED_AFTER = frozenset({"of", "by"})
#: Monosyllables ending in one vowel and one of these consonants double it ("star" →
#: "starring"); the rest do not ("treat" → "treating", "fix" → "fixing").
_CVC_RE = re.compile(r"^[^aeiou]*[aeiou][bdgklmnprt]$")


def name_cues(name: str) -> list[str]:
    """The phrases that express a relation by its name alone (see the module docstring)."""
    words = [w for w in re.split(r"[\s_\-]+", name.strip().lower()) if w]
    if not words:
        return []
    head, rest = words[0], words[1:]
    tail = "".join(" " + w for w in rest)
    return list(dict.fromkeys(form + tail for form in _head_forms(head, rest)))


def _head_forms(word: str, rest: Sequence[str]) -> list[str]:
    """The name's first word and, when it reads as a verb, its inflections."""
    if word in _AUXILIARIES:
        return list(_AUXILIARIES[word])
    if (rest and rest[0] in _FIXED_AFTER) or len(word) < 3 or not word.isalpha():
        return [word]
    if word.endswith("ed"):
        return [word]  # a participle ("composed", "used for"): its other forms change voice
    bases, confident = _bases(word)
    forms = [word]
    for base in bases:
        if confident:
            forms.append(base)
        # An "-ing" name is its own -ing form: re-deriving it from a guessed base only
        # adds misspellings.
        ing = [] if word.endswith("ing") else [_ing_form(base)]
        forms += [_s_form(base), *ing, _ed_form(base)]
    return forms


def _bases(word: str) -> tuple[list[str], bool]:
    """The verb's base form(s) and whether it is certain (then the base is a cue too).

    Without a lexicon an "-ing" stem is ambiguous ("featur-ing" lost an e, "treat-ing" did
    not): both candidates are inflected, and neither is used bare, so that a wrong base
    ("featur", "com") is a form no text contains rather than a cue that fires."""
    if word.endswith("ing"):
        stem = word[:-3]
        if len(stem) < 3 or not any(c in _VOWELS for c in stem):
            return [], False  # "bring", "sing": not a verb's -ing form
        if stem[-1] == stem[-2] and stem[-1] not in _VOWELS and _CVC_RE.match(stem[:-1]):
            return [stem[:-1]], True  # "starr-ing" → "star"
        if stem[-1] not in _VOWELS and (stem[-2] not in _VOWELS or stem[-3] in _VOWELS):
            return [stem], True  # "treat-ing", "cast-ing": no e was dropped
        return [stem + "e", stem], False
    if word.endswith("ies") and len(word) > 4:
        return [word[:-3] + "y"], True  # "carries"
    if word.endswith(("ss", "us", "is")) or not word.endswith("s"):
        return [word], True  # a base form ("cite"), or not a verb's -s form ("address")
    if word.endswith(("sses", "shes", "ches", "xes", "zzes", "oes")):
        return [word[:-2]], True  # "teaches", "fixes"
    return [word[:-1]], True  # "treats", "causes"


def _s_form(base: str) -> str:
    if base.endswith(("s", "x", "z", "ch", "sh", "o")):
        return base + "es"
    if base.endswith("y") and len(base) > 1 and base[-2] not in _VOWELS:
        return base[:-1] + "ies"
    return base + "s"


def _ing_form(base: str) -> str:
    if base.endswith("ie"):
        return base[:-2] + "ying"
    if base.endswith("e") and not base.endswith(("ee", "ye", "oe")):
        return base[:-1] + "ing"
    if _CVC_RE.match(base):
        return base + base[-1] + "ing"
    return base + "ing"


def _ed_form(base: str) -> str:
    if base.endswith("e"):
        return base + "d"
    if base.endswith("y") and len(base) > 1 and base[-2] not in _VOWELS:
        return base[:-1] + "ied"
    if _CVC_RE.match(base):
        return base + base[-1] + "ed"
    return base + "ed"


def _clean(phrases: Iterable[str]) -> list[str]:
    """Lowercased, whitespace-folded phrases, in order, without repeats or blanks."""
    out = (re.sub(r"\s+", " ", p.replace("_", " ")).strip().lower() for p in phrases)
    return list(dict.fromkeys(p for p in out if p))


@dataclass
class KGCues:
    """Everything the rule rewriter reads relations by, for one graph (plus the rewriter's
    own overrides)."""

    #: (phrase, relation) pairs, longest phrase first (ties in relation order); a phrase
    #: before the object expresses the relation
    phrases: list[tuple[str, str]]
    #: relation -> words that express it after the object ("allergy *medicine*")
    suffixes: dict[str, frozenset[str]]
    #: relations that "without X" / "no X" / "non-X" negate when X is their object
    absence: tuple[str, ...]
    #: relation -> the entities it has as objects
    objects: dict[str, frozenset[str]]
    #: relation -> the entities it has as subjects
    subjects: dict[str, frozenset[str]]
    #: generic phrases some relation claims: the generic reading leaves them alone
    claimed: frozenset[str]
    #: suffix words some relation declares: the generic compound leaves them alone
    claimed_suffixes: frozenset[str]
    #: entities that name a type or a class ("film", "antihistamine"): the heads of the
    #: compound "X <type>"
    type_like: frozenset[str] = frozenset()
    _into: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _subject_types: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)

    @property
    def generic(self) -> list[tuple[str, bool]]:
        """The generic phrases no relation claims, with their own-type flag."""
        return [(p, own) for p, own in GENERIC_PHRASES.items() if p not in self.claimed]

    def relations_into(self, kg: KnowledgeGraph, entity_id: str) -> tuple[str, ...]:
        """The relations that can have this entity as object (itself, a kind of it or its
        kind is one, as for a cue's object): the generic patterns need exactly one."""
        if entity_id not in self._into:
            near = kg.descendants(entity_id) | kg.ancestors(entity_id) | {entity_id}
            self._into[entity_id] = tuple(r for r, objs in self.objects.items() if near & objs)
        return self._into[entity_id]

    def has_subjects_of_type(self, kg: KnowledgeGraph, relation: str, type_id: str) -> bool:
        """Whether some subject of the relation has this type (a drug "treats", a film
        "has_genre"): the compound "X <type>" needs the type to be the relation's subject."""
        key = (relation, type_id)
        if key not in self._subject_types:
            self._subject_types[key] = any(
                kg.has_type(s, type_id) for s in self.subjects.get(relation, ())
            )
        return self._subject_types[key]

    def with_overrides(
        self,
        relation_cues: Mapping[str, Sequence[str]],
        suffix_cues: Mapping[str, Sequence[str]],
        absence_relations: Sequence[str],
    ) -> KGCues:
        """These cues with a rewriter's own added: lists are merged, the graph's first.
        Relations the graph neither uses nor declares are left out (they have no objects)."""
        if not (relation_cues or suffix_cues or absence_relations):
            return self
        known = set(self.objects)
        extra = [(p, r) for r, ps in relation_cues.items() if r in known for p in _clean(ps)]
        phrases = _sorted_phrases([*self.phrases, *extra])
        suffixes = dict(self.suffixes)
        for rel, words in suffix_cues.items():
            if rel in known:
                suffixes[rel] = suffixes.get(rel, frozenset()) | frozenset(_clean(words))
        absence = tuple(dict.fromkeys(
            [*self.absence, *(r for r in absence_relations if r in known)]))
        return KGCues(
            phrases=phrases, suffixes=suffixes, absence=absence, objects=self.objects,
            subjects=self.subjects, claimed=frozenset(p for p, _ in phrases),
            claimed_suffixes=frozenset(w for ws in suffixes.values() for w in ws),
            type_like=self.type_like,
        )


def _sorted_phrases(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    # Longest first, so that "relief for" is read before "for"; the sort is stable, so
    # equal lengths keep the relations' order.
    return sorted(dict.fromkeys(pairs), key=lambda t: -len(t[0]))


def _build(kg: KnowledgeGraph) -> KGCues:
    """The cue tables of a graph: its declared relation types first (in declaration
    order), then the relations it only uses (most frequent first)."""
    names = list(dict.fromkeys([*kg.schema, *kg.relation_names()]))
    objects: dict[str, set[str]] = {n: set() for n in names}
    subjects: dict[str, set[str]] = {n: set() for n in names}
    for r in kg.relations:
        objects[r.relation].add(r.object)
        subjects[r.relation].add(r.subject)
    pairs: list[tuple[str, str]] = []
    suffixes: dict[str, frozenset[str]] = {}
    absence: list[str] = []
    for name in names:
        rt = kg.relation_type(name)
        derived = [c for n in (name, *rt.aliases) for c in name_cues(n)]
        pairs += [(p, name) for p in _clean([*rt.cues, *derived])]
        if rt.suffix_cues:
            suffixes[name] = frozenset(_clean(rt.suffix_cues))
        if rt.absence:
            absence.append(name)
    phrases = _sorted_phrases(pairs)
    return KGCues(
        phrases=phrases,
        suffixes=suffixes,
        absence=tuple(absence),
        objects={n: frozenset(o) for n, o in objects.items()},
        subjects={n: frozenset(s) for n, s in subjects.items()},
        claimed=frozenset(p for p, _ in phrases),
        claimed_suffixes=frozenset(w for ws in suffixes.values() for w in ws),
        type_like=_type_like(kg),
    )


def _type_like(kg: KnowledgeGraph) -> frozenset[str]:
    types = set(kg.types())
    named = {e.id for e in kg.entities.values() if e.type == "type" or e.id in types}
    return frozenset(named | {p for e in kg.entities.values() for p in e.is_a})


def _signature(kg: KnowledgeGraph) -> tuple[object, ...]:
    """What the tables depend on, cheap to compare: a graph only grows (entities and edges
    are added, declarations merged), so sizes and the declared lists' lengths tell a change."""
    schema = tuple(
        (rt.name, len(rt.cues), len(rt.suffix_cues), len(rt.aliases), rt.absence)
        for rt in kg.schema.values()
    )
    return len(kg.entities), len(kg.relations), schema


# Keyed on the graph object itself and dropped with it: an id() could be reused by a new
# graph after the old one is collected.
_CACHE: weakref.WeakKeyDictionary[KnowledgeGraph, tuple[tuple[object, ...], KGCues]] = (
    weakref.WeakKeyDictionary()
)


def kg_cues(kg: KnowledgeGraph) -> KGCues:
    """The graph's cue tables, built on first use and whenever the graph has changed."""
    sig = _signature(kg)
    hit = _CACHE.get(kg)
    if hit is not None and hit[0] == sig:
        return hit[1]
    cues = _build(kg)
    _CACHE[kg] = (sig, cues)
    return cues
