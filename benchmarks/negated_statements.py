"""SciFact's negated claims as a BEIR folder: statements whose negation is what they say
("ART has no effect on the infectiveness of HIV-positive people"), not a request to exclude
anything — the check that rolecall never reads a described fact's "no" or "without" as an
exclusion (BENCHMARKS.md, "Statements are not requests").

    .venv/bin/python benchmarks/negated_statements.py ../shared/data/scifact OUT
    .venv/bin/rolecall eval OUT --split train --index .rolecall/eval/scifact   # choose on
    .venv/bin/rolecall eval OUT --split test --index .rolecall/eval/scifact    # report on

A claim is kept when a negating word occurs in it (the pattern below: the ordinary English
negators, not a list fitted to any claim).  The corpus is linked, not copied, so the folder
shares SciFact's index (`--index`).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

NEGATION = re.compile(
    r"\b(?:not|no|none|nor|never|without|cannot|lacks?|lacking|absen(?:t|ce)|fails?)\b|n't\b",
    re.IGNORECASE,
)


def write(src: Path, out: Path) -> dict[str, int]:
    """Write the subset; how many queries each split kept."""
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus.jsonl"
    if not corpus.exists():
        os.symlink((src / "corpus.jsonl").resolve(), corpus)
    kept: set[str] = set()
    with (src / "queries.jsonl").open(encoding="utf-8") as fh, \
            (out / "queries.jsonl").open("w", encoding="utf-8") as dst:
        for line in fh:
            if NEGATION.search(json.loads(line)["text"]):
                kept.add(json.loads(line)["_id"])
                dst.write(line)
    counts: dict[str, int] = {}
    for split in ("train", "test"):
        rows = (src / "qrels" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
        body = [r for r in rows[1:] if r.split("\t")[0] in kept]
        counts[split] = len({r.split("\t")[0] for r in body})
        (out / "qrels" / f"{split}.tsv").write_text(
            "\n".join([rows[0], *body]) + "\n", encoding="utf-8")
    return counts


if __name__ == "__main__":
    print(write(Path(sys.argv[1]), Path(sys.argv[2])))
