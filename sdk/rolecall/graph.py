"""`KnowledgeGraph`: entities, is-a taxonomy and typed relations on networkx.

It does three things for a search:

* **links** documents to entities: explicit ids in `metadata["entities"]`, else alias matches
  in the text (one Aho-Corasick pass over the document, whatever the number of aliases);
* **looks up** a value the rewriter produced (exact id/name, alias, fuzzy);
* **evaluates** the symbolic part of a grounded `RoleQuery` over the linked documents:
  type with is-a closure, relation constraints with direction, must-not, k hops.

Semantics, chosen so that a role is never confused with an association:

* A document is *about* the entities of its metadata; without metadata, the entities it
  names where a text states its subject — its title, or, when the title names none, the
  first sentence of a short text (at most `short_doc_words` words) — plus those it mentions
  at least `min_mentions` times.  Only entities a document is about answer relation
  constraints; a passing mention never does.
* `x` has type `T` when `T` is `x`'s type, or `T` is an ancestor of `x` or of its type on is-a.
* `s -r-> o` holds for a constraint on `o` when `s` (or an is-a ancestor of `s`: properties
  are inherited) reaches `o` or an is-a descendant of `o` (a headache is a pain) by at most
  `max_hops` edges of relation `r`.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field

from ._confusables import fold_confusables
from ._kg_files import (
    DroppedAlias,
    FileReport,
    LoadReport,
    ParsedFile,
    SkippedRow,
    generic_form,
    read_kg_file,
)
from .errors import KnowledgeGraphError
from .explain import ConstraintCheck
from .query import Direction, Polarity, RelationConstraint

__all__ = [
    "SHORT_DOC_WORDS", "DocLinks", "DroppedAlias", "Entity", "FileReport", "GraphVerdict",
    "KnowledgeGraph", "LoadReport", "Relation", "RelationType", "SkippedRow", "normalize",
    "split_constraints", "verdict_of",
]

_WS = re.compile(r"\s+")

#: A text of at most this many words is *short*: its first sentence states its subject.
#: Sixty words is a paragraph of three or four sentences, where the first sentence is a
#: quarter or more of what the text says, so an entity named there is what it is about and
#: not a passing mention — while a longer text's first sentence often names neighbours too
#: ("Naproxen is an NSAID, like ibuprofen, …"), and there `min_mentions` must speak.
SHORT_DOC_WORDS = 60
# The end of a text's first sentence: sentence punctuation before a space, or a line break.
_LEAD_END = re.compile(r"[.!?](?=\s|$)|\n")


def normalize(text: str) -> str:
    """Lowercase, strip accents, read lookalike letters of mixed-script words as Latin
    (`rolecall._confusables`), fold whitespace: the form names and aliases are matched in."""
    decomposed = unicodedata.normalize("NFKD", fold_confusables(text))
    ascii_ish = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WS.sub(" ", ascii_ish.replace("’", "'")).strip().lower()


class Entity(BaseModel):
    """A node: an id, a display name, a type name, aliases and is-a parents (entity ids)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    name: str = ""
    type: str | None = None
    aliases: list[str] = Field(default_factory=list)
    is_a: list[str] = Field(default_factory=list)

    def surface_forms(self) -> list[str]:
        return [s for s in {self.id.replace("_", " "), self.name, *self.aliases} if s.strip()]


class Relation(BaseModel):
    """A typed edge `subject -relation-> object`, with an optional source for the fact."""

    model_config = ConfigDict(extra="ignore")

    subject: str = Field(min_length=1)
    relation: str = Field(min_length=1)
    object: str = Field(min_length=1)
    source: str = ""


class RelationType(BaseModel):
    """What a relation name means, declared in a KG file (`{"kind": "relation", "name": ...}`)
    or derived from the name alone (`KnowledgeGraph.relation_type`).

    Everything a rewriter knows about how people express a relation comes from here, so the
    defaults hold no domain's words: the demo's `treats` / `causes` phrases are declared in
    the demo's own KG file.
    """

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    #: other names of the relation ("used to treat" for `used_for`)
    aliases: list[str] = Field(default_factory=list)
    #: phrases before the object that express it ("relieves", "for")
    cues: list[str] = Field(default_factory=list)
    #: words after the object that express it ("headache *medicine*")
    suffix_cues: list[str] = Field(default_factory=list)
    #: "without X" / "non-X" negate this relation when X is its object ("without
    #: drowsiness" = must not cause drowsiness)
    absence: bool = False
    #: the name of the same relation read from the object's side (`treated_by`)
    inverse: str | None = None
    description: str = ""
    #: the entity types of its ends, when declared
    subject_type: str | None = None
    object_type: str | None = None

    @property
    def words(self) -> str:
        """The name as words: `used_for` → "used for"."""
        return self.name.replace("_", " ").replace("-", " ").strip()


@dataclass
class DocLinks:
    """What one document is linked to: entities it is about, and mention counts."""

    about: list[str] = field(default_factory=list)
    mentions: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"about": self.about, "mentions": self.mentions}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DocLinks:
        return cls(about=list(data.get("about", [])), mentions=dict(data.get("mentions", {})))


@dataclass(frozen=True)
class GraphVerdict:
    """The graph's answer for one query: allowed docs (None = no constraint) and blocked docs
    with the reason for each.

    Frozen, sets included: a backend memoises a verdict per generation and every search with
    the same constraints shares it, so nothing downstream may copy or change it (at a million
    documents a copy of the sets costs more than the search)."""

    allowed: frozenset[int] | None
    blocked: Mapping[int, str]
    constraints: list[str]
    #: the keys of `blocked`, as a set the legs can test and share
    blocked_ids: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        if self.allowed is not None and not isinstance(self.allowed, frozenset):
            object.__setattr__(self, "allowed", frozenset(self.allowed))
        object.__setattr__(self, "blocked_ids", frozenset(self.blocked))

    @property
    def active(self) -> bool:
        return self.allowed is not None or bool(self.blocked)


@dataclass
class _Matcher:
    automaton: Any
    #: normalized surface form -> entity ids
    forms: dict[str, list[str]]


class KnowledgeGraph:
    """Entities and relations, with alias matching and symbolic evaluation.

    Build it from files (`KnowledgeGraph.load(paths)`) or in code (`add_entity`,
    `add_relation`).  Formats, chosen by file name:

    * `*.jsonl` — one object per line, `{"kind": "entity", "id", "name", "type", "aliases",
      "is_a"}`, `{"kind": "relation", "subject", "relation", "object", "source"?}` (an edge;
      relations must name declared entities) or `{"kind": "relation", "name", "aliases"?,
      "cues"?, "suffix_cues"?, "absence"?, "inverse"?, "description"?, "subject_type"?,
      "object_type"?}` (what a relation name means: `RelationType`).
    * `*.csv` — entities, header `id,name,type,aliases,is_a` (lists separated by `|`).
    * `*.tsv` — triples `subject<TAB>relation<TAB>object`; a header row is detected by its
      shape or declared (`load(header=...)`, `_kg_files.decide_tsv_header`), and names the
      ends' types (`drug<TAB>relation<TAB>condition`); an end that is not declared elsewhere
      becomes an entity named by it.

    `load` keeps what it read in `load_report`, and drops aliases that would match almost any
    text (`the`, `it`, one letter, a number), reporting each.
    """

    def __init__(self, *, min_mentions: int = 2, short_doc_words: int = SHORT_DOC_WORDS) -> None:
        self.entities: dict[str, Entity] = {}
        self.relations: list[Relation] = []
        #: declared relation types by name (a relation in use need not be declared)
        self.schema: dict[str, RelationType] = {}
        self._edges: nx.MultiDiGraph = nx.MultiDiGraph()
        self._taxonomy: nx.DiGraph = nx.DiGraph()  # child -> parent
        self.min_mentions = min_mentions
        self.short_doc_words = short_doc_words
        #: what `load` read, file by file (empty for a graph built in code)
        self.load_report = LoadReport()
        self._matcher: _Matcher | None = None
        self._names: dict[str, list[str]] = {}  # cached types() / relation_names()
        self._closure: dict[tuple[str, str], frozenset[str]] = {}  # cached is-a closures

    # -- construction -------------------------------------------------------------------------

    def add_entity(self, entity: Entity | dict[str, Any]) -> Entity:
        ent = entity if isinstance(entity, Entity) else Entity.model_validate(entity)
        if not ent.name:
            ent = ent.model_copy(update={"name": ent.id})
        self.entities[ent.id] = ent
        self._taxonomy.add_node(ent.id)
        for parent in ent.is_a:
            self._taxonomy.add_edge(ent.id, parent)
        self._matcher = None
        self._names.clear()
        self._closure.clear()
        return ent

    def add_relation(self, relation: Relation | dict[str, Any], *, create: bool = False) -> None:
        rel = relation if isinstance(relation, Relation) else Relation.model_validate(relation)
        for end in (rel.subject, rel.object):
            if end not in self.entities:
                if not create:
                    raise KnowledgeGraphError(
                        f"relation names unknown entity {end!r}; declare it as an entity first"
                    )
                self.add_entity(Entity(id=end, name=end))
        self.relations.append(rel)
        self._edges.add_edge(rel.subject, rel.object, key=rel.relation, source=rel.source)
        self._names.clear()

    def declare_relation(self, relation_type: RelationType | dict[str, Any]) -> RelationType:
        """Declare what a relation name means (aliases, cues, inverse, description, end
        types); declaring a name twice merges the lists and keeps the later scalars."""
        rt = (relation_type if isinstance(relation_type, RelationType)
              else RelationType.model_validate(relation_type))
        old = self.schema.get(rt.name)
        if old is not None:
            merged = {k: list(dict.fromkeys([*getattr(old, k), *getattr(rt, k)]))
                      for k in ("aliases", "cues", "suffix_cues")}
            scalars = {k: v for k, v in rt.model_dump(exclude_unset=True).items()
                       if k not in merged and k != "name"}
            rt = old.model_copy(update={**merged, **scalars})
        self.schema[rt.name] = rt
        self._names.clear()
        return rt

    def relation_type(self, name: str) -> RelationType:
        """The declared type of a relation name, else one that knows only its name."""
        return self.schema.get(name) or RelationType(name=name)

    @classmethod
    def load(
        cls, paths: Iterable[str | Path], *, min_mentions: int = 2,
        short_doc_words: int = SHORT_DOC_WORDS, header: bool | None = None,
    ) -> KnowledgeGraph:
        """Load entity and relation files (see the class docstring for the formats).

        `header` says whether CSV and TSV files start with a header row: True, False, or
        None to detect it (a TSV by its shape; an entity CSV must have one unless False).
        What was read is kept in `load_report`; aliases that would match almost any text are
        dropped, listed there, and summed up in one `UserWarning` per file.
        """
        kg = cls(min_mentions=min_mentions, short_doc_words=short_doc_words)
        files: list[ParsedFile] = []
        for raw in paths:
            path = Path(raw)
            if not path.exists():
                raise KnowledgeGraphError("no such knowledge-graph file", path=path)
            files.append(read_kg_file(path, header))
        from ._kg_load import Loader, dropped_warning  # built on this module: imported late

        loader = Loader(kg, files)
        # Entities first, headers once every entity is known, edges last: so that files may
        # come in any order.
        loader.declarations()
        loader.decide_headers(header)
        loader.relations()
        kg._check_taxonomy()
        loader.note_unmatchable()
        kg.load_report = LoadReport(files=loader.reports)
        for rep in loader.reports:
            if rep.aliases_dropped:
                warnings.warn(dropped_warning(rep), UserWarning, stacklevel=2)
        return kg

    def _check_taxonomy(self) -> None:
        unknown = [n for n in self._taxonomy.nodes if n not in self.entities]
        if unknown:
            raise KnowledgeGraphError(
                f"is_a names unknown entities {sorted(unknown)[:5]}; declare them as entities"
            )

    # -- serialisation (the index stores the graph it was built with) ---------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "entities": [e.model_dump() for e in self.entities.values()],
            "relations": [r.model_dump() for r in self.relations],
            "schema": [t.model_dump(exclude_defaults=True) for t in self.schema.values()],
            "min_mentions": self.min_mentions,
            "short_doc_words": self.short_doc_words,
            **({"load_report": self.load_report.model_dump(mode="json")}
               if self.load_report.files else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KnowledgeGraph:
        # Keys added later are absent from older indexes.  Their documents keep the links they
        # were built with; only documents added to them later get the lead rule's default.
        kg = cls(min_mentions=int(data.get("min_mentions", 2)),
                 short_doc_words=int(data.get("short_doc_words", SHORT_DOC_WORDS)))
        for e in data.get("entities", []):
            kg.add_entity(Entity.model_validate(e))
        for r in data.get("relations", []):
            kg.add_relation(Relation.model_validate(r), create=True)
        for t in data.get("schema", []):  # absent from indexes written before it existed
            kg.declare_relation(RelationType.model_validate(t))
        if "load_report" in data:
            kg.load_report = LoadReport.model_validate(data["load_report"])
        return kg

    def __len__(self) -> int:
        return len(self.entities)

    # -- taxonomy ------------------------------------------------------------------------------

    def ancestors(self, entity_id: str) -> set[str]:
        """Is-a ancestors (not including the entity itself)."""
        key = ("up", entity_id)
        if key not in self._closure:
            self._closure[key] = frozenset(
                nx.descendants(self._taxonomy, entity_id) if entity_id in self._taxonomy else ()
            )
        return set(self._closure[key])

    def descendants(self, entity_id: str) -> set[str]:
        """Entities that are (transitively) a kind of `entity_id`."""
        key = ("down", entity_id)
        if key not in self._closure:
            self._closure[key] = frozenset(
                nx.ancestors(self._taxonomy, entity_id) if entity_id in self._taxonomy else ()
            )
        return set(self._closure[key])

    def has_type(self, entity_id: str, type_name: str) -> bool:
        ent = self.entities.get(entity_id)
        if ent is None:
            return False
        if type_name in (ent.type, entity_id):
            return True
        closure = self.ancestors(entity_id)
        if ent.type:
            closure |= {ent.type} | self.ancestors(ent.type)
        return type_name in closure

    def types(self) -> list[str]:
        """Type names in use (entity `type` values), most frequent first."""
        if "types" not in self._names:
            # "type" is the meta-type of entities that name a type; it is not itself wanted.
            counts = Counter(
                e.type for e in self.entities.values() if e.type and e.type != "type"
            )
            self._names["types"] = [t for t, _ in counts.most_common()]
        return list(self._names["types"])

    def relation_names(self) -> list[str]:
        """Relation names in use, most frequent first."""
        if "relations" not in self._names:
            counts = Counter(r.relation for r in self.relations)
            self._names["relations"] = [r for r, _ in counts.most_common()]
        return list(self._names["relations"])

    # -- alias matching --------------------------------------------------------------------------

    def _build_matcher(self) -> _Matcher:
        import ahocorasick  # pyahocorasick; a core dependency

        forms: dict[str, list[str]] = defaultdict(list)
        for ent in self.entities.values():
            for form in ent.surface_forms():
                key = normalize(form)
                # A form that would match almost any text ("the", "it", "2") never links: a
                # graph built in code gets the protection `load` gives files, silently.
                if generic_form(key) is None and ent.id not in forms[key]:
                    forms[key].append(ent.id)
        automaton = ahocorasick.Automaton()
        for key in forms:
            automaton.add_word(key, key)
        if forms:
            automaton.make_automaton()
        return _Matcher(automaton=automaton, forms=dict(forms))

    @property
    def matcher(self) -> _Matcher:
        if self._matcher is None:
            self._matcher = self._build_matcher()
        return self._matcher

    def find_mentions(self, text: str) -> list[tuple[str, int, int, str]]:
        """Entity mentions in `text`: (entity_id, start, end, surface) in the normalized text.

        Whole words only; overlapping matches resolve to the longest (leftmost on ties), so
        "back pain" links `back_pain`, not `pain`.
        """
        m = self.matcher
        if not m.forms:
            return []
        norm = normalize(text)
        spans: list[tuple[int, int, str]] = []
        for end, key in m.automaton.iter(norm):
            start = end - len(key) + 1
            before = norm[start - 1] if start > 0 else " "
            after = norm[end + 1] if end + 1 < len(norm) else " "
            if before.isalnum() or after.isalnum():
                continue
            spans.append((start, end + 1, key))
        spans.sort(key=lambda s: (-(s[1] - s[0]), s[0]))
        taken: list[tuple[int, int]] = []
        out: list[tuple[str, int, int, str]] = []
        for start, end, key in spans:
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            for eid in m.forms[key]:
                out.append((eid, start, end, key))
        out.sort(key=lambda t: t[1])
        return out

    def link(self, text: str, title: str = "", explicit: Iterable[str] = ()) -> DocLinks:
        """Link one document: explicit ids win; else the entities it names in its title; a
        document whose title names none is about what its first sentence names (when it is
        short) and what it mentions `min_mentions` times."""
        counts = Counter(eid for eid, *_ in self.find_mentions(f"{title}\n{text}"))
        explicit_ids = [e for e in explicit if e in self.entities]
        if explicit_ids:
            about = explicit_ids
        else:
            placed = self._placed(text, title)
            # A title that names an entity states the subject: the text's other names, however
            # often repeated, are neighbours (Stravinsky's page names The Rite of Spring
            # twice and is not about it).  Only without one do repeated mentions decide.
            titled = bool(title) and bool(self.find_mentions(title))
            about = sorted(eid for eid, n in counts.items()
                           if eid in placed or (not titled and n >= self.min_mentions))
        return DocLinks(about=about, mentions=dict(counts))

    def _placed(self, text: str, title: str) -> set[str]:
        """Entities named where a document states its subject: its title; or, when the title
        names none and the text is short (`SHORT_DOC_WORDS`), the text's first sentence.

        The lead stands in for a title that is missing or names no entity; where the title
        does name one, the lead's other entities are neighbours ("Unlike X, …")."""
        placed = {eid for eid, *_ in self.find_mentions(title)} if title else set()
        # split(maxsplit=n) stops after n words: a long text is not split all the way.
        if not placed and len(text.split(maxsplit=self.short_doc_words)) <= self.short_doc_words:
            placed = {eid for eid, *_ in self.find_mentions(_lead(text))}
        return placed

    # -- lookup --------------------------------------------------------------------------------

    def lookup(self, value: str, *, fuzzy_cutoff: float = 88.0) -> list[tuple[str, str, float]]:
        """Candidate entities for a value: [(entity_id, method, confidence)], best first."""
        key = normalize(value)
        if not key:
            return []
        if key in self.entities:
            return [(key, "exact", 1.0)]
        forms = self.matcher.forms
        for candidate_key in (key, key.replace("_", " ")):
            if candidate_key in forms:
                ids = forms[candidate_key]
                method = "exact" if any(
                    normalize(self.entities[i].name) == candidate_key for i in ids
                ) else "alias"
                conf = 1.0 if len(ids) == 1 else 1.0 / len(ids)
                return [(i, method, conf) for i in ids]
        from rapidfuzz import fuzz, process

        found: dict[str, float] = {}
        for form, score, _ in process.extract(
            key, list(forms), scorer=fuzz.WRatio, limit=5, score_cutoff=fuzzy_cutoff
        ):
            for eid in forms[form]:
                found[eid] = max(found.get(eid, 0.0), score / 100.0 * 0.9)
        return sorted(((e, "fuzzy", c) for e, c in found.items()), key=lambda t: -t[2])

    # -- evaluation ----------------------------------------------------------------------------

    def _reach(self, start: str, relation: str, max_hops: int, reverse: bool) -> set[str]:
        """Entities reachable from `start` (or its ancestors) by ≤ max_hops `relation` edges."""
        frontier = {start} | self.ancestors(start)
        seen: set[str] = set()
        for _ in range(max_hops):
            nxt: set[str] = set()
            for node in frontier:
                if node not in self._edges:
                    continue
                edges = (
                    self._edges.in_edges(node, keys=True)
                    if reverse
                    else self._edges.out_edges(node, keys=True)
                )
                for u, v, key in edges:
                    if key == relation:
                        nxt.add(u if reverse else v)
            nxt -= seen
            seen |= nxt
            frontier = nxt
            if not frontier:
                break
        return seen

    def holds(self, entity_id: str, rc: RelationConstraint, object_id: str) -> bool:
        """Whether `entity_id` plays the constraint's role towards `object_id`."""
        targets = {object_id} | self.descendants(object_id)
        reached = self._reach(
            entity_id, rc.relation, rc.max_hops, reverse=rc.direction == Direction.OBJECT
        )
        return bool(reached & targets)

    def evaluate(
        self,
        links: list[DocLinks],
        *,
        target_type: str | None,
        relations: list[tuple[RelationConstraint, str]],
        entity_docs: dict[str, list[int]] | None = None,
    ) -> GraphVerdict:
        """Which documents the symbolic part allows and which it blocks (with the reason).

        `relations` pairs each constraint with the entity id its object was grounded to;
        ungrounded constraints must not be passed (they are reported, never enforced).
        """
        musts, nots, constraints = split_constraints(target_type, relations)
        if not constraints:
            return GraphVerdict(allowed=None, blocked={}, constraints=[])
        if entity_docs is None:
            entity_docs = invert_links(links)

        def candidate(eid: str) -> bool:
            return target_type is None or self.has_type(eid, target_type)

        candidates = [e for e in entity_docs if e in self.entities and candidate(e)]
        good = [e for e in candidates if all(self.holds(e, rc, o) for rc, o in musts)]
        blocking = [(f"{e} {rc.relation} {o}", entity_docs[e])
                    for rc, o in nots for e in candidates if self.holds(e, rc, o)]
        allowed = (frozenset().union(*(entity_docs[e] for e in good))
                   if target_type or musts else None)
        return verdict_of(allowed, blocking, constraints)

    def explain_doc(
        self,
        doc_links: DocLinks,
        *,
        target_type: str | None,
        relations: list[tuple[RelationConstraint, str]],
    ) -> list[ConstraintCheck]:
        """Per-constraint verdicts for one document, with the entity that decided each."""
        checks: list[ConstraintCheck] = []
        about = doc_links.about
        subjects = [e for e in about if target_type is None or self.has_type(e, target_type)]
        if target_type:
            checks.append(
                ConstraintCheck(
                    constraint=f"type {target_type}",
                    kind="type",
                    satisfied=bool(subjects),
                    evidence=f"about {', '.join(subjects)}" if subjects
                    else (f"about {', '.join(about)}" if about else "no linked entity"),
                )
            )
        for rc, o in relations:
            holders = [e for e in subjects if self.holds(e, rc, o)]
            ok = bool(holders) if rc.polarity == Polarity.MUST else not holders
            if holders:
                evidence = f"{', '.join(holders)} {rc.relation} {o}"
            elif subjects:
                evidence = f"no {rc.relation} {o} edge from {', '.join(subjects)}"
            else:
                evidence = "no linked entity of the wanted type"
            checks.append(
                ConstraintCheck(
                    constraint=describe_relation(rc, o),
                    kind="relation",
                    satisfied=ok,
                    evidence=evidence,
                )
            )
        return checks


def split_constraints(
    target_type: str | None, relations: list[tuple[RelationConstraint, str]]
) -> tuple[list[tuple[RelationConstraint, str]], list[tuple[RelationConstraint, str]], list[str]]:
    """(must relations, must-not relations, every constraint described) — the shape of a
    verdict, shared by every backend that computes one."""
    musts = [(rc, o) for rc, o in relations if rc.polarity == Polarity.MUST]
    nots = [(rc, o) for rc, o in relations if rc.polarity == Polarity.MUST_NOT]
    constraints = ([f"type {target_type}"] if target_type else []) + [
        describe_relation(rc, o) for rc, o in relations
    ]
    return musts, nots, constraints


def verdict_of(
    allowed: frozenset[int] | None, blocking: Sequence[tuple[str, Iterable[int]]],
    constraints: list[str],
) -> GraphVerdict:
    """A verdict from the allowed documents and, in order, (reason, documents) of each
    blocking entity: a document keeps the first reason that blocks it, and is never allowed.
    Built a whole posting list at a time (`dict.fromkeys`, set difference), never document by
    document in Python: at a million documents one pattern blocks hundreds of thousands."""
    blocked: dict[int, str] = {}
    for reason, docs in reversed(blocking):  # the first reason written last, so it wins
        blocked.update(dict.fromkeys(docs, reason))
    if allowed is not None and blocked:
        allowed = allowed.difference(blocked)
    return GraphVerdict(allowed=allowed, blocked=blocked, constraints=constraints)


def describe_relation(rc: RelationConstraint, object_id: str) -> str:
    neg = "must not" if rc.polarity == Polarity.MUST_NOT else "must"
    arrow = f"{rc.relation} {object_id}" if rc.direction == Direction.SUBJECT else (
        f"be {rc.relation} by {object_id}"
    )
    hops = f" (≤{rc.max_hops} hops)" if rc.max_hops > 1 else ""
    return f"{neg} {arrow}{hops}"


def invert_links(links: list[DocLinks]) -> dict[str, list[int]]:
    """entity id -> ordinals of the documents about it."""
    inv: dict[str, list[int]] = defaultdict(list)
    for ordinal, dl in enumerate(links):
        for e in dl.about:
            inv[e].append(ordinal)
    return dict(inv)


def _lead(text: str) -> str:
    """A text's first sentence (all of it when it has one sentence)."""
    text = text.strip()
    end = _LEAD_END.search(text)
    return text[: end.end()] if end else text
