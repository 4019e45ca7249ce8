"""What separates NegConstraint's satisfying and violating documents, pair by pair.

    .venv/bin/python benchmarks/negconstraint_audit.py [DATA_DIR] [--run FILE --system NAME]

For every query: the rule rewriter's exclusions, and whether the satisfying and the violating
document *name* an excluded phrase (every content word in one sentence: what lexical evidence
and hard suppression can see).  For the pairs where neither does, which of the two is closer
(MiniLM cosine) to the exclusion and to the query without it: the only evidence left without
a judge model.  With `--run` (a TREC run from `rolecall eval --run`), each system's
violations are split the same way, so a violation count reads as "how many of these could any
literal reading have fixed".
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from rolecall import Index, RuleRewriter  # noqa: E402
from rolecall.agent.verify import best_passages  # noqa: E402
from rolecall.eval import load_beir, violation  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "negconstraint-dev"
_BUCKETS = ("only the violating one", "both", "neither", "only the satisfying one")


def _read_run(path: Path) -> dict[str, dict[str, list[str]]]:
    """system -> query id -> ranked doc ids (TREC run lines: qid Q0 doc rank score system)."""
    run: dict[str, dict[str, list[str]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for line in path.read_text().splitlines():
        qid, _, doc, _, _, system = line.split()
        run[system][qid].append(doc)
    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("data", nargs="?", default=str(DEFAULT_DATA))
    ap.add_argument("--index", help="index to read document vectors from "
                    "(default .rolecall/eval/<name>, as `rolecall eval` builds it)")
    ap.add_argument("--run", type=Path, help="TREC run file from `rolecall eval --run`")
    args = ap.parse_args()
    console = Console(width=140)
    ds = load_beir(args.data)
    index = Index.open(args.index or Path(".rolecall") / "eval" / ds.name)
    docs = {d.id: d for d in ds.documents}
    rewriter = RuleRewriter()

    bucket_of: dict[str, str] = {}
    closer: collections.Counter[str] = collections.Counter()
    for q in ds.queries:
        sat = sorted(d for d, g in q.qrels.items() if g > 0)
        vio = sorted(q.violating)
        if not sat or not vio:
            continue
        rq = rewriter.rewrite(q.text)
        if not rq.exclusions:
            bucket_of[q.id] = "no exclusion parsed"
            continue
        pair = [docs[sat[0]], docs[vio[0]]]
        found = best_passages([f"{d.title}. {d.text}" for d in pair], rq.exclusions, None)
        s_named, v_named = (any(p.verbatim for p in ps) for ps in found)
        bucket_of[q.id] = _BUCKETS[[(False, True), (True, True), (False, False),
                                    (True, False)].index((s_named, v_named))]
        if s_named or v_named:
            continue
        ords = [index.ordinal(d.id) for d in pair]
        if ords[0] is None or ords[1] is None:
            raise SystemExit(f"{args.index or 'the index'} does not hold {ds.name}: pass --index")
        vs, vv = index.dense.vectors[[ords[0], ords[1]]]
        enc = index.embedder.encode([e.looks_like or e.text for e in rq.exclusions]
                                    + [rq.embed_text])
        ex, desc = enc[:-1], enc[-1]
        closer["violating closer to the exclusion"
               if float(np.max(vv @ ex.T)) > float(np.max(vs @ ex.T))
               else "satisfying closer to the exclusion"] += 1
        closer["satisfying closer to the query"
               if float(vs @ desc) > float(vv @ desc) else "violating closer to the query"] += 1

    counts = collections.Counter(bucket_of.values())
    t = Table(title=f"{ds.name}: which document names an excluded phrase ({len(bucket_of)} "
                    "queries, rule rewriter's exclusions)")
    t.add_column("named by")
    t.add_column("queries", justify="right")
    systems = _read_run(args.run) if args.run else {}
    for name in systems:
        t.add_column(f"{name} violations", justify="right")
    queries = {q.id: q for q in ds.queries}
    violated = {
        name: {qid for qid, ranked in ranking.items()
               if violation(ranked, queries[qid].qrels, queries[qid].violating)}
        for name, ranking in systems.items()
    }
    for b in (*_BUCKETS, "no exclusion parsed"):
        row = [b, str(counts.get(b, 0))]
        row += [str(sum(bucket_of.get(q) == b for q in v)) for v in violated.values()]
        t.add_row(*row)
    console.print(t)
    n = counts.get("neither", 0)
    console.print(f"Where neither names it ({n} pairs), MiniLM cosine: "
                  + ", ".join(f"{k} {v}/{n}" for k, v in sorted(closer.items())))
    console.print(f"[dim]command: {' '.join([Path(sys.executable).name, *sys.argv])}[/dim]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
