"""Grounding one document's reply: keep only what the document itself says.

**Entities.** Kept when the name occurs in the document (whole words, folded as `text.fold`
says; a plural `s` either way is the same name) and is a name, not a copied phrase (at most
`MAX_NAME_WORDS` words); an alias is kept when it occurs too.  With a schema that lists
types, an entity of another type keeps no type, and is dropped unless a kept triple gives it
one (the relation's end type).

**Triples**, checked in this order (`report.DROP_REASONS` names each):

1. the relation is the schema's (when the schema lists relations; else any name, snake_cased);
2. there is evidence, and it is a quotation of the document: at least two words, the parts
   between ellipses found in order;
3. the evidence names the object (a quotation that does not states some other fact);
4. the evidence does not negate the object: `not`, `no`, `never`, `without`, … among the
   four words before it, `non-` on it or `-free` after it ("does not cause drowsiness", "a
   non-drowsy antihistamine") — the confusion rolecall exists to avoid, and one a small
   model makes;
5. both ends' names occur in the document, and are names (at most `MAX_NAME_WORDS` words);
6. the ends are two entities;
7. each end's type is the one the relation takes (an end with no type takes the relation's).

**About.** The document is about the subjects of its kept triples and the entities its title
names (its first sentence's, when the title names none) — the rule `KnowledgeGraph.link`
uses for a document without metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..documents import Document
from .prompt import Reply, ReplyEntity, ReplyTriple
from .report import DroppedEntity, DroppedTriple
from .schema import ExtractionSchema, RelationSpec
from .text import FoldedText, fold, fold_key, lead, snake

__all__ = ["MAX_NAME_WORDS", "DocExtraction", "DocTriple", "Mention", "ground", "negates"]

#: A longer "name" is a phrase the model copied ("mild to moderate pain such as headaches,
#: toothache …"), not an entity; six words hold "Prélude à l'après-midi d'un faune".
MAX_NAME_WORDS = 6


@dataclass
class Mention:
    """An entity as one document names it (before merging across documents)."""

    name: str
    type: str | None
    doc: str
    aliases: list[str] = field(default_factory=list)


@dataclass
class DocTriple:
    """A kept triple; the ends are indices into `DocExtraction.mentions`."""

    subject: int
    relation: str
    object: int
    evidence: str


@dataclass
class DocExtraction:
    """What one document contributes: its entities, kept triples, what it is about, and
    what was dropped."""

    doc_id: str
    mentions: list[Mention] = field(default_factory=list)
    triples: list[DocTriple] = field(default_factory=list)
    about: list[int] = field(default_factory=list)
    dropped: list[DroppedTriple] = field(default_factory=list)
    entities_dropped: list[DroppedEntity] = field(default_factory=list)


def ground(
    doc: Document, reply: Reply, schema: ExtractionSchema | None, *, min_evidence_words: int = 2
) -> DocExtraction:
    """One document's reply, grounded (see the module docstring for the rules)."""
    g = _Grounder(doc, schema, min_evidence_words)
    for ent in reply.entities:
        g.entity(ent)
    for triple in reply.relations:
        g.triple(triple)
    return g.finish()


class _Grounder:
    def __init__(self, doc: Document, schema: ExtractionSchema | None, min_words: int) -> None:
        self.doc = doc
        self.text = FoldedText(doc.full_text)
        self.types = set(schema.types) if schema and schema.types else None
        self.schema = schema if schema and schema.relations else None
        self.min_words = min_words
        self.out = DocExtraction(doc_id=doc.id)
        self.keys: dict[str, int] = {}  # fold_key of a name or alias -> mention
        self.off_type: dict[int, str] = {}  # mentions the model typed outside the schema
        self.used: set[int] = set()
        self.seen: set[tuple[int, str, int]] = set()

    def entity(self, ent: ReplyEntity) -> None:
        name = ent.name.strip()
        if not name:
            return
        if not self.text.names(name) or len(name.split()) > MAX_NAME_WORDS:
            reason = "name not in text" if not self.text.names(name) else "not a name"
            self.out.entities_dropped.append(
                DroppedEntity(doc=self.doc.id, name=name, reason=reason))
            return
        typ = snake(ent.type) or None
        off = typ is not None and self.types is not None and typ not in self.types
        aliases = [a.strip() for a in ent.aliases if a.strip()
                   and fold_key(a) != fold_key(name) and self.text.names(a)]
        found = self._find(name, *aliases)
        if found is None:
            found = self._add(Mention(name=name, type=None if off else typ, doc=self.doc.id))
            if off and typ:
                self.off_type[found] = typ
        mention = self.out.mentions[found]
        if mention.type is None and not off:
            mention.type = typ
        for alias in aliases:
            if fold_key(alias) not in {fold_key(a) for a in (mention.name, *mention.aliases)}:
                mention.aliases.append(alias)
            self.keys.setdefault(fold_key(alias), found)

    def triple(self, t: ReplyTriple) -> None:
        relation = snake(t.relation)
        spec = self.schema.relation(relation) if self.schema else None
        s, o = self._find(t.subject), self._find(t.object)
        reason = self._rejects(t, relation, spec) or self._mistyped(t, relation, spec, s, o)
        if reason is not None:
            self.out.dropped.append(DroppedTriple(
                doc=self.doc.id, subject=t.subject, relation=relation or t.relation,
                object=t.object, evidence=t.evidence, reason=reason[0], detail=reason[1]))
            return
        s = self._end(s, t.subject, spec.subject_type if spec else None)
        o = self._end(o, t.object, spec.object_type if spec else None)
        if (s, relation, o) not in self.seen:
            self.seen.add((s, relation, o))
            self.out.triples.append(DocTriple(s, relation, o, t.evidence.strip()))
            self.used |= {s, o}

    def _rejects(
        self, t: ReplyTriple, relation: str, spec: RelationSpec | None
    ) -> tuple[str, str] | None:
        """The first textual rule a triple breaks, with a detail; None when it breaks none."""
        if not relation or (self.schema is not None and spec is None):
            return "relation not in schema", f"{t.relation!r} is not a relation of the schema"
        if not t.evidence.strip():
            return "no evidence", ""
        if not self.text.quotes(t.evidence, min_words=self.min_words):
            return "evidence not in text", f"{t.evidence[:80]!r} is not a quotation of the text"
        if not FoldedText(t.evidence).names(t.object):
            return "object not in evidence", f"{t.evidence[:80]!r} does not name {t.object!r}"
        if negates(t.evidence, t.object):
            return "negated in evidence", f"{t.evidence[:80]!r} negates {t.object!r}"
        for end, name in (("subject", t.subject), ("object", t.object)):
            if not self.text.names(name):
                return f"{end} not in text", f"{name!r} does not occur in the document"
            if len(name.split()) > MAX_NAME_WORDS:
                return "end is not a name", f"{name[:80]!r} is a phrase, not a name"
        if fold_key(t.subject) == fold_key(t.object):
            return "subject and object are one entity", ""
        return None

    def _mistyped(
        self, t: ReplyTriple, relation: str, spec: RelationSpec | None, s: int | None,
        o: int | None,
    ) -> tuple[str, str] | None:
        if s is not None and s == o:
            return "subject and object are one entity", ""
        if spec is None:
            return None
        for end, idx, name, want in (("subject", s, t.subject, spec.subject_type),
                                     ("object", o, t.object, spec.object_type)):
            have = self.out.mentions[idx].type if idx is not None else None
            if want and have and have != want:
                return f"{end} type", f"{name!r} is a {have}; {relation} takes a {want}"
        return None

    def _end(self, idx: int | None, name: str, want: str | None) -> int:
        """The mention a kept triple's end names, created (with the relation's type) when
        the reply's entity list lacks it."""
        if idx is None:
            return self._add(Mention(name=name.strip(), type=want, doc=self.doc.id))
        if self.out.mentions[idx].type is None and want:
            self.out.mentions[idx].type = want
        return idx

    def _find(self, *names: str) -> int | None:
        return next((self.keys[k] for k in map(fold_key, names) if k in self.keys), None)

    def _add(self, mention: Mention) -> int:
        self.out.mentions.append(mention)
        idx = len(self.out.mentions) - 1
        self.keys.setdefault(fold_key(mention.name), idx)
        return idx

    def finish(self) -> DocExtraction:
        keep = [i for i in range(len(self.out.mentions))
                if i not in self.off_type or i in self.used
                or self.out.mentions[i].type is not None]
        for i in sorted(set(range(len(self.out.mentions))) - set(keep)):
            self.out.entities_dropped.append(DroppedEntity(
                doc=self.doc.id, name=self.out.mentions[i].name,
                reason=f"type {self.off_type[i]!r} not in schema"))
        new = {old: n for n, old in enumerate(keep)}
        self.out.mentions = [self.out.mentions[i] for i in keep]
        for t in self.out.triples:
            t.subject, t.object = new[t.subject], new[t.object]
        self.out.about = _about(self.doc, self.out)
        return self.out


#: Words that negate what follows them (folded: apostrophes dropped).
_NEGATIONS = frozenset("""not no never without nor neither non cannot cant dont doesnt didnt
isnt arent wasnt werent wont shouldnt unlikely""".split())
_NEGATION_WINDOW = 4


def negates(evidence: str, obj: str) -> bool:
    """Whether the evidence negates its object: a negation among the few words before the
    object's first mention, or `-free` right after it ("drowsiness-free")."""
    words = [w.strip(".,;:!?()") for w in fold(evidence).replace("-", " ").split()]
    target = fold(obj).replace("-", " ").split()
    n = len(target)
    for i in range(len(words) - n + 1) if target else ():
        if words[i : i + n - 1] == target[:-1] and _same_word(words[i + n - 1], target[-1]):
            before = words[max(0, i - _NEGATION_WINDOW) : i]
            return any(w in _NEGATIONS for w in before) or words[i + n : i + n + 1] == ["free"]
    return False


def _same_word(word: str, target: str) -> bool:
    """One word as a name matches it, a plural `s` either way."""
    return word in (target, f"{target}s", f"{target}es") or target in (f"{word}s", f"{word}es")


def _about(doc: Document, ext: DocExtraction) -> list[int]:
    """Subjects of kept triples, then the entities the title (else the lead) names."""
    about = list(dict.fromkeys(t.subject for t in ext.triples))

    def named_in(text: FoldedText) -> list[int]:
        return [i for i, m in enumerate(ext.mentions)
                if any(text.names(n) for n in (m.name, *m.aliases))]

    placed = named_in(FoldedText(doc.title)) if doc.title else []
    if not placed:
        placed = named_in(FoldedText(lead(doc.text)))
    return list(dict.fromkeys([*about, *placed]))
