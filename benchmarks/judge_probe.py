"""Can a model tell the satisfying document from the violating one, given the top two?

    .venv/bin/rolecall eval ../shared/data/negconstraint-dev \
        --index .rolecall/bench/negconstraint-dev --systems agent --run /tmp/agent.trec
    .venv/bin/python benchmarks/judge_probe.py /tmp/agent.trec --system agent \
        --mode pointwise                                          # `make llm` running

For every NegConstraint query whose top two are its satisfying and its violating document
(in either order), asks the model — through litellm, one token, with top logprobs — either

* `pairwise`: "which passage is more about the excluded topic, A or B?", in both orders, the
  probability of the right letter averaged over the two orders (position bias cancels); or
* `pointwise`: "is this passage mainly about <excluded>? yes/no" for each of the two, the
  difference of P(yes) (top-1 minus top-2).

Prints how often the signal points the right way, and what a swap rule "swap the top two
when the top one is more likely the violator by more than a margin" would fix and break at
several margins.  This decides whether a judge at the cost of two calls per query (the
budget issue #5 allows) can help with a given model, before building it into the agent.
Exclusions come from the rule rewriter, as in the agent without an LLM rewrite.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from rolecall.rewrite.auto import LOCAL_ALIAS, local_api_base  # noqa: E402
from rolecall.rewrite.rules import RuleRewriter  # noqa: E402

_CHARS = 450
_MARGINS = (0.0, 0.05, 0.1, 0.2, 0.3)


def _passage(doc: dict[str, str]) -> str:
    return (f"{doc['title']}: " if doc.get("title") else "") + doc["text"][:_CHARS]


def _letter_probs(reply: object, letters: tuple[str, str]) -> tuple[float, float]:
    tops = reply.choices[0].logprobs.content[0].top_logprobs  # type: ignore[attr-defined]
    p = [sum(math.exp(t.logprob) for t in tops if t.token.strip().lower() == x)
         for x in letters]
    return p[0], p[1]


def _ask(model: str, api_base: str | None, content: str, letters: tuple[str, str]) -> float:
    """P(letters[0]) / (P(letters[0]) + P(letters[1])) for the first token of the reply."""
    import litellm

    reply = litellm.completion(
        model=model, api_base=api_base, api_key=os.environ.get("ROLECALL_API_KEY", "none"),
        messages=[{"role": "user", "content": content}], max_tokens=1, temperature=0,
        logprobs=True, top_logprobs=10,
    )
    a, b = _letter_probs(reply, letters)
    return a / (a + b) if a + b > 0 else 0.5


def violator_signal(mode: str, model: str, api_base: str | None, excluded: str,
                    first: dict[str, str], second: dict[str, str]) -> float:
    """> 0 when the model takes the first-ranked document for the violator."""
    if mode == "pointwise":
        q = "\n\nIs this passage mainly about {x}? Answer yes or no."
        p1 = _ask(model, api_base, f"Passage: {_passage(first)}" + q.format(x=excluded),
                  ("yes", "no"))
        p2 = _ask(model, api_base, f"Passage: {_passage(second)}" + q.format(x=excluded),
                  ("yes", "no"))
        return p1 - p2

    def pair(a: dict[str, str], b: dict[str, str]) -> float:
        return _ask(model, api_base,
                    f"Excluded topic: {excluded}\n\nPassage A: {_passage(a)}\n\nPassage B: "
                    f"{_passage(b)}\n\nWhich passage is more about the excluded topic? "
                    "Answer A or B.", ("a", "b"))

    # Average over both orders: P(first is the violator) − 0.5.
    return (pair(first, second) + (1 - pair(second, first))) / 2 - 0.5


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", help="a TREC run file written by `rolecall eval --run`")
    ap.add_argument("--system", required=True, help="which system's ranking in the run file")
    ap.add_argument("--data", default="../shared/data/negconstraint-dev")
    ap.add_argument("--mode", choices=("pointwise", "pairwise"), default="pointwise")
    ap.add_argument("--model", default=f"openai/{LOCAL_ALIAS}",
                    help="any litellm model that returns logprobs (default: the local Qwen)")
    ap.add_argument("--api-base", default=None)
    args = ap.parse_args()
    api_base = args.api_base or (local_api_base() if args.model.startswith("openai/") else None)
    console = Console(width=120)
    data = Path(args.data)
    top: dict[str, dict[int, str]] = defaultdict(dict)
    for line in Path(args.run).read_text().splitlines():
        qid, _, doc, rank, _, system = line.split()
        if system == args.system:
            top[qid][int(rank)] = doc
    docs = {d["_id"]: d for d in map(json.loads, (data / "corpus.jsonl").open())}
    rewriter = RuleRewriter()
    rows: list[tuple[str, str, float]] = []
    for q in map(json.loads, (data / "queries.jsonl").open()):
        meta, ranks = q["metadata"], top.get(q["_id"], {})
        first, second = ranks.get(1), ranks.get(2)
        if first in meta["satisfying"] and second in meta["violating"]:
            kind = "satisfying first"
        elif first in meta["violating"] and second in meta["satisfying"]:
            kind = "violating first"
        else:
            continue
        excluded = "; ".join(e.text for e in rewriter.rewrite(q["text"]).exclusions)
        if not excluded:
            continue
        t = time.perf_counter()
        s = violator_signal(args.mode, args.model, api_base, excluded, docs[first],
                            docs[second])
        rows.append((q["_id"], kind, s))
        took = time.perf_counter() - t
        console.print(f"{q['_id']:>4} {kind:<16} signal {s:+.3f}  ({took:.1f} s)")
    right = {k: sum((s > 0) == (k == "violating first") for _, kk, s in rows if kk == k)
             for k in ("satisfying first", "violating first")}
    total = {k: sum(kk == k for _, kk, _ in rows) for k in right}
    console.print(f"signal points the right way: satisfying first {right['satisfying first']}"
                  f"/{total['satisfying first']}, violating first {right['violating first']}"
                  f"/{total['violating first']}")
    table = Table(title=f"swap the top two when signal > margin ({args.mode}, {args.model})")
    for col in ("margin", "violations fixed", "satisfying pushed down", "net"):
        table.add_column(col, justify="right")
    for m in _MARGINS:
        fixed = sum(k == "violating first" and s > m for _, k, s in rows)
        broken = sum(k == "satisfying first" and s > m for _, k, s in rows)
        table.add_row(f"{m:.2f}", str(fixed), str(broken), f"{fixed - broken:+d}")
    console.print(table)
    console.print(f"[dim]command: {' '.join([Path(sys.executable).name, *sys.argv])}[/dim]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
