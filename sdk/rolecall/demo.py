"""The demo: plain dense and BM25 search beside rolecall, on a shipped corpus and graph.

The corpus (`demo_data/`) is original writing that summarises public drug-label and
encyclopedia facts (sources in `demo_data/SOURCES.md`); it is built so that plain search
visibly confuses a drug that *treats* a symptom with one that *causes* it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .backends.embedded.index import Index
from .documents import read_corpus
from .explain import Hit, SearchResult
from .graph import KnowledgeGraph
from .query import RoleQuery
from .retriever import Retriever
from .rewrite.base import Rewriter

__all__ = ["DemoQuery", "demo_data_dir", "demo_queries", "open_demo", "run_demo"]


@dataclass
class DemoQuery:
    query: str
    wanted: list[str]
    unwanted: list[str]
    why: str


def demo_data_dir() -> Path:
    return Path(str(resources.files("rolecall") / "demo_data"))


def demo_queries() -> list[DemoQuery]:
    raw: list[dict[str, Any]] = json.loads((demo_data_dir() / "queries.json").read_text("utf-8"))
    return [
        DemoQuery(q["query"], list(q["wanted"]), list(q.get("unwanted", [])), q.get("why", ""))
        for q in raw
    ]


def default_demo_index_dir() -> Path:
    home = Path(os.environ.get("ROLECALL_HOME", Path.home() / ".cache" / "rolecall"))
    return home / "demo-index"


def open_demo(
    out: str | Path | None = None, *, rebuild: bool = False, progress: bool = True,
    rewriter: Rewriter | None = None,
) -> Retriever:
    """Open the demo index, building it first if it is missing or stale."""
    path = Path(out) if out else default_demo_index_dir()
    data = demo_data_dir()
    stamp = max((data / n).stat().st_mtime for n in ("corpus.jsonl", "kg.jsonl"))
    if not rebuild:
        try:
            index = Index.open(path)
            if index.manifest.created >= stamp:
                return Retriever(index, rewriter=rewriter)
        except Exception:  # noqa: BLE001 - any unreadable old index is simply rebuilt
            pass
    kg = KnowledgeGraph.load([data / "kg.jsonl"])
    return Retriever.build(
        path, read_corpus(data / "corpus.jsonl"), kg=kg, progress=progress, rewriter=rewriter
    )


def _mark(doc_id: str, q: DemoQuery) -> str:
    if doc_id in q.wanted:
        return "[green]✓[/green]"
    if doc_id in q.unwanted:
        return "[red]✗[/red]"
    return " "


def _describe(rq: RoleQuery) -> str:
    parts = []
    if rq.target_type:
        parts.append(f"target={rq.target_type}")
    parts += [
        f"{'NOT ' if r.polarity.value == 'must_not' else ''}{r.relation}({r.object})"
        for r in rq.relations
    ]
    parts += [f"exclude “{e.text}”" for e in rq.exclusions]
    return ", ".join(parts) or "(no structure found)"


def run_demo(
    out: str | Path | None = None, *, k: int = 5, console: Console | None = None,
    rewriter: Rewriter | None = None,
) -> dict[str, int]:
    """Print the side-by-side for every demo query; returns the tally it prints."""
    console = console or Console()
    r = open_demo(out, rewriter=rewriter)
    console.print(
        f"[bold]rolecall demo[/bold] — {len(r.index)} documents, "
        f"{len(r.index.kg.entities)} entities, {len(r.index.kg.relations)} relations; "
        f"rewriter: {r.rewriter.name}\n"
        "[green]✓[/green] a wanted document, [red]✗[/red] an associated-but-wrong one.\n"
    )
    tally = {"queries": 0, "dense_top1": 0, "bm25_top1": 0, "rolecall_top1": 0,
             "dense_wrong": 0, "bm25_wrong": 0, "rolecall_wrong": 0}
    for q in demo_queries():
        result = r.search(q.query, k=k)
        plain = RoleQuery.plain(q.query)
        dense = r.search(plain, k=k, legs=("dense",))
        bm25 = r.search(plain, k=k, legs=("lexical",))
        tally["queries"] += 1
        for name, res in (("dense", dense), ("bm25", bm25), ("rolecall", result)):
            ids = res.ids
            tally[f"{name}_top1"] += bool(ids) and ids[0] in q.wanted
            tally[f"{name}_wrong"] += sum(d in q.unwanted for d in ids)
        _print_query(console, q, (dense, bm25, result), k)
        _print_why(console, r, result, dense.hits + bm25.hits)
    n = tally["queries"]
    console.rule("[bold]summary")
    console.print(
        f"wanted document ranked first: rolecall {tally['rolecall_top1']}/{n}, "
        f"plain dense {tally['dense_top1']}/{n}, plain BM25 {tally['bm25_top1']}/{n}\n"
        f"associated-but-wrong documents in the top {k}: rolecall {tally['rolecall_wrong']}, "
        f"plain dense {tally['dense_wrong']}, plain BM25 {tally['bm25_wrong']}"
    )
    return tally


def _print_query(
    console: Console, q: DemoQuery, results: tuple[SearchResult, SearchResult, SearchResult],
    k: int,
) -> None:
    """The query, its rewrite, and the three rankings side by side."""
    result = results[-1]
    console.rule(f"[bold]{q.query}")
    console.print(f"[dim]{q.why}[/dim]")
    console.print(f"rewritten: {_describe(result.plan.query)}")
    for u in result.plan.unresolved:
        if u.slot == "keywords":
            continue
        console.print(f"[yellow]unresolved[/yellow] {u.slot}: {u.value!r}")
    table = Table(show_header=True, header_style="bold", expand=True)
    table.add_column("#", width=2)
    table.add_column("plain dense")
    table.add_column("plain BM25")
    table.add_column("rolecall")
    for i in range(k):
        cells = []
        for res in results:
            if i < len(res.hits):
                h = res.hits[i]
                cells.append(f"{_mark(h.id, q)} {h.title or h.id}")
            else:
                cells.append("")
        table.add_row(str(i + 1), *cells)
    console.print(table)


def _print_why(console: Console, r: Retriever, result: SearchResult, plain: list[Hit]) -> None:
    """Why each document the plain searches returned is not among rolecall's, and why the
    first two of rolecall's are."""
    shown = set(result.ids)
    seen: set[str] = set()
    for h in plain:
        if h.id in shown or h.id in seen:
            continue
        seen.add(h.id)
        failed = [c for c in r.explain_document(result.plan.query, h.id) if not c.satisfied]
        if failed:
            why = "; ".join(f"{c.constraint} ({c.evidence})" for c in failed)
            console.print(f"  [red]suppressed[/red] {h.title or h.id}: {why}")
    for h in result.hits[:2]:
        console.print(f"  [green]kept[/green] {h.title or h.id}: {h.explanation.summary()}")
    console.print()
