"""The rule rewriter: deterministic, offline, and the LLM rewriter's fallback.

It recognises three things and nothing else:

* **exclusion cues** — "excluding X", "(except X)", "without mentioning X", "but don't
  mention X", "other than X", "apart from X", "no X", "non-X" …  The excluded span runs to the
  closing parenthesis, or to the next punctuation / clause boundary.  In a statement ("Mice
  without IFN-γ are resistant to EAM"), a plain negation is what the claim says, not an
  instruction to the search: it is noted in the plan, not excluded;
* **relation cues** of the catalog's knowledge graph (`rewrite/cues.py`): the phrases its
  relation types declare, the forms of the relation names themselves (`directed_by` →
  "directed by", `treats` → "treat", "treating" …) and generic patterns the graph's
  structure leaves one reading of ("for X", "a comedy film"), negated by a preceding "not /
  doesn't / never", whose object is the first knowledge-graph entity within a few words
  after the cue.  No domain's words are built in: with an empty graph there are none;
* **target types** — a mention of a type or class of the knowledge graph.

A cue whose object cannot be found is reported in `provenance.unresolved`; the words stay in
the free text.  No constraint is ever produced without a cue in the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from ..graph import KnowledgeGraph, normalize
from ..query import Exclusion, Polarity, Provenance, RelationConstraint, RoleQuery
from .base import Catalog, Message
from .cues import KGCues, kg_cues

__all__ = ["RuleRewriter"]

#: A negated predicate of the thing asked for: "causes of pain that aren't related to the
#: liver", "dishes with rice but aren't ramen", "products that don't involve X".  Only in a
#: request: in a statement ("X is not associated with Y") the negation is the claim's content.
_NOT = r"(?:(?:is|are|was|were)\s+not|(?:is|are|was|were)n'?t|that'?s\s+not)"
_DO_NOT = r"(?:(?:do|does|did)\s+not|(?:do|does|did)n'?t)"
_PREDICATE_CUES = [
    r"(?:(?:but|that|which|who)\s+)?" + _NOT + r"\s+(?:about|related\s+to|relating\s+to|due\s+to|"
    r"caused\s+by|connected\s+(?:to|with)|linked\s+to|associated\s+with|part\s+of|based\s+on)",
    r"(?:(?:but|that|which|who)\s+(?:is|are|was|were)\s+)?unrelated\s+to",
    r"(?:(?:but|that|which|who)\s+)?" + _DO_NOT + r"\s+(?:involve|concern|relate\s+to|deal\s+with)",
    # "but aren't Asahikawa ramen": not that thing.  A participle or adverb after the
    # negation ("but were not named …", "but are not directly investable") is a property,
    # and ", which are not ducks" describes rather than restricts.
    r"(?:but|that)\s+" + _NOT + r"(?!\s+\w+(?:ed|ly)(?![\w']))",
]
#: The anchored form, to tell these cues apart as plain negations (see `_in_statement`).
_PREDICATE_CUE_RE = re.compile(r"^(?:" + "|".join(_PREDICATE_CUES) + r")$", re.IGNORECASE)

_EXCLUSION_CUES = [
    r"(?:but\s+)?(?:please\s+)?(?:(?:do|does|did)\s+not|don'?t|dont|doesn'?t|didn'?t|never|"
    r"not\s+to)\s+"
    r"(?:mention|include|discuss|reference|talk\s+about|cover|bring\s+up|show)"
    r"(?:\s+(?:any(?:thing)?\s+(?:about|of|on)|anything|any))?",
    r"without\s+(?:any\s+)?(?:mention(?:ing)?|referenc(?:e|es|ing)|discuss(?:ing|ion)|"
    r"talking\s+about|including|covering|considering|focusing\s+on)(?:\s+(?:of|to|about|on))?",
    *_PREDICATE_CUES,
    r"avoid(?:ing|s)?\s+(?:any\s+)?(?:mention|reference|discussion|detail)s?\s+(?:of|to|about|on)",
    r"avoid(?:ing|s)?",
    r"(?:but\s+)?not\s+including",
    r"(?:but\s+)?exclud(?:e|es|ing)(?:\s+(?:any\s+|specific\s+)?(?:mentions?|references?|"
    r"discussions?|details?)\s+(?:of|to|about|on))?",
    r"except(?:\s+for)?",
    r"other\s+than",
    r"apart\s+from",
    r"aside\s+from",
    r"besides",
    r"leaving\s+out",
    r"ignoring",
    r"but\s+not",
    r"without",
    r"(?:with|and|but|,)\s+no",
    # A trailing "…, not X" ("painkillers for headaches, not aspirin") or "(not X)"; "not
    # only / just / to …" is emphasis or an infinitive, not an exclusion.
    r"(?:[,;\u2014]|--|(?<=\())\s*not(?!\s+(?:only|just|merely|simply|necessarily|always|"
    r"to|be|been|even|yet|so|too|very|much|least|surprisingly|because|since|when|if|that|"
    r"unlike|until)\b)",
]
# A cue starts at a word boundary, or at the punctuation that opens it (", not X").
_CUE_RE = re.compile(
    r"(?:(?<![\w'])|(?![\w']))(" + "|".join(_EXCLUSION_CUES) + r")(?![\w'])", re.IGNORECASE
)
_NON_RE = re.compile(r"(?<![\w'])non[-\s]?(?=[a-z])", re.IGNORECASE)
_NON_NAME_RE = re.compile(r"(?<![\w'])[Nn]on[-\s]+([A-Z][\w]{3,})")
# "that/which/when" end a span only in lowercase: capitalised, they are words of a title
# ("the film The Knife That Killed Me").
_BOUNDARY_RE = re.compile(
    r"[,.;:?!()\[\]]|\s(?:and|or|but)\s+(?:how|what|why|who|which|when|where|does|do|did|"
    r"is|are|was|were|its|his|her|their|also)\b|\s(?:in\s+terms\s+of|(?-i:that|which|when))\s",
    re.IGNORECASE,
)
_NEGATION_RE = re.compile(
    r"(?:\bnot|n't|\bnever|\bno|\bwithout|\bnon)\s*(?:\w+\s+){0,2}$", re.IGNORECASE
)
_VERB_RE = re.compile(
    r"\s(?:influenc|shap|affect|contribut|impact|reflect|compar|differ|relat|highlight|chang|"
    r"evolv|play|interact|determin|led|lead|help|show|explain)(?:e|es|ed|ing|s)?\b"
    r"|\s(?:is|are|was|were|has|have|had|can|could|should|would|will|do|does|did)\s",
    re.IGNORECASE,
)
#: Cues that are plain negation rather than an instruction about what to leave out: inside a
#: statement ("Mice without IFN-γ are resistant to EAM") they are what the claim says.
_PLAIN_NEGATION_RE = re.compile(
    r"^(?:without|but\s+not|(?:with|and|but|,)\s+no|except(?:\s+for)?|other\s+than|"
    r"apart\s+from|aside\s+from|besides|(?:[,;\u2014]|--)?\s*not)$",
    re.IGNORECASE,
)
_FINITE_RE = re.compile(
    r"(?<![\w'])(?:is|are|was|were|has|have|had|can|cannot|could|may|might|must|shall|should|"
    r"will|would|does|do|did)(?![\w'])",
    re.IGNORECASE,
)
#: A clause opener before the verb makes it a relative or subordinate clause, not the main one.
_SUBORDINATE_RE = re.compile(
    r"(?<![\w'])(?:that|which|who|whom|whose|where|when|if|whether|because|while)(?![\w'])|[,;:]",
    re.IGNORECASE,
)
#: First words of requests rather than statements: questions, first and second person,
#: imperatives a search box gets.
_REQUEST_OPENERS = frozenset(
    "what which who whom whose where when why how is are was were has have had can could may "
    "might must shall should will would does do did i i'm im we you me my our please let "
    "find show give list tell explore provide describe explain analyze analyse examine "
    "investigate discuss compare summarize summarise write search get recommend suggest look "
    "help return retrieve need want outline present detail define identify name trace "
    "evaluate assess review consider".split()
)
#: A user talking about themselves or to the system is asking, whatever the grammar ("The
#: Hobbes essay is what I need, but not Leviathan").
_PERSONAL = frozenset("i i'm im i'd i've me my mine we we're us our you you're your".split())
_MARKER_RE = re.compile(r"\(\s*[A-Za-z]\s*\)")  # "(A)", "(b)" labels some queries carry
_MAX_SPAN_WORDS = 12


@dataclass
class _Span:
    start: int
    end: int
    cue: str
    text: str
    head: str
    #: the excluded things, one per item of a list ("aspirin, ibuprofen and paracetamol")
    items: list[str] = field(default_factory=list)


@dataclass
class _CueHit:
    """A relation a phrase before its object states."""

    relation: str
    object: str
    start: int  # the object mention's offsets
    end: int
    negated: bool = False
    #: a further mention the reading used ("genre" in "in the comedy genre")
    claims: tuple[int, int] | None = None


@dataclass
class _Reading:
    """What the passes of one rewrite have found.  They share it because a mention one pass
    used as a relation object must not be read again by the next."""

    relations: list[RelationConstraint] = field(default_factory=list)
    exclusions: list[Exclusion] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    #: (start, end) of the mentions taken as relation objects
    used_objects: set[tuple[int, int]] = field(default_factory=set)

    def relate(self, constraint: RelationConstraint, pos: tuple[int, int]) -> None:
        """Record a relation and claim its object's mention."""
        self.relations.append(constraint)
        self.used_objects.add(pos)


@dataclass
class RuleRewriter:
    """Deterministic rewriting from the knowledge graph's schema, names and aliases.

    `relation_cues` (relation -> phrases before the object), `suffix_cues` (relation ->
    words after it) and `absence_relations` are the caller's own, added to what the
    catalog's graph declares and derives; they are empty by default."""

    relation_cues: Mapping[str, Sequence[str]] = field(default_factory=dict)
    suffix_cues: Mapping[str, Sequence[str]] = field(default_factory=dict)
    absence_relations: Sequence[str] = ()
    object_window: int = 4  # words after a relation cue in which its object must appear
    name: str = "rules"

    @property
    def client(self) -> None:
        """No LLM: the rules call none (the `Rewriter` protocol's member)."""
        return None

    async def arewrite(
        self, text: str, *, history: Sequence[Message] = (), catalog: Catalog | None = None
    ) -> RoleQuery:
        """`rewrite`, run in place: it is CPU-only and takes about a millisecond."""
        return self.rewrite(text, history=history, catalog=catalog)

    def rewrite(
        self, text: str, *, history: Sequence[Message] = (), catalog: Catalog | None = None
    ) -> RoleQuery:
        """The RoleQuery that the cues of `text` state, and nothing they do not.

        The passes run in a fixed order because each claims the mentions it reads: a mention
        taken as a relation object is not read again as a target type or a "non-" name."""
        kg = catalog.kg if catalog is not None else KnowledgeGraph()
        cues = self._cues(kg)
        notes: list[str] = []
        if history:
            notes.append("rule rewriter ignores chat history; the query is taken as standalone")

        spans = self._exclusion_spans(text, notes)
        consumed = [(s.start, s.end) for s in spans]
        mentions = _mentions(kg, text)
        found = _Reading()
        if kg.relations:
            self._read_relation_cues(text, mentions, kg, cues, consumed, found)
        self._read_exclusion_spans(cues, spans, mentions, found)
        self._read_non_prefixed(cues, text, mentions, found)
        spans.extend(_read_non_names(text, found))
        spans.sort(key=lambda sp: sp.start)

        target = self._target_type(kg, mentions, found.used_objects, consumed)
        return _role_query(text, spans, found, target, notes)

    def _read_relation_cues(
        self,
        text: str,
        mentions: list[tuple[str, int, int, str]],
        kg: KnowledgeGraph,
        cues: KGCues,
        consumed: list[tuple[int, int]],
        found: _Reading,
    ) -> None:
        """Relations stated by a cue before the object ("for nausea") or after it ("allergy
        medicine"), read only outside exclusion spans: an excluded thing is no object.  The
        schema's suffix words go before the generic compound, which must not re-read them."""
        for hit in self._relation_cues(text, mentions, kg, cues, consumed):
            polarity = Polarity.MUST_NOT if hit.negated else Polarity.MUST
            found.relate(
                RelationConstraint(relation=hit.relation, object=hit.object, polarity=polarity),
                (hit.start, hit.end),
            )
            if hit.claims is not None:
                found.used_objects.add(hit.claims)
        for read in (self._suffix_cues, self._compound_cues):
            for rel, obj, pos in read(text, mentions, kg, cues, consumed, found.used_objects):
                found.relate(RelationConstraint(relation=rel, object=obj), pos)

    def _read_exclusion_spans(
        self,
        cues: KGCues,
        spans: Sequence[_Span],
        mentions: list[tuple[str, int, int, str]],
        found: _Reading,
    ) -> None:
        """Each span's exclusions, except that "without X" on a relation object becomes a
        must-not relation: "allergy medicine without drowsiness" asks for a drug that does
        not cause drowsiness, not for documents that never mention it."""
        for s in spans:
            absence = self._absence_relation(cues, s, mentions)
            if absence is not None:
                rel, obj, pos = absence
                found.relate(
                    RelationConstraint(relation=rel, object=obj, polarity=Polarity.MUST_NOT), pos
                )
                continue
            if not s.text:
                found.unresolved.append(f"exclusion cue {s.cue!r} with nothing after it")
                continue
            found.exclusions.extend(_span_exclusions(s, mentions))

    def _read_non_prefixed(
        self,
        cues: KGCues,
        text: str,
        mentions: list[tuple[str, int, int, str]],
        found: _Reading,
    ) -> None:
        """A "non-" prefix on a relation object ("non-drowsy") is a must-not relation,
        unless a cue already gave that mention its role."""
        for rel, obj, pos in self._non_prefixed(cues, text, mentions):
            if pos not in found.used_objects:
                found.relate(
                    RelationConstraint(relation=rel, object=obj, polarity=Polarity.MUST_NOT), pos
                )

    # -- exclusions ------------------------------------------------------------------------------

    def negated_in_statement(self, text: str) -> list[str]:
        """What the plain negations of a statement negate ("IFN-γ" in "Mice without IFN-γ
        are resistant to EAM"): content of the claim, which no rewriter should exclude."""
        negated: list[str] = []
        self._exclusion_spans(text, [], negated)
        return negated

    def _exclusion_spans(
        self, text: str, notes: list[str], negated: list[str] | None = None
    ) -> list[_Span]:
        spans: list[_Span] = []
        verb = _statement_verb(text)
        last_end = 0
        for m in _CUE_RE.finditer(text):
            if m.start() < last_end:
                continue
            cue = m.group(1)
            s_start, s_end, span_text, head = _span_after(text, m.start(), m.end())
            if cue.lower().rstrip().endswith("no") and not span_text.strip():
                continue
            last_end = s_end
            # A statement's contrast (", not X") or a negated predicate in its subject ("cells
            # that are not …") is what it says, even where no auxiliary marks it a statement.
            contrast = (_CONTRAST_NOT_RE.match(cue) is not None
                        or _PREDICATE_CUE_RE.match(cue.strip()) is not None) and _declarative(text)
            if contrast or (verb is not None and _in_statement(text, m, verb)):
                why = "a sentence's contrast" if contrast else f"{verb.group(0)!r} is its verb"  # type: ignore[union-attr]
                notes.append(
                    f"{cue.strip()!r} read as part of a statement ({why}), not as an "
                    "exclusion: a claim's negations are what it says"
                )
                if verb is not None and not contrast and verb.start() > m.end():
                    span_text = span_text[: max(0, verb.start() - m.end())]  # the subject's end
                if negated is not None and _clean_span(span_text):
                    negated.append(_clean_span(span_text))
                continue
            items = _list_items(span_text)
            spans.append(_Span(s_start, s_end, cue, _clean_span(span_text), head, items))
        return spans

    def _absence_relation(
        self,
        cues: KGCues,
        span: _Span,
        mentions: list[tuple[str, int, int, str]],
    ) -> tuple[str, str, tuple[int, int]] | None:
        """'without drowsiness' → (causes, drowsiness) when drowsiness is the object of a
        relation the schema marks `absence`."""
        if not span.cue.lower().startswith(("without", "with", "and", "but no", "no", ",")) or (
            span.cue.lower().startswith("without") and len(span.cue.split()) > 1
        ):
            return None
        for eid, ms, me, _ in mentions:
            if span.start <= ms and me <= span.end:
                rel = _relation_into(cues, eid)
                if rel is not None:
                    return rel, eid, (ms, me)
        return None

    def _non_prefixed(
        self, cues: KGCues, text: str, mentions: list[tuple[str, int, int, str]]
    ) -> list[tuple[str, str, tuple[int, int]]]:
        out = []
        for m in _NON_RE.finditer(text):
            for eid, ms, me, _ in mentions:
                if ms == m.end():
                    rel = _relation_into(cues, eid)
                    if rel is not None:
                        out.append((rel, eid, (ms, me)))
        return out

    # -- relations -------------------------------------------------------------------------------

    def _cues(self, kg: KnowledgeGraph) -> KGCues:
        """The graph's cue tables (cached per graph) with this rewriter's own added."""
        return kg_cues(kg).with_overrides(
            self.relation_cues, self.suffix_cues, self.absence_relations
        )

    def _relation_cues(
        self,
        text: str,
        mentions: list[tuple[str, int, int, str]],
        kg: KnowledgeGraph,
        cues: KGCues,
        consumed: list[tuple[int, int]],
    ) -> list[_CueHit]:
        """Relations stated by a phrase before their object: the graph's phrases, longest
        first, then the generic prepositions no relation claims.  Each hit claims its cue
        and object, so a shorter phrase inside it ("for" in "relief for") is not read again."""
        entries: list[tuple[str, str | None, bool]] = [(p, rel, False) for p, rel in cues.phrases]
        entries += [(p, None, own) for p, own in cues.generic]
        found: list[_CueHit] = []
        taken: list[tuple[int, int]] = list(consumed)
        lowered = text.lower()
        for phrase, rel, own_type in entries:
            for m in re.finditer(r"(?<![\w'])" + re.escape(phrase) + r"(?![\w'])", lowered):
                cs, ce = m.start(), m.end()
                if any(cs < e and s < ce for s, e in taken):
                    continue
                if rel is not None:
                    obj = _object_after(mentions, text, ce, self.object_window, kg,
                                        cues.objects.get(rel, frozenset()))
                    hit = None if obj is None else _CueHit(rel, *obj)
                else:
                    hit = _generic_object_after(mentions, text, ce, self.object_window, kg,
                                                cues, own_type)
                if hit is None or any(hit.start < e and s < hit.end for s, e in consumed):
                    continue
                hit.negated = bool(_NEGATION_RE.search(lowered[max(0, cs - 30) : cs]))
                taken.append((cs, hit.end))
                found.append(hit)
        return found

    def _suffix_cues(
        self,
        text: str,
        mentions: list[tuple[str, int, int, str]],
        kg: KnowledgeGraph,
        cues: KGCues,
        consumed: list[tuple[int, int]],
        used: set[tuple[int, int]],
    ) -> list[tuple[str, str, tuple[int, int]]]:
        """Relations stated by a word the schema declares after the object ("allergy
        *medicine*")."""
        out = []
        for rel, words in cues.suffixes.items():
            objects = cues.objects.get(rel, frozenset())
            for eid, ms, me, _ in mentions:
                if (ms, me) in used or any(s <= ms and me <= e for s, e in consumed):
                    continue
                if not _plausible_object(kg, eid, objects):
                    continue
                nxt = re.match(r"\s+([\w-]+)", text[me:])
                if nxt and nxt.group(1).lower() in words:
                    out.append((rel, eid, (ms, me)))
        return out

    def _compound_cues(
        self,
        text: str,
        mentions: list[tuple[str, int, int, str]],
        kg: KnowledgeGraph,
        cues: KGCues,
        consumed: list[tuple[int, int]],
        used: set[tuple[int, int]],
    ) -> list[tuple[str, str, tuple[int, int]]]:
        """The generic compound "X <type>" ("comedy film", "anxiety drugs"): X is the object
        of the one relation whose subjects have that type.  A word the schema declares as a
        suffix cue was read by `_suffix_cues`; two candidate relations read as neither.  A
        "non-" modifier ("non-drowsy antihistamine") is a must-not, `_non_prefixed`'s."""
        starts = {ms: eid for eid, ms, _, _ in mentions}
        negated = {m.end() for m in _NON_RE.finditer(text)}
        out = []
        for eid, ms, me, _ in mentions:
            if ((ms, me) in used or ms in negated
                    or any(s <= ms and me <= e for s, e in consumed)):
                continue
            gap = re.match(r"\s+", text[me:])
            after = me + gap.end() if gap else -1
            head = starts.get(after)
            if head is None or head not in cues.type_like or _is_type(kg, eid):
                continue
            word = re.match(r"[\w-]+", text[after:])
            if word is not None and word.group(0).lower() in cues.claimed_suffixes:
                continue
            rels = [r for r in cues.relations_into(kg, eid)
                    if cues.has_subjects_of_type(kg, r, head)]
            if len(rels) == 1:
                out.append((rels[0], eid, (ms, me)))
        return out

    # -- target type -----------------------------------------------------------------------------

    def _target_type(
        self,
        kg: KnowledgeGraph,
        mentions: list[tuple[str, int, int, str]],
        used: set[tuple[int, int]],
        consumed: list[tuple[int, int]],
    ) -> str | None:
        types = set(kg.types())
        classes = {p for e in kg.entities.values() for p in e.is_a}
        for eid, ms, me, _ in mentions:
            if (ms, me) in used or any(s <= ms and me <= e for s, e in consumed):
                continue
            ent = kg.entities[eid]
            if eid in types or ent.type == "type":
                return eid
            if eid in classes and ent.type not in (None, "type") and _is_class_of_subjects(kg, eid):
                return eid
        return None


def _span_exclusions(
    span: _Span, mentions: list[tuple[str, int, int, str]]
) -> list[Exclusion]:
    """One exclusion per listed item.  `entity` says whether it names a thing (a linked
    mention, a capitalised name) rather than a topic, which decides how it is matched."""
    linked = {key for _, ms, me, key in mentions if span.start <= ms and me <= span.end}
    return [
        Exclusion(
            text=item,
            looks_like=f"{span.head} {item}".strip() if span.head else "",
            entity=normalize(item) in linked or _looks_like_name(item)
            or (item == span.text and bool(linked)),
        )
        for item in span.items or [span.text]
    ]


def _read_non_names(text: str, found: _Reading) -> list[_Span]:
    """In "a non Islamic summary", "non" before a *capitalised* word negates a named thing
    and is an exclusion; "non-toxic", "non-invasive" are adjectives and stay text.  Returns
    the spans, which the description must not carry."""
    spans: list[_Span] = []
    for m in _NON_NAME_RE.finditer(text):
        if any(ms == m.start(1) for ms, _ in found.used_objects):
            continue
        found.exclusions.append(Exclusion(text=m.group(1), entity=True))
        spans.append(_Span(m.start(), m.end(), "non", m.group(1), ""))
    return spans


def _role_query(
    text: str, spans: Sequence[_Span], found: _Reading, target: str | None, notes: list[str]
) -> RoleQuery:
    """The RoleQuery of what was found.  With nothing understood the query stays exactly as
    typed, so that rewriting can never make a plain query worse than plain search."""
    description = _strip_spans(text, spans)
    structured = bool(spans or found.relations or target)
    keywords = _keywords(description) if structured else []
    return RoleQuery(
        text=text,
        target_type=target,
        relations=_dedupe(found.relations),
        exclusions=found.exclusions,
        keywords=keywords,
        description=description if description != text.strip() else "",
        provenance=Provenance(rewriter="rules", unresolved=found.unresolved, notes=notes),
    )


_CONTRAST_NOT_RE = re.compile(r"^(?:[,;\u2014]|--)\s*not$", re.I)


def _declarative(text: str) -> bool:
    """A sentence that ends with a full stop and opens with neither a request word nor a
    person: "Beige cells occur in visceral fat, not subcutaneous fat." states a contrast;
    "painkillers for headaches, not aspirin" asks for something."""
    words = re.findall(r"[\w']+", text.lower())
    return (text.rstrip().endswith(".") and bool(words)
            and words[0] not in _REQUEST_OPENERS and not _PERSONAL & set(words))


def _in_statement(text: str, m: re.Match[str], verb: re.Match[str]) -> bool:
    """Whether the cue at `m` is a plain negation inside the statement whose verb is `verb`."""
    cue = m.group(1).strip()
    if _PLAIN_NEGATION_RE.match(cue) is None and _PREDICATE_CUE_RE.match(cue) is None:
        return False
    # After the verb, a comma sets an afterthought apart: "Papers on jazz are good, but not
    # bebop" is a request phrased as a statement.
    return not (m.start() > verb.end() and re.search(r"[,;:]", text[verb.end():m.end()]))


def _span_after(text: str, start: int, end: int) -> tuple[int, int, str, str]:
    """(span start, span end, excluded text, head) for the cue at text[start:end]: the
    whole parenthesis when the cue opens one, else up to the clause boundary, continued
    over a list of short items ("excluding aspirin, ibuprofen, paracetamol")."""
    open_paren = text.rfind("(", 0, start)
    close_paren = text.find(")", end)
    if open_paren != -1 and text[open_paren + 1 : start].strip() == "" and close_paren != -1:
        return open_paren, close_paren + 1, text[end:close_paren], _head(text[:open_paren])
    rest = text[end:]
    b = _BOUNDARY_RE.search(rest)
    stop = b.start() if b else len(rest)
    span_text = rest[:stop]
    v = _VERB_RE.search(span_text)
    if v and len(span_text[: v.start()].split()) >= 2:
        # "other than Chicago influence economic theory": the clause goes on.
        stop = v.start()
        span_text = span_text[:stop]
    elif b is not None and rest[b.start()] == ",":
        stop = _list_end(rest, stop)
        span_text = rest[:stop]
    words = span_text.split()
    if len(words) > _MAX_SPAN_WORDS:
        span_text = " ".join(words[:_MAX_SPAN_WORDS])
    return start, end + stop, span_text, _head(text[:start])


#: A list continues an exclusion over commas and a final conjunction while every item is a
#: short noun phrase: "aspirin, ibuprofen, and paracetamol".  A longer item, or one with a
#: verb, is the sentence going on ("excluding aspirin, how does it compare").
_LIST_ITEM_WORDS = 3
_LIST_SPLIT_RE = re.compile(r"\s*,\s*(?:(?:and|or|nor)\s+)?|\s+(?:and|or|nor)\s+", re.I)
_CLAUSE_END_RE = re.compile(r"[.;:?!()\[\]]|\s(?:but|yet|so)\s", re.I)


def _list_end(rest: str, first_end: int) -> int:
    """Where the list that may start at rest[first_end] (a comma) ends: the clause's end if
    everything up to it is a list of short items, else `first_end` (no list)."""
    if len(rest[:first_end].split()) > _LIST_ITEM_WORDS:
        return first_end
    c = _CLAUSE_END_RE.search(rest, first_end)
    end = c.start() if c else len(rest)
    tail = rest[first_end:end]
    items = [i for i in _LIST_SPLIT_RE.split(tail) if i.strip()]
    # "A, B" alone is two phrases side by side; a list has a third item or a conjunction.
    conjunction = re.search(r"(?<![\w'])(?:and|or|nor)\s", tail, re.I) is not None
    if len(items) < (1 if conjunction else 2) or any(
        len(i.split()) > _LIST_ITEM_WORDS or _VERB_RE.search(" " + i) or _starts_request(i)
        for i in items
    ):
        return first_end
    return first_end + len(rest[first_end:end].rstrip())


def _starts_request(item: str) -> bool:
    first = item.split(maxsplit=1)[0].lower() if item.split() else ""
    return first in _REQUEST_OPENERS


def _list_items(span_text: str) -> list[str]:
    """The excluded things of a span: one per comma-separated item, the last split once
    more at its conjunction ("aspirin, ibuprofen and paracetamol").  Without a comma, "A and
    B" stays one thing: "Pride and Prejudice" and "Dali and Magritte" have the same shape,
    and splitting a title excludes its words."""
    if "," not in span_text or _is_title(_clean_span(span_text)):
        return []
    lead = re.compile(r"^(?:and|or|nor)\s+", re.I)
    parts = [lead.sub("", p.strip()) for p in span_text.split(",") if p.strip()]
    conjunction = len(parts) > 1 and bool(
        re.search(r",\s*(?:and|or|nor)\s|\s(?:and|or|nor)\s+[^,]*$", span_text, re.I))
    last = re.split(r"\s+(?:and|or|nor)\s+", parts[-1], maxsplit=1, flags=re.I)
    if len(last) == 2 and all(len(x.split()) <= _LIST_ITEM_WORDS for x in last):
        parts[-1:] = last
    items = [c for c in (_clean_span(p) for p in parts) if c]
    # "A, B" alone is two phrases side by side; a list has a third item or a conjunction.
    if len(items) < (2 if conjunction else 3) or any(
        len(i.split()) > _LIST_ITEM_WORDS + 1 for i in items
    ):
        return []
    return items


def _is_class_of_subjects(kg: KnowledgeGraph, class_id: str) -> bool:
    """Whether members of this class are relation subjects (antihistamine, yes; pain, no)."""
    members = kg.descendants(class_id)
    return any(r.subject in members for r in kg.relations)


def _mentions(kg: KnowledgeGraph, text: str) -> list[tuple[str, int, int, str]]:
    """Entity mentions with offsets valid in `text` (normalize() keeps length for ASCII)."""
    if not kg.entities:
        return []
    if len(normalize(text)) != len(text):
        # Offsets would drift; fall back to per-word alignment by searching the raw text.
        out = []
        lowered = text.lower()
        for eid, _, _, key in kg.find_mentions(text):
            pos = lowered.find(key)
            if pos != -1:
                out.append((eid, pos, pos + len(key), key))
        return out
    return kg.find_mentions(text)


def _object_after(
    mentions: list[tuple[str, int, int, str]],
    text: str,
    cue_end: int,
    window: int,
    kg: KnowledgeGraph,
    objects: AbstractSet[str],
) -> tuple[str, int, int] | None:
    """The first mention within `window` words after a cue that can be the relation's
    object; mentions that cannot are passed over."""
    for eid, ms, me, _ in mentions:
        if ms < cue_end:
            continue
        if len(text[cue_end:ms].split()) > window:
            break
        if _plausible_object(kg, eid, objects):
            return eid, ms, me
    return None


_DETERMINER_GAP_RE = re.compile(r"\s*(?:(?:the|a|an)\s+)?", re.I)


def _generic_object_after(
    mentions: list[tuple[str, int, int, str]],
    text: str,
    cue_end: int,
    window: int,
    kg: KnowledgeGraph,
    cues: KGCues,
    own_type: bool,
) -> _CueHit | None:
    """What a generic preposition ("for", "in") relates: the first mention after it that
    some relation has as object, read as that relation only when it is the only one.  With
    `own_type` the object must follow the preposition (after at most a determiner) and be
    followed by its own type's name ("in the comedy genre"), which is then claimed too."""
    for eid, ms, me, _ in mentions:
        if ms < cue_end:
            continue
        if own_type and not _DETERMINER_GAP_RE.fullmatch(text[cue_end:ms]):
            return None
        if len(text[cue_end:ms].split()) > window:
            return None
        rels = () if _is_type(kg, eid) else cues.relations_into(kg, eid)
        if not rels:
            continue
        if len(rels) > 1:
            return None  # the graph leaves more than one reading: the words stay text
        hit = _CueHit(rels[0], eid, ms, me)
        if own_type:
            hit.claims = _own_type_after(kg, mentions, text, eid, me)
            if hit.claims is None:
                return None
        return hit
    return None


def _own_type_after(
    kg: KnowledgeGraph, mentions: list[tuple[str, int, int, str]], text: str, eid: str, end: int
) -> tuple[int, int] | None:
    """The mention right after `end` that names the type (or an is-a parent) of `eid`."""
    gap = re.match(r"\s+", text[end:])
    if gap is None:
        return None
    ent = kg.entities[eid]
    kinds = kg.ancestors(eid) | ({ent.type} if ent.type else set())
    for nid, ns, ne, _ in mentions:
        if ns == end + gap.end() and nid in kinds:
            return ns, ne
    return None


def _is_type(kg: KnowledgeGraph, eid: str) -> bool:
    """Whether the entity names a type ("drug", "film"), which is wanted, not related to."""
    ent = kg.entities.get(eid)
    return ent is not None and (ent.type == "type" or eid in kg.types())


def _relation_into(cues: KGCues, entity_id: str) -> str | None:
    """The first absence relation (in the schema's order) that has this entity as object."""
    for rel in cues.absence:
        if entity_id in cues.objects.get(rel, frozenset()):
            return rel
    return None


def _plausible_object(kg: KnowledgeGraph, eid: str, objects: AbstractSet[str]) -> bool:
    """An entity can be a relation's object if it, a kind of it, or its kind is one."""
    return eid in objects or bool((kg.descendants(eid) | kg.ancestors(eid)) & objects)


_LEAD_RE = re.compile(r"^(?:the|a|an|any|all|his|her|their|its|of|about|to|on)\s+", re.I)


_QUOTES = "\"“”"
_RELATIVE_LEAD_RE = re.compile(
    r"^(?:those|the\s+ones|ones|anything|things)\s+"
    r"(?:associated|related|connected|linked|having\s+to\s+do)\s+(?:with|to)\s+",
    re.I,
)
_REFLEXIVE_RE = re.compile(r"\s+(?:itself|himself|herself|themselves)$", re.I)


def _statement_verb(text: str) -> re.Match[str] | None:
    """The main verb's match when `text` is a statement ("Mice without IFN-γ are resistant …",
    "Sudden death can occur … without …"), None for a request or a bare topic.

    A statement opens with its subject (not a question word, a pronoun or an imperative)
    and has a finite auxiliary before any clause opener, and no one says "I" or "you" in it;
    "recipes that are quick without nuts" and "Which drugs are safe without drowsiness" stay
    requests."""
    words = re.findall(r"[\w']+", text.lower())
    if not words or words[0] in _REQUEST_OPENERS or _PERSONAL & set(words):
        return None
    verb = _FINITE_RE.search(text)
    if verb is None or _SUBORDINATE_RE.search(text, 0, verb.start()):
        return None
    return verb


def _clean_span(span: str) -> str:
    s = _MARKER_RE.sub(" ", span).strip().strip("'\"‘’“”").strip()
    if sum(s.count(q) for q in _QUOTES) % 2:
        # A span cut inside a quotation ('"Caracalla"' → 'figure of "Caracalla'): a lone
        # quote mark would become part of the excluded phrase.
        s = s.translate({ord(q): None for q in _QUOTES})
    # "those associated with Stefano Gualeni": the excluded thing is the name.
    s = _RELATIVE_LEAD_RE.sub("", s)
    prev = None
    while prev != s and not _is_title(s):
        prev = s
        s = _LEAD_RE.sub("", s).strip()
    bare = _REFLEXIVE_RE.sub("", s)
    if bare != s and _looks_like_name(bare):
        # "Sousa himself" excludes Sousa; "the structure itself" keeps its emphasis, which
        # is what distinguishes the building from every other structure.
        s = bare
    # A span cut before a verb may end on its conjunction ("salty kashk or [related to …]").
    s = re.sub(r"\s+(?:and|or|nor)$", "", s, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", s)


def _is_title(span: str) -> bool:
    """A capitalised function word before another capitalised word starts a title or name
    ("On Liberty", "A Tale of Two Cities", "The Who"): it is part of what is excluded."""
    words = span.split(maxsplit=2)
    return len(words) >= 2 and words[0][:1].isupper() and words[1][:1].isupper()


def _head(before: str) -> str:
    """The few words before a cue, within the same clause: what the exclusion qualifies."""
    clause = re.split(r"[,.;:?!()]", before)[-1]
    words = _MARKER_RE.sub(" ", clause).split()
    return " ".join(words[-6:])


def _strip_spans(text: str, spans: Sequence[_Span]) -> str:
    out = []
    last = 0
    for s in spans:
        out.append(text[last : s.start])
        last = s.end
    out.append(text[last:])
    cleaned = _MARKER_RE.sub(" ", "".join(out))
    cleaned = re.sub(r"\s+([,.;:?!])", r"\1", cleaned)
    cleaned = re.sub(r"([,;:])\s*([,.;:?!])", r"\2", cleaned)
    return re.sub(r"\s+", " ", cleaned).strip(" ,;:")


_STOP = frozenset(
    "a an the of in on at to for with and or but is are was were be been being how what why who "
    "whom which when where do does did can could should would will may might must this that these "
    "those it its his her their there here about into from by as than then so such some any all "
    "each other more most less least very also just only provide give explain describe discuss "
    "analyze analyse explore examine investigate outline introduce summary overview tell me please "
    "compare comparing differ between you your me my i we our something anything thing things make "
    "makes made doesn't don't does not no which whose want need looking find show list".split()
)


def _keywords(text: str) -> list[str]:
    words = re.findall(r"[\w][\w'’-]*", text)
    return list(dict.fromkeys(w for w in words if w.lower() not in _STOP and len(w) > 1))


def _looks_like_name(span: str) -> bool:
    words = [w for w in span.split() if w[:1].isalpha()]
    return bool(words) and sum(w[0].isupper() for w in words) >= max(1, len(words) // 2)


def _dedupe(relations: list[RelationConstraint]) -> list[RelationConstraint]:
    seen: set[tuple[str, str, str, str]] = set()
    out = []
    for r in relations:
        key = (r.relation, r.object, r.direction.value, r.polarity.value)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out
