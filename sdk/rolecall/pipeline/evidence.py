"""Exclusion evidence: how strongly each candidate document is *about* an excluded thing.

A document that names the excluded thing in passing is not about it; one whose title names
it, whose lead states it, or most of whose sentences discuss it is.  Three kinds of
evidence, each scaled to 0..1, the strongest winning:

* **aboutness** — the excluded phrase (and, when it links to a graph entity, the entity's
  names) read in the document's title and sentences (`pipeline.aboutness`); the graph's own
  verdict that the document is about the entity counts as 1.0;
* **unconstrained** — the document answers the query *with* its exclusions better than the
  query *without* them: `(cos(doc, original text) - cos(doc, description) - margin) / scale`.
  This catches documents that discuss the excluded topic without naming it.  Where the text
  shows the phrase only in passing, the gain is the mention's own words, so this evidence is
  capped at the mention's aboutness (`cap_by_mention`);
* **exclusion** — the document is closer to the exclusion's own embedding than to the query's:
  `(cos(doc, exclusion) - cos(doc, description) + margin) / scale`, times its weight (off
  by default).

Weights were chosen on a development split and reported on data not chosen on
(BENCHMARKS.md, "Aboutness").  The result is a per-document strength and the checks that
explain it; the caller turns strengths into penalties (soft) or suppression (hard).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..backends.interface import DenseLeg, LinksView
from ..explain import ConstraintCheck
from ..query import Exclusion
from .aboutness import Aboutness, AboutnessWeights
from .documents import AnalysedDocuments

__all__ = ["EvidenceWeights", "ExclusionEvidence", "exclusion_evidence"]


@dataclass(frozen=True)
class EvidenceWeights:
    """Calibration of the evidence kinds (see the module docstring)."""

    about: AboutnessWeights = AboutnessWeights()
    unconstrained_margin: float = 0.03
    #: wide: the wording gain alone (nothing read in the text) demotes a little; it was the
    #: evidence that buried relevant pages for naming a word of the exclusion's
    unconstrained_scale: float = 0.6
    #: cap the unconstrained evidence at the aboutness of a phrase the document mentions
    cap_by_mention: bool = True
    exclusion_weight: float = 0.0
    exclusion_margin: float = 0.05
    exclusion_scale: float = 0.1


@dataclass
class ExclusionEvidence:
    strength: dict[int, float] = field(default_factory=dict)
    checks: dict[int, list[ConstraintCheck]] = field(default_factory=dict)
    #: the best reading of an excluded phrase in each document that mentions one
    mentions: dict[int, Aboutness] = field(default_factory=dict)


@dataclass(frozen=True)
class DenseView:
    """What the dense evidence reads: the leg and the query's vectors."""

    leg: DenseLeg
    query: np.ndarray
    original: np.ndarray | None
    exclusions: np.ndarray | None


def exclusion_evidence(
    exclusions: Sequence[Exclusion],
    candidates: Sequence[int],
    *,
    docs: AnalysedDocuments | None,
    subject: str,
    dense: DenseView | None,
    entity_ids: dict[int, str],
    entity_forms: dict[str, list[str]],
    links: LinksView,
    weights: EvidenceWeights = EvidenceWeights(),
) -> ExclusionEvidence:
    out = ExclusionEvidence()
    if not exclusions or not candidates:
        return out
    cands = list(dict.fromkeys(candidates))
    for i, ex in enumerate(exclusions):
        entity = entity_ids.get(i)
        phrases = [ex.text, *entity_forms.get(entity, [])] if entity else [ex.text]
        _aboutness(out, ex, phrases, subject, cands, docs, weights.about)
        if entity is not None:
            for d in cands:
                if entity in links[d].about:
                    _add(out, d, f"exclude {ex.text}", 1.0, f"the graph: about {entity}")
    if dense is not None:
        q_sims = dense.leg.similarity(dense.query, cands)
        _unconstrained(out, exclusions, cands, dense, q_sims, weights)
        _closer_to_exclusion(out, exclusions, cands, dense, q_sims, weights)
    return out


def _aboutness(out: ExclusionEvidence, ex: Exclusion, phrases: list[str], subject: str,
               cands: list[int], docs: AnalysedDocuments | None,
               weights: AboutnessWeights) -> None:
    if docs is None:
        return
    own = docs.subject(subject)
    tokens = [docs.phrase(p, own) for p in phrases]
    for d in cands:
        best = max((docs.aboutness(d, t, own, weights) for t in tokens),
                   key=lambda a: (a.score, a.sentences))
        if not best.mentioned:
            continue
        old = out.mentions.get(d)
        if old is None or best.score > old.score:
            out.mentions[d] = best
        _add(out, d, f"exclude {ex.text}", best.score, best.describe(), force=True)


def _unconstrained(out: ExclusionEvidence, exclusions: Sequence[Exclusion], cands: list[int],
                   dense: DenseView, q_sims: dict[int, float], weights: EvidenceWeights) -> None:
    if dense.original is None:
        return
    o_sims = dense.leg.similarity(dense.original, cands)
    label = "exclude " + "; ".join(e.text for e in exclusions)
    for d in cands:
        s = (o_sims[d] - q_sims[d] - weights.unconstrained_margin) / weights.unconstrained_scale
        if s <= 0:
            continue
        s = min(1.0, s)
        seen = out.mentions.get(d)
        if weights.cap_by_mention and seen is not None and seen.score < s:
            # The gain is the passing mention's own words, not a discussion of the topic.
            s = seen.score
        _add(out, d, label, s, f"matches the excluded wording (cos {o_sims[d]:.3f} with it "
             f"vs {q_sims[d]:.3f} without)")


def _closer_to_exclusion(out: ExclusionEvidence, exclusions: Sequence[Exclusion],
                         cands: list[int], dense: DenseView, q_sims: dict[int, float],
                         weights: EvidenceWeights) -> None:
    if dense.exclusions is None or weights.exclusion_weight <= 0:
        return
    for i, ex in enumerate(exclusions):
        e_sims = dense.leg.similarity(dense.exclusions[i], cands)
        for d in cands:
            s = (e_sims[d] - q_sims[d] + weights.exclusion_margin) / weights.exclusion_scale
            if s > 0:
                _add(out, d, f"exclude {ex.text}", weights.exclusion_weight * min(1.0, s),
                     f"closer to “{ex.text}” than to the query "
                     f"(cos {e_sims[d]:.2f} vs {q_sims[d]:.2f})")


def _add(out: ExclusionEvidence, doc: int, constraint: str, strength: float, evidence: str,
         *, force: bool = False) -> None:
    """Record evidence; `force` keeps a zero-strength reading too, so that an explanation
    can say a mention in passing was seen and not held against the document."""
    if strength <= 0 and not force:
        return
    if strength > 0:
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
