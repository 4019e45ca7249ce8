"""Your own data, your own relation names: films, with no code and no declared cues.

A user brings what they have — reviews whose metadata names the film, and a TSV of triples
exported with its own header (`film relation person`) — and asks for films *directed by*
someone who also *stars* in films.  Plain search cannot tell the two roles apart; rolecall
reads the relation from the graph's own names, links each review to its film by metadata,
and filters by role.  The LLM rewriter runs too when one is configured (ROLECALL_MODEL, or
`make llm`); it is prompted with examples made from this graph, not the demo's.

    .venv/bin/python examples/your_schema.py [WORK_DIR]
"""

import json
import sys
import tempfile
from pathlib import Path

from rolecall import (
    KnowledgeGraph,
    LLMRewriter,
    Retriever,
    RoleQuery,
    read_corpus,
    rewriter_from_env,
)

TRIPLES = """film\trelation\tperson
Unforgiven\tdirected_by\tClint Eastwood
Unforgiven\tstarring\tClint Eastwood
Unforgiven\tstarring\tGene Hackman
Letters from Iwo Jima\tdirected_by\tClint Eastwood
Letters from Iwo Jima\tstarring\tKen Watanabe
American Sniper\tdirected_by\tClint Eastwood
American Sniper\tstarring\tBradley Cooper
Dirty Harry\tdirected_by\tDon Siegel
Dirty Harry\tstarring\tClint Eastwood
In the Line of Fire\tdirected_by\tWolfgang Petersen
In the Line of Fire\tstarring\tClint Eastwood
The Hangover\tdirected_by\tTodd Phillips
The Hangover\tstarring\tBradley Cooper
"""
REVIEWS = [
    ("Dirty Harry", "Eastwood is magnetic as the inspector; every scene with Eastwood works."),
    ("Dirty Harry", "A tough seventies thriller. Eastwood at his most iconic."),
    ("In the Line of Fire", "Eastwood plays an ageing Secret Service agent, and plays it well."),
    ("Unforgiven", "A bleak western that undoes the myths it grew from."),
    ("Letters from Iwo Jima", "The battle from the Japanese side; quiet and devastating."),
    ("American Sniper", "Cooper carries a hard, divisive war film."),
    ("The Hangover", "Cooper and friends wake up in Las Vegas with no memory of the night."),
]
QUERIES = ["films directed by Clint Eastwood", "films starring Clint Eastwood"]


def write_data(folder: Path) -> tuple[Path, Path]:
    kg, corpus = folder / "triples.tsv", folder / "reviews.jsonl"
    kg.write_text(TRIPLES, encoding="utf-8")
    with corpus.open("w", encoding="utf-8") as fh:
        for i, (film, text) in enumerate(REVIEWS):
            fh.write(json.dumps({"id": f"r{i}", "text": text, "metadata": {"film": film}}) + "\n")
    return kg, corpus


def main() -> None:
    work = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="rolecall-"))
    work.mkdir(parents=True, exist_ok=True)
    kg_file, corpus = write_data(work)
    kg = KnowledgeGraph.load([kg_file])
    assert kg.load_report is not None
    print(kg.load_report.summary())
    r = Retriever.build(work / "index", read_corpus(corpus), kg=kg, link_fields=["film"],
                        progress=False)
    title = {f"r{i}": film for i, (film, _) in enumerate(REVIEWS)}
    llm, why = rewriter_from_env()
    print(f"LLM rewriter: {why}")
    for q in QUERIES:
        plain = r.search(RoleQuery.plain(q), k=3, legs=("dense",))
        print(f"\n{q}\n  plain dense: {', '.join(title[h] for h in plain.ids)}")
        result = r.search(q, k=3)
        print(f"  rolecall (rules): {', '.join(title[h] for h in result.ids)}")
        read = [f"{c.relation} {c.object}" for c in result.plan.query.relations]
        print(f"    read as: {', '.join(read) or 'nothing'}")
        if isinstance(llm, LLMRewriter):
            with_llm = Retriever(r.index, rewriter=llm).search(q, k=3)
            print(f"  rolecall ({llm.name}): {', '.join(title[h] for h in with_llm.ids)}")


if __name__ == "__main__":
    main()
