"""Exclusion evidence: how strongly each candidate document is about an excluded thing.

Four kinds of evidence, each scaled to 0..1, the strongest winning:

* **entity** — the exclusion links to a graph entity the document is about (1.0) or mentions
  (`mention_weight` per mention, capped at 0.8);
* **lexical** — the excluded phrase occurs in the document (`lexical_weight`, flat: a phrase
  in passing is weak evidence, which is why it is small);
* **unconstrained** — the document answers the query *with* its exclusions better than the
  query *without* them: `(cos(doc, original text) - cos(doc, description) - margin) / scale`.
  A document that matches the words the user excluded gains from them; a document that does
  not, does not.  This catches documents that discuss the excluded topic without naming it.
* **exclusion** — the document is closer to the exclusion's own embedding than to the query's:
  `(cos(doc, exclusion) - cos(doc, description) + margin) / scale`, times its weight.

Calibration (`EvidenceWeights` defaults) was chosen on NegConstraint-dev with the rule
rewriter (`rolecall eval … --systems rules`); the held-out two thirds of NegConstraint were not
used.  The result is a per-document strength and the checks that explain it; the caller turns
strengths into penalties (soft) or suppression (hard).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..backends.interface import DenseLeg, LexicalLeg, LinksView
from ..explain import ConstraintCheck
from ..query import Exclusion

__all__ = ["EvidenceWeights", "ExclusionEvidence", "exclusion_evidence"]


@dataclass(frozen=True)
class EvidenceWeights:
    """Calibration of the evidence kinds (see the module docstring)."""

    lexical_weight: float = 0.2
    mention_weight: float = 0.4
    unconstrained_margin: float = 0.03
    unconstrained_scale: float = 0.15
    exclusion_weight: float = 0.0
    exclusion_margin: float = 0.05
    exclusion_scale: float = 0.1


@dataclass
class ExclusionEvidence:
    strength: dict[int, float] = field(default_factory=dict)
    checks: dict[int, list[ConstraintCheck]] = field(default_factory=dict)
    #: documents that contain an excluded phrase verbatim (hard mode suppresses them)
    contains: set[int] = field(default_factory=set)


def exclusion_evidence(
    exclusions: Sequence[Exclusion],
    candidates: Sequence[int],
    *,
    lexical: LexicalLeg | None,
    dense: DenseLeg | None,
    query_vec: np.ndarray | None,
    original_vec: np.ndarray | None,
    exclusion_vecs: np.ndarray | None,
    entity_ids: dict[int, str],
    links: LinksView,
    weights: EvidenceWeights = EvidenceWeights(),
) -> ExclusionEvidence:
    out = ExclusionEvidence()
    if not exclusions or not candidates:
        return out
    cands = list(dict.fromkeys(candidates))
    use_dense = dense is not None and query_vec is not None
    q_sims = dense.similarity(query_vec, cands) if use_dense else {}  # type: ignore[union-attr,arg-type]
    o_sims = (
        dense.similarity(original_vec, cands)  # type: ignore[union-attr]
        if use_dense and original_vec is not None
        else {}
    )
    label = "exclude " + "; ".join(e.text for e in exclusions)
    for d in cands:
        if d in o_sims:
            s = (o_sims[d] - q_sims[d] - weights.unconstrained_margin) / weights.unconstrained_scale
            if s > 0:
                _add(out, d, label, min(1.0, s),
                     f"matches the excluded wording (cos {o_sims[d]:.3f} with it vs "
                     f"{q_sims[d]:.3f} without)")
    for i, ex in enumerate(exclusions):
        lex = lexical.phrase_scores(ex.text, cands) if lexical is not None else {}
        e_sims: dict[int, float] = {}
        if use_dense and exclusion_vecs is not None and weights.exclusion_weight > 0:
            e_sims = dense.similarity(exclusion_vecs[i], cands)  # type: ignore[union-attr]
        entity = entity_ids.get(i)
        for d in cands:
            if entity is not None:
                dl = links[d]
                if entity in dl.about:
                    _add(out, d, f"exclude {ex.text}", 1.0, f"about {entity}")
                elif dl.mentions.get(entity):
                    n = dl.mentions[entity]
                    _add(out, d, f"exclude {ex.text}", min(0.8, weights.mention_weight * n),
                         f"mentions {entity} ×{n}")
            if d in lex:
                out.contains.add(d)
                _add(out, d, f"exclude {ex.text}", weights.lexical_weight,
                     f"contains “{ex.text}” (bm25 {lex[d]:.1f})")
            if d in e_sims:
                s = (e_sims[d] - q_sims[d] + weights.exclusion_margin) / weights.exclusion_scale
                if s > 0:
                    _add(out, d, f"exclude {ex.text}", weights.exclusion_weight * min(1.0, s),
                         f"closer to “{ex.text}” than to the query "
                         f"(cos {e_sims[d]:.2f} vs {q_sims[d]:.2f})")
    return out


def _add(out: ExclusionEvidence, doc: int, constraint: str, strength: float, evidence: str) -> None:
    if strength <= 0:
        return
    out.strength[doc] = max(out.strength.get(doc, 0.0), strength)
    checks = out.checks.setdefault(doc, [])
    for i, c in enumerate(checks):
        if c.constraint == constraint:
            merged = max(c.strength, strength)
            checks[i] = c.model_copy(update={
                "evidence": f"{c.evidence}; {evidence}",
                "strength": round(merged, 3),
                "satisfied": merged < 0.5,
            })
            return
    checks.append(ConstraintCheck(
        constraint=constraint, kind="exclusion", satisfied=strength < 0.5,
        evidence=evidence, strength=round(strength, 3),
    ))
