"""Merging the LLM's rewrite with what explicit cues say, for small models' sake.

A 1.5B model understands "keeps you awake" (causes insomnia), which no cue list does, but it
also turns "excluding The Rite of Spring" into an invented relation or reads "stop diarrhoea"
as "must not cause diarrhoea".  The rule rewriter never guesses: it only reports what an
explicit cue says.  So the merge is:

* exclusions the cues found and the model missed are added;
* where a cue fixed the role of an object ("for nausea", "doesn't cause drowsiness"), the
  cue's relation replaces the model's relations on that same object;
* where cues found the exclusions, a model exclusion that lies in the wanted part of the
  query is dropped (the model excluding the topic itself);
* a model exclusion of what a statement negates ("Mice without IFN-γ are resistant …") is
  dropped: in a claim, the negation is the content;
* in a follow-up, the explicit constraints of the previous user turn carry over unless the
  follow-up constrains the same object itself;
* a model relation whose object the user never named (in the query or an earlier turn) is
  dropped: a small model copies objects from its examples and the catalog; so is a model
  exclusion when the user said no word that excludes or contrasts.

Every change is written to `provenance.notes`, so the plan shows who decided what.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..graph import KnowledgeGraph, normalize
from ..query import Exclusion, RelationConstraint, RoleQuery
from .base import Catalog, Message
from .rules import RuleRewriter

__all__ = ["merge_explicit"]


def _entity(kg: KnowledgeGraph, value: str) -> str:
    found = kg.lookup(value) if kg.entities else []
    return found[0][0] if found and found[0][1] in ("exact", "alias") else normalize(value)


#: Words with which English excludes or contrasts (generic; no domain's words).
_EXCLUDING_WORDS = re.compile(
    r"\b(?:not|no|non|nor|never|without|except|excluding|exclude[sd]?|besides|other\s+than|"
    r"rather\s+than|instead|apart|aside|but|avoid\w*|omit\w*|skip\w*|leave\s+out|"
    r"beyond|unlike|minus|n't|neither|none)\b|n't\b|\bnon-"
)


def _named(kg: KnowledgeGraph, obj: str, words: Sequence[str]) -> bool:
    forms = [obj]
    found = kg.lookup(obj) if kg.entities else []
    if found and found[0][1] in ("exact", "alias"):
        forms += kg.entities[found[0][0]].surface_forms()
    content = {w for f in forms for w in normalize(f).replace("-", " ").split() if len(w) >= 4}
    return any(_same_stem(c, w) for c in content for w in words if len(w) >= 4)


def _same_stem(a: str, b: str) -> bool:
    """Two words share their first five letters (or all of the shorter one's, from four):
    'constipated' / 'constipation', 'pain' / 'painkillers', 'awake' / 'awake'."""
    n = min(5, len(a), len(b))
    return a[:n] == b[:n]


def _describe(rc: RelationConstraint) -> str:
    neg = "not " if rc.polarity.value == "must_not" else ""
    return f"{neg}{rc.relation} {rc.object}"


@dataclass
class _Merge:
    """The model's reading as the merge edits it.  Every edit leaves a note, so that the
    plan shows who decided what."""

    kg: KnowledgeGraph
    relations: list[RelationConstraint]
    exclusions: list[Exclusion]
    notes: list[str]

    def apply(self, rules_rq: RoleQuery, origin: str, *, override: bool) -> None:
        """Take what the cues of `rules_rq` say.  `override` lets a cue's relation replace
        the model's on the same object: true for the query's own cues, false for those
        carried over, which must not overrule what the follow-up itself says."""
        self._apply_relations(rules_rq, origin, override=override)
        self._apply_exclusions(rules_rq, origin)

    def _apply_relations(self, rules_rq: RoleQuery, origin: str, *, override: bool) -> None:
        """Objects are compared as graph entities (a name or alias resolves to its entity),
        so that the model's wording of an object and the cue's meet."""
        kg = self.kg
        for rc in rules_rq.relations:
            obj = _entity(kg, rc.object)
            same = [r for r in self.relations if _entity(kg, r.object) == obj]
            if any(r.relation == rc.relation and r.polarity == rc.polarity for r in same):
                continue
            if same and not override:
                continue
            if same:
                self.notes.append(
                    f"{origin}: '{_describe(rc)}' replaces the model's "
                    + ", ".join(f"'{_describe(r)}'" for r in same)
                )
            else:
                self.notes.append(f"{origin}: added '{_describe(rc)}'")
            self.relations = [r for r in self.relations if _entity(kg, r.object) != obj] + [rc]

    def _apply_exclusions(self, rules_rq: RoleQuery, origin: str) -> None:
        """Add the cues' exclusions the model missed; one the model already has, even worded
        a little differently (one text contains the other), is not added twice."""
        known = {normalize(e.text) for e in self.exclusions}
        for ex in rules_rq.exclusions:
            key = normalize(ex.text)
            if any(key in k or k in key for k in known):
                continue
            # An exclusion the model turned into a relation is removed from the relations.
            self.relations = [r for r in self.relations if normalize(r.object) not in (key,)]
            self.exclusions.append(
                Exclusion(text=ex.text, looks_like=ex.looks_like, entity=ex.entity)
            )
            known.add(key)
            self.notes.append(f"{origin}: added exclusion '{ex.text}'")

    def drop_wanted(self, explicit: RoleQuery) -> None:
        """The cues located the exclusions; a model exclusion that is part of what the user
        *wants* (e.g. "Bhagavad Gita" in "the Bhagavad Gita (excluding Chapter 2)") is a
        misreading, not an extra exclusion."""
        wanted = normalize(explicit.description or explicit.text)
        cue_texts = [normalize(e.text) for e in explicit.exclusions]
        kept: list[Exclusion] = []
        for ex in self.exclusions:
            key = normalize(ex.text)
            if key in wanted and not any(key in c or c in key for c in cue_texts):
                self.notes.append(
                    f"explicit cue: '{ex.text}' is part of the request, not excluded"
                )
                continue
            kept.append(ex)
        self.exclusions = kept

    def drop_unsupported(self, said: str) -> None:
        """Drop a model relation whose object the user never named.  A small model copies
        the objects of its examples and of the catalog ("stable PDF generation" came back
        with `written_in Python`); an object counts as named when a content word of it, or
        of its entity's names and aliases, begins a word of what the user said (so
        "constipated" names Constipation and "keep you awake" names Insomnia through its
        alias "keeps you awake")."""
        words = normalize(said).replace("-", " ").split()
        kept: list[RelationConstraint] = []
        for rc in self.relations:
            if _named(self.kg, rc.object, words):
                kept.append(rc)
            else:
                self.notes.append(f"model's '{_describe(rc)}' dropped: the query never "
                                  f"names {rc.object!r}")
        self.relations = kept

    def drop_uncued_exclusions(self, said: str) -> None:
        """Drop model exclusions when the user said nothing that excludes: no negation or
        contrast word at all ("what took over from X?" came back excluding X, which buries
        the very documents that say what replaced it)."""
        if not self.exclusions or _EXCLUDING_WORDS.search(normalize(said)):
            return
        for ex in self.exclusions:
            self.notes.append(f"model's exclusion '{ex.text}' dropped: the query excludes "
                              "nothing")
        self.exclusions = []

    def drop_negated(self, negated: Sequence[str]) -> None:
        """Drop model exclusions of what a statement negates.  "Mice without IFN-γ are
        resistant …" is a claim about IFN-γ-less mice: a model that excludes IFN-γ excludes
        the very documents the claim is about.  Keys of two characters or fewer are kept:
        as substrings they would match inside nearly any negated phrase."""
        kept: list[Exclusion] = []
        for ex in self.exclusions:
            key = normalize(ex.text)
            if len(key) > 2 and any(key in n or n in key for n in negated):
                self.notes.append(f"explicit cue: '{ex.text}' is negated inside a statement, "
                                  "which is what the claim says, not an exclusion")
                continue
            kept.append(ex)
        self.exclusions = kept


def merge_explicit(
    rq: RoleQuery,
    text: str,
    history: Sequence[Message],
    catalog: Catalog,
    cues: RuleRewriter,
) -> RoleQuery:
    """The model's rewrite `rq` of `text`, corrected by what explicit cues say (see the
    module docstring): a small model reads nuance the cues cannot, but misreads the plain
    exclusions and roles that the cues never get wrong."""
    explicit = cues.rewrite(text, catalog=catalog)
    merge = _Merge(
        catalog.kg, list(rq.relations), list(rq.exclusions), list(rq.provenance.notes)
    )
    if explicit.exclusions:
        merge.drop_wanted(explicit)
    negated = [normalize(n) for n in cues.negated_in_statement(text)]
    if negated:
        merge.drop_negated(negated)
    previous = [m.content for m in history if m.role == "user"]
    merge.drop_unsupported(" ".join([text, *previous]))
    merge.drop_uncued_exclusions(" ".join([text, *previous]))
    merge.apply(explicit, "explicit cue", override=True)
    if history and previous:
        carried = cues.rewrite(previous[-1], catalog=catalog)
        merge.apply(carried, "carried over from the conversation", override=False)
    description, keywords = _without_exclusions(rq, merge.exclusions, explicit, merge.notes)
    return rq.model_copy(
        update={
            "relations": merge.relations,
            "exclusions": merge.exclusions,
            "description": description,
            "keywords": keywords,
            "provenance": rq.provenance.model_copy(update={"notes": merge.notes}),
        }
    )


def _without_exclusions(
    rq: RoleQuery, exclusions: Sequence[Exclusion], explicit: RoleQuery, notes: list[str]
) -> tuple[str, list[str]]:
    """The text to embed and the keywords must not carry what is excluded, and must not
    drift from what the user asked.

    When explicit cues located the exclusions, the user's own words without the exclusion
    clauses are embedded and searched: the model's description and keywords are paraphrases
    that often name the excluded thing ("… excluding Chapter 2 …"), and on NegConstraint-dev
    they cost relevance and let violators through.  With no exclusion at all the user's words
    are searched too: the model's job is the structure (type, roles, filters), and on
    SciFact's plain claims its paraphrase ranked below the user's own words — a rewrite must
    not make a plain query worse (both measured in BENCHMARKS.md).  Otherwise (exclusions the
    model found without a cue) its description and keywords are kept, minus any that name an
    excluded thing."""
    if explicit.exclusions:
        if rq.description != explicit.description or rq.keywords != explicit.keywords:
            notes.append("explicit exclusion cues: the query's own words, without the "
                         "exclusion clauses, are embedded and searched")
        return explicit.description, list(explicit.keywords)
    keys = [k for k in (normalize(e.text) for e in exclusions) if len(k) > 2]
    if not keys:
        if rq.description or rq.keywords:
            notes.append("no exclusions: the query's own words are embedded and searched, "
                         f"not the model's description {rq.description!r} and keywords "
                         f"{rq.keywords}")
        return "", []
    description = rq.description
    if description and any(k in normalize(description) for k in keys):
        description = ""
        notes.append("the model's description named an excluded thing: the query is "
                     "embedded instead")
    keywords = []
    for kw in rq.keywords:
        nk = normalize(kw)
        if nk and any(nk in k or k in nk for k in keys):
            notes.append(f"keyword '{kw}' is excluded: dropped")
            continue
        keywords.append(kw)
    return description, keywords
