"""nDCG@10 / violation per system, by query phrasing and for role vs plain queries, from the
TREC run file `rolecall eval --run` wrote (the user-style data set's table in BENCHMARKS.md).

    .venv/bin/python benchmarks/by_phrasing.py DATA_DIR RUN_FILE
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from rolecall.eval import load_beir, ndcg_at_k, violation

GROUPS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "role, schema words": lambda m: m.get("phrasing") == "schema",
    "role, paraphrased": lambda m: m.get("phrasing") == "paraphrase",
    "role, all": lambda m: m.get("category") != "plain",
    "plain": lambda m: m.get("category") == "plain",
}


def main(data: str, run: str) -> None:
    ds = load_beir(data)
    with open(f"{data}/queries.jsonl", encoding="utf-8") as fh:
        meta = {q["_id"]: q.get("metadata", {}) for q in map(json.loads, fh)}
    ranks: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    with open(run, encoding="utf-8") as fh:
        for line in fh:
            qid, _, doc, _, _, system = line.split()
            ranks[system][qid].append(doc)
    print("| system | " + " | ".join(f"{g} (n)" for g in GROUPS) + " |")
    print("|---" * (len(GROUPS) + 1) + "|")
    for system, rank in ranks.items():
        cells = []
        for pred in GROUPS.values():
            qs = [q for q in ds.queries if pred(meta[q.id])]
            nd = sum(ndcg_at_k(rank[q.id], q.qrels) for q in qs) / len(qs)
            judged = [v for q in qs if (v := violation(rank[q.id], q.qrels, q.violating))
                      is not None]
            viol = f" / {sum(judged) / len(judged):.3f}" if judged else ""
            cells.append(f"{nd:.3f}{viol} ({len(qs)})")
        print(f"| {system} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
