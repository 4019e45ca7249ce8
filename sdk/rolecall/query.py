"""`RoleQuery`: the role-explicit form of a user's query, the contract of the whole SDK.

A rewriter (rules or an LLM) fills it; grounding links its values to the knowledge graph;
the legs and fusion execute it.  Every field is documented because the LLM rewriter is shown
this model's JSON schema and must fill exactly it.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "SCHEMA_VERSION",
    "AttributeFilter",
    "Direction",
    "Exclusion",
    "Operator",
    "Polarity",
    "Provenance",
    "RelationConstraint",
    "RoleQuery",
]

#: Bumped whenever a field changes meaning; caches and indexes key on it.
SCHEMA_VERSION = 1

Scalar = Union[str, int, float, bool]  # noqa: UP007 - a runtime alias


class Polarity(str, Enum):
    """Whether a relation constraint must hold or must not hold."""

    MUST = "must"
    MUST_NOT = "must_not"


class Direction(str, Enum):
    """Which role the wanted thing plays in the relation.

    `subject`: the wanted thing is the subject (`aspirin -treats-> headache`: "drugs that treat
    headache" wants the subject).  `object`: the wanted thing is the object ("what does aspirin
    treat" wants the object).
    """

    SUBJECT = "subject"
    OBJECT = "object"


class Operator(str, Enum):
    """Comparison used by an attribute filter."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    CONTAINS = "contains"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, use_enum_values=False)


class RelationConstraint(_Strict):
    """A relation the wanted thing must (or must not) have, with its role made explicit."""

    relation: str = Field(
        description="Relation name from the catalog, e.g. 'treats' or 'causes'.",
        min_length=1,
    )
    object: str = Field(
        description="The other end of the relation, as the user said it (e.g. 'headache'); "
        "grounding links it to a knowledge-graph entity.",
        min_length=1,
    )
    direction: Direction = Field(
        default=Direction.SUBJECT,
        description="'subject' if the wanted thing is the relation's subject "
        "(drug -treats-> headache, the drug is wanted); 'object' if it is the object.",
    )
    polarity: Polarity = Field(
        default=Polarity.MUST,
        description="'must' if the relation is required, 'must_not' if it disqualifies.",
    )
    max_hops: int = Field(
        default=1,
        ge=1,
        le=4,
        description="How many relation edges may separate the two ends (1 = direct).",
    )


class Exclusion(_Strict):
    """Something the user does not want to see in the results."""

    text: str = Field(
        description="The excluded concept or term, as the user said it (e.g. 'Moses').",
        min_length=1,
    )
    looks_like: str = Field(
        default="",
        description="A short description of what a document about the excluded thing looks "
        "like (e.g. 'the Rite of Spring ballet by Stravinsky'); embedded to catch documents "
        "that discuss it without naming it. Empty: use `text`.",
    )
    entity: bool = Field(
        default=False,
        description="True if the excluded thing is a named entity (person, work, drug...).",
    )


class AttributeFilter(_Strict):
    """A condition on document metadata, e.g. year >= 2000 or form == 'tablet'."""

    field: str = Field(description="Metadata field name.", min_length=1)
    op: Operator = Field(default=Operator.EQ, description="Comparison operator.")
    value: Scalar | list[Scalar] = Field(
        description="Value to compare with; a list for 'in'."
    )


class Provenance(_Strict):
    """Who produced this RoleQuery and what they could not resolve."""

    rewriter: str = Field(default="manual", description="'rules', 'llm:<model>' or 'manual'.")
    unresolved: list[str] = Field(
        default_factory=list,
        description="Parts of the query the rewriter saw but could not turn into structure.",
    )
    notes: list[str] = Field(default_factory=list, description="Free-form remarks.")
    degraded: list[str] = Field(
        default_factory=list,
        description="Why the configured rewriter did not produce this (e.g. the LLM failed "
        "and the rule rewriter took over). Empty when nothing degraded.",
    )


class RoleQuery(_Strict):
    """The role-explicit query. Empty lists mean 'no constraint of that kind'."""

    schema_version: Literal[1] = Field(default=1, description="Always 1.")
    text: str = Field(description="The original user query, verbatim.")
    target_type: str | None = Field(
        default=None,
        description="Entity type of the wanted thing from the catalog (e.g. 'drug'), or null.",
    )
    relations: list[RelationConstraint] = Field(
        default_factory=list, description="Role-explicit relation constraints."
    )
    exclusions: list[Exclusion] = Field(
        default_factory=list, description="Concepts or terms the user does not want."
    )
    filters: list[AttributeFilter] = Field(
        default_factory=list, description="Conditions on document metadata."
    )
    keywords: list[str] = Field(
        default_factory=list,
        description="Terms for lexical (BM25) search; never the excluded terms.",
    )
    description: str = Field(
        default="",
        description="What a relevant document is about, in one sentence, without the "
        "excluded things; this is what gets embedded. Empty: use `text`.",
    )
    provenance: Provenance = Field(
        default_factory=Provenance,
        description="Which rewriter produced this and what it could not resolve.",
    )

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text must not be empty or whitespace")
        return v

    @property
    def embed_text(self) -> str:
        """The text the dense leg embeds: the description, else the original text."""
        return self.description.strip() or self.text

    @property
    def lexical_text(self) -> str:
        """The text the lexical leg searches: the keywords, else the description/text."""
        return " ".join(self.keywords).strip() or self.embed_text

    @property
    def has_symbolic_part(self) -> bool:
        """Whether the knowledge graph has anything to evaluate."""
        return bool(self.target_type or self.relations)

    @classmethod
    def plain(cls, text: str) -> RoleQuery:
        """A RoleQuery with no structure: what plain retrieval would do with `text`."""
        return cls(text=text, provenance=Provenance(rewriter="plain"))
