"""Precision and recall of an extracted graph against a graph held out (BENCHMARKS.md,
"A graph from a corpus"): `rolecall kg extract` read the demo corpus; the demo's own KG,
written by hand from the same sources, is the answer key.

    .venv/bin/python benchmarks/kg_extract_compare.py EXTRACTED/kg.jsonl \
        sdk/rolecall/demo_data/kg.jsonl

An extracted entity is mapped to a held-out entity when one of its surface forms (id, name,
aliases) is, normalised, a surface form of exactly one held-out entity; an extracted edge is
correct when both ends map and the held-out graph has the mapped edge with the same relation.
Precision is over all extracted edges and over those whose ends both map (an unmapped end is
an entity the answer key does not hold, which may be right: the key is not exhaustive);
recall is over the held-out edges between entities of the extraction schema's types.
"""

from __future__ import annotations

import sys
import warnings
from collections import Counter
from pathlib import Path

from rolecall.graph import KnowledgeGraph, Relation, normalize


def _forms(kg: KnowledgeGraph) -> dict[str, set[str]]:
    """normalised surface form -> the entity ids that carry it."""
    out: dict[str, set[str]] = {}
    for ent in kg.entities.values():
        for form in ent.surface_forms():
            out.setdefault(normalize(form), set()).add(ent.id)
    return out


def entity_map(extracted: KnowledgeGraph, held_out: KnowledgeGraph) -> dict[str, str]:
    """Extracted entity id -> held-out entity id, where the surface forms say so unambiguously."""
    forms = _forms(held_out)
    mapping: dict[str, str] = {}
    for ent in extracted.entities.values():
        hits = set().union(*(forms.get(normalize(f), set()) for f in ent.surface_forms()))
        if len(hits) == 1:
            mapping[ent.id] = next(iter(hits))
    return mapping


def _edges(kg: KnowledgeGraph) -> list[Relation]:
    return [r for r in kg.relations if r.relation != "is_a"]


def _ratio(n: int, d: int) -> str:
    return f"{n}/{d} = {n / d:.3f}" if d else "-"


def compare(extracted: KnowledgeGraph, held_out: KnowledgeGraph) -> list[str]:
    """The markdown table, one row per relation and one for all."""
    mapping = entity_map(extracted, held_out)
    key = {(r.subject, r.relation, r.object) for r in _edges(held_out)}
    relations = sorted({r.relation for r in _edges(extracted)} | {r[1] for r in key})
    total, mapped, correct = Counter[str](), Counter[str](), Counter[str]()
    for r in _edges(extracted):
        total[r.relation] += 1
        s, o = mapping.get(r.subject), mapping.get(r.object)
        if s is None or o is None:
            continue
        mapped[r.relation] += 1
        correct[r.relation] += (s, r.relation, o) in key
    wanted = Counter(rel for _, rel, _ in key)
    rows = ["| relation | extracted | precision | precision over mapped | recall |",
            "|---|---|---|---|---|"]
    for name in [*relations, "all"]:
        t, m, c, w = (sum(x.values()) if name == "all" else x[name]
                      for x in (total, mapped, correct, wanted))
        rows.append(f"| {name} | {t} | {_ratio(c, t)} | {_ratio(c, m)} | {_ratio(c, w)} |")
    rows.append("")
    rows.append(f"entities: {len(extracted.entities)} extracted, {len(mapping)} mapped to the "
                f"{len(held_out.entities)} held out")
    return rows


def main(extracted_path: str, held_out_path: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the load reports are not what this measures
        extracted = KnowledgeGraph.load([Path(extracted_path)])
        held_out = KnowledgeGraph.load([Path(held_out_path)])
    print("\n".join(compare(extracted, held_out)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
