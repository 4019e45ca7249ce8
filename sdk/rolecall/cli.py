"""The `rolecall` command: index, search, eval, llm, demo, mcp."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rolecall", description="Retrieval that knows related from relevant."
    )
    sub = p.add_subparsers(dest="command", required=True)

    _index_parser(sub)

    se = sub.add_parser("search", help="search an index")
    se.add_argument("index", help="index directory or PostgreSQL DSN (postgresql://…)")
    se.add_argument("--schema", default="rolecall", help="PostgreSQL schema (with a DSN)")
    se.add_argument("query")
    se.add_argument("-k", type=int, default=10)
    se.add_argument("--json", action="store_true", help="print hits, plan and degradations")
    se.add_argument("--exclusion-mode", choices=["soft", "hard"])
    se.add_argument("--constraint-mode", choices=["soft", "hard"])
    se.add_argument("--legs", help="comma-separated: lexical,dense")
    se.add_argument("--plain", action="store_true", help="no rewriting (baseline)")

    llm = sub.add_parser("llm", help="the local LLM (Qwen2.5-Coder-1.5B via llama.cpp)")
    llm_sub = llm.add_subparsers(dest="llm_command", required=True)
    sv = llm_sub.add_parser("serve", help="assemble (sha256-checked) and serve on 127.0.0.1")
    sv.add_argument("--port", type=int, help="default: ROLECALL_LLM_PORT or 8765")
    sv.add_argument("--threads", type=int, default=int(os.environ.get("ROLECALL_LLM_THREADS", 2)))
    llm_sub.add_parser("status", help="is the local server up? which rewriter would be used?")

    _eval_parser(sub)
    _kg_parser(sub)
    _tune_parser(sub)
    _mcp_parser(sub)

    de = sub.add_parser("demo", help="plain search beside rolecall on the shipped demo corpus")
    de.add_argument("--out", help="where to build the demo index (default: ~/.cache/rolecall)")
    de.add_argument("-k", type=int, default=5)
    return p


def _index_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`rolecall index`'s options (a function of its own: `_parser` stays readable)."""
    ix = sub.add_parser("index", help="build (or atomically rebuild) an index from a corpus")
    ix.add_argument("corpus", help="corpus.jsonl (BEIR or rolecall form) or a BEIR folder")
    ix.add_argument("--out", required=True, help="index directory, or a PostgreSQL DSN "
                    "(postgresql://…; needs rolecall[postgres])")
    ix.add_argument("--schema", default="rolecall", help="PostgreSQL schema (with a DSN)")
    ix.add_argument("--kg", nargs="*", default=[], help="knowledge-graph files (.jsonl/.csv/.tsv)")
    ix.add_argument("--link-field", action="append", default=[], dest="link_fields",
                    metavar="FIELD", help="a metadata field whose values name what a document "
                    "is about (drug: \"Sertraline\"), linked to the --kg entities; repeatable")
    ix.add_argument("--add", action="store_true", help="add to the existing index instead")
    ix.add_argument("--sentence-vectors", action="store_true",
                    help="also store every document's sentence vectors, which the agent's "
                    "verification reads instead of embedding them per search (about as much "
                    "embedding again; an --add keeps what the index was built with)")
    _embedder_option(ix)
    ix.add_argument("--precision", choices=("float32", "bfloat16"), default=None,
                    help="arithmetic of the bulk embedding (sentence-transformers models): "
                    "bfloat16 is faster on a CPU with native bfloat16 (AVX512-BF16 or AMX) and "
                    "is checked against float32 on load, falling back with a warning where it "
                    "is not native or not close (default: float32, or ROLECALL_BULK_PRECISION)")
    ix.add_argument("--no-progress", action="store_true")


def _embedder_option(p: argparse.ArgumentParser, *, several: bool = False) -> None:
    from .embedding.names import EMBEDDERS

    p.add_argument("--embedder", action="append" if several else "store", metavar="NAME|PATH",
                   help="the dense model: " + "; ".join(f"{k}: {v}" for k, v in EMBEDDERS.items())
                   + "; or the folder of a sentence-transformers model (what `rolecall tune` "
                   "writes) (an existing index is searched with the model it was built with)"
                   + ("; repeat it to compare models in one run (rows named system@model)"
                      if several else ""))


def _eval_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`rolecall eval`'s options."""
    ev = sub.add_parser("eval", help="systems side by side on a BEIR-layout data set")
    ev.add_argument("data", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    ev.add_argument("--split", default="test")
    ev.add_argument("--limit", type=int, help="only the first N queries (in file order)")
    ev.add_argument("--index", help="index directory (default .rolecall/eval/<name>)")
    ev.add_argument("--rebuild", action="store_true")
    _embedder_option(ev, several=True)
    ev.add_argument("--kg", nargs="*", default=[], help="knowledge-graph files, as for index")
    ev.add_argument("--link-field", action="append", default=[], dest="link_fields",
                    metavar="FIELD", help="metadata field linking documents to --kg entities, "
                    "as for index; repeatable")
    ev.add_argument("--systems", default="bm25,dense,hybrid,rules,rules-hard,llm",
                    help="comma-separated; see --list")
    ev.add_argument("--ablations", action="store_true", help="add the ablation systems")
    ev.add_argument("--list", action="store_true", help="list systems and ablations, then exit")
    ev.add_argument("--rewrites", help="JSONL of recorded LLM rewrites (query id -> RoleQuery;"
                    " default: benchmarks/rewrites/<data set>.jsonl when it exists)")
    ev.add_argument("--record-rewrites", action="store_true",
                    help="call the configured LLM for queries missing from --rewrites and "
                         "append its rewrites there")
    ev.add_argument("--judgements", help="JSONL cache of LLM judgements for agent-llm "
                    "(replayed; new ones are appended when a model is up; default: "
                    "benchmarks/judgements/<data set>.jsonl when it exists)")
    ev.add_argument("-k", type=int, default=100)
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.add_argument("--markdown", help="also write the report as a markdown table here")
    ev.add_argument("--run", help="also write every system's ranking in TREC run format here")
    ev.add_argument("--no-progress", action="store_true")


def _kg_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`rolecall kg extract`'s options."""
    kg = sub.add_parser("kg", help="knowledge graphs: extract one from a corpus")
    kg_sub = kg.add_subparsers(dest="kg_command", required=True)
    ex = kg_sub.add_parser("extract", help="a grounded knowledge graph from a corpus, by an "
                           "LLM (entities only, lexically, without one)")
    ex.add_argument("corpus", help="corpus.jsonl (BEIR or rolecall form) or a BEIR folder")
    ex.add_argument("--out", required=True, help="folder for kg.jsonl, corpus.linked.jsonl, "
                    "facts.jsonl and report.json")
    ex.add_argument("--schema", help="a JSONL KG file whose relation declarations and types "
                    "the extraction keeps to")
    ex.add_argument("--types", action="append", default=[], metavar="T,T",
                    help="entity types (comma-separated; repeatable)")
    ex.add_argument("--relation", "--relations", action="append", default=[],
                    dest="relations", metavar="NAME:SUBJ:OBJ[:DESCRIPTION]",
                    help="a relation and its end types, e.g. directed_by:film:person; "
                         "repeatable")
    ex.add_argument("--model", help="litellm model string (default: ROLECALL_MODEL, else "
                    "the local LLM when it is up)")
    ex.add_argument("--api-base", help="the model's API base (default: ROLECALL_API_BASE)")
    ex.add_argument("--no-llm", action="store_true", help="lexical fallback: entities only")
    ex.add_argument("--cache", help="SQLite cache of replies (default: "
                    "~/.cache/rolecall/kg_extract.sqlite)")
    ex.add_argument("--no-cache", action="store_true")
    ex.add_argument("--budget", type=int, help="stop after N LLM calls (a re-run resumes)")
    ex.add_argument("--limit", type=int, help="only the first N documents")
    ex.add_argument("--json", action="store_true", help="print the report as JSON")
    ex.add_argument("--no-progress", action="store_true")


def _tune_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`rolecall tune`'s options."""
    tu = sub.add_parser("tune", help="fine-tune the dense model on contrastive triples mined "
                        "from an index (role, aboutness and exclusion hard negatives)")
    tu.add_argument("index", help="the index to mine (built with `rolecall index`)")
    tu.add_argument("--out", required=True, help="folder for the tuned model")
    tu.add_argument("--kinds", default="role,aboutness,exclusion",
                    help="what to mine, comma-separated: role, aboutness, exclusion")
    tu.add_argument("--qrels", metavar="BEIR", help="also train on the labelled queries of "
                    "this BEIR folder's --split (a training split, never one you evaluate on)")
    tu.add_argument("--split", default="train")
    tu.add_argument("--base", help="sentence-transformers folder to start from (default: the "
                    "packaged all-MiniLM-L6-v2)")
    tu.add_argument("--epochs", type=int, default=1)
    tu.add_argument("--steps", type=int, help="stop after N optimiser steps")
    tu.add_argument("--batch-size", type=int, default=16)
    tu.add_argument("--learning-rate", type=float, default=2e-5)
    tu.add_argument("--max-per-kind", type=int, default=2_000)
    tu.add_argument("--time-budget", type=float, metavar="MINUTES",
                    help="stop after this long, keeping the model so far")
    tu.add_argument("--seed", type=int, default=0)
    tu.add_argument("--resume", action="store_true", help="go on from --out's checkpoint")
    tu.add_argument("--json", action="store_true", help="print the report as JSON")
    tu.add_argument("--no-progress", action="store_true")


def _mcp_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`rolecall mcp`'s options: where the index is, as for search; then the transport."""
    mc = sub.add_parser("mcp", help="serve an index as MCP tools (search, explain_document, "
                        "rewrite) to any MCP client; needs rolecall[mcp]")
    mc.add_argument("index", help="index directory or PostgreSQL DSN (postgresql://…)")
    mc.add_argument("--schema", default="rolecall", help="PostgreSQL schema (with a DSN)")
    mc.add_argument("--exclusion-mode", choices=["soft", "hard"])
    mc.add_argument("--constraint-mode", choices=["soft", "hard"])
    mc.add_argument("--legs", help="comma-separated: lexical,dense")
    mc.add_argument("--transport", choices=["stdio", "http"], default="stdio",
                    help="stdio (default: the client starts this command) or streamable HTTP")
    mc.add_argument("--host", default="127.0.0.1", help="HTTP: the address to bind "
                    "(default 127.0.0.1; any other needs a token)")
    mc.add_argument("--port", type=int, default=8000, help="HTTP: the port (default 8000)")
    mc.add_argument("--token", help="HTTP: the bearer token every request must carry "
                    "(default: ROLECALL_MCP_TOKEN; prefer it: `ps` shows arguments)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except BrokenPipeError:
        # The reader went away (`rolecall search … --json | head`): not an error of ours.
        # Point stdout at /dev/null so the interpreter's final flush cannot raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by the pipe
    except KeyboardInterrupt:
        print("rolecall: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    from .errors import RolecallError

    try:
        if args.command == "index":
            return _index(args)
        if args.command == "search":
            return _search(args)
        if args.command == "demo":
            from .demo import run_demo
            from .rewrite.auto import rewriter_from_env

            rewriter, why = rewriter_from_env()
            print(f"rewriter: {why}", file=sys.stderr)
            run_demo(args.out, k=args.k, rewriter=rewriter)
            return 0
        if args.command == "llm":
            return _llm(args)
        if args.command == "eval":
            return _eval(args)
        if args.command == "kg":
            return _kg(args)
        if args.command == "tune":
            return _tune(args)
        if args.command == "mcp":
            return _mcp(args)
    except RolecallError as exc:
        print(f"rolecall: error: {exc}", file=sys.stderr)
        return 2
    return 2


def _tune(args: argparse.Namespace) -> int:
    from .tune import TuneSettings, tune

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = sorted(set(kinds) - {"role", "aboutness", "exclusion"})
    if bad:
        raise SystemExit(f"--kinds: unknown {bad}; choose from role, aboutness, exclusion")
    qrels = None
    if args.qrels:
        from .eval import load_beir

        ds = load_beir(args.qrels, split=args.split)
        qrels = {q.id: (q.text, q.qrels) for q in ds.queries}
    settings = TuneSettings(
        epochs=args.epochs, steps=args.steps, batch_size=args.batch_size,
        learning_rate=args.learning_rate, seed=args.seed,
        time_budget_s=None if args.time_budget is None else args.time_budget * 60)
    report = tune(args.index, args.out, kinds=kinds, qrels=qrels, base=args.base,
                  settings=settings, max_per_kind=args.max_per_kind, resume=args.resume,
                  progress=not args.no_progress)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    _print_tune(report)
    return 0


def _print_tune(report: Any) -> None:
    counts = ", ".join(f"{n} {k}" for k, n in sorted(report.counts.items()))
    print(f"mined: {counts}; trained on {report.train_triples}")
    print(f"steps: {report.steps} of {report.planned_steps} in {report.seconds:.0f} s "
          f"({report.stopped}); first/last loss "
          f"{report.losses[0] if report.losses else float('nan'):.3f}/"
          f"{report.losses[-1] if report.losses else float('nan'):.3f}")
    if report.before is not None and report.after is not None:
        print(f"held back ({report.before.triples} triples): cos(query, positive) - "
              f"cos(query, negative) {report.before.margin:+.3f} -> {report.after.margin:+.3f}; "
              f"positive first {report.before.ordered:.0%} -> {report.after.ordered:.0%}")
        for kind, (n, _, first) in report.after.by_kind.items():
            was = report.before.by_kind[kind][2]
            print(f"  {kind} ({n:.0f}): positive first {was:.0%} -> {first:.0%}")
    print(f"model: {report.out}\nuse it: rolecall index CORPUS --out INDEX --embedder "
          f"{report.out}   (or rolecall eval DATA --embedder minilm --embedder {report.out})")


def _kg(args: argparse.Namespace) -> int:
    from typing import Literal

    from .documents import read_corpus
    from .errors import CorpusError
    from .extract import ExtractionSchema, extract_graph, model_from_env
    from .llm.kvcache import SqliteCache, TextCache

    docs = list(read_corpus(args.corpus))[: args.limit]
    if not docs:
        raise CorpusError("the corpus holds no documents; nothing to extract", path=args.corpus)
    schema = ExtractionSchema.from_specs(types=args.types, relations=args.relations)
    if args.schema:
        loaded = ExtractionSchema.from_kg_file(args.schema)
        schema = ExtractionSchema(types=[*loaded.types, *schema.types],
                                  relations=[*loaded.relations, *schema.relations])
    client, why = (None, "--no-llm: lexical fallback, entities only") if args.no_llm else (
        model_from_env(args.model, api_base=args.api_base))
    print(f"extraction: {why}", file=sys.stderr)
    cache: TextCache | None | Literal[False] = False if args.no_cache else (
        SqliteCache(args.cache, table="kg_extract") if args.cache else None)
    result = extract_graph(docs, model=client, schema=schema, cache=cache,
                           budget=args.budget, progress=not args.no_progress)
    paths = result.write(args.out, docs)
    if args.json:
        print(result.report.model_dump_json(indent=2))
    else:
        print(result.report.summary())
        print(f"wrote {', '.join(str(p) for p in paths.values())}")
        print(f"index it: rolecall index {paths['corpus.linked.jsonl']} --out INDEX "
              f"--kg {paths['kg.jsonl']}")
    return 0


def _embedder(args: argparse.Namespace) -> Any:
    """The embedder `--embedder` names (with `--precision`, when given), or None (the
    default; for an existing index, its own)."""
    from .embedding.names import embedder_named

    # getattr: callers (tests, benchmarks) build the namespace of `_eval_index` by hand.
    name = getattr(args, "embedder", None)
    if isinstance(name, list):  # eval's repeatable option, one model at a time
        name = name[0] if name else None
    precision = getattr(args, "precision", None)
    if precision is None:
        return embedder_named(name) if name else None
    if name is None:  # the model the index was built with, or the default for a new one
        name = _recorded_model(args) if args.add else "minilm"
    return embedder_named(name, bulk_precision=precision)


def _precision_ran(embedder: Any) -> str:
    """What `--precision` became once the model loaded (it falls back to float32 where
    bfloat16 is not native or not close), for the summary line; empty without the option."""
    ran = getattr(embedder, "bulk_precision", None)
    note = getattr(embedder, "bulk_precision_note", "")
    return f" ({ran} bulk embedding{'; ' + note if note else ''})" if ran else ""


def _recorded_model(args: argparse.Namespace) -> str:
    """The embedding model the existing index `--out` (directory or DSN) was built with."""
    if _is_dsn(args.out):
        pindex = _postgres().open(args.out, schema=args.schema)
        try:
            return str(pindex.embedding_model)
        finally:
            pindex.close()
    from .backends.embedded.index import Index

    return Index.open(args.out).manifest.embedding_model


def _is_dsn(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def _postgres() -> Any:
    from .errors import MissingDependencyError

    try:
        import rolecall_postgres
    except ImportError as exc:
        raise MissingDependencyError("psycopg", "postgres") from exc
    return rolecall_postgres.PostgresIndex


def _index(args: argparse.Namespace) -> int:
    from .backends.embedded.index import Index
    from .documents import read_corpus
    from .errors import CorpusError

    t = time.perf_counter()
    docs = list(read_corpus(args.corpus))
    if not docs:
        raise CorpusError("the corpus holds no documents; nothing was indexed", path=args.corpus)
    if args.add and (args.kg or args.link_fields or args.sentence_vectors):
        # An add links new documents by the graph and fields the index was built with.
        print("rolecall: error: --kg, --link-field and --sentence-vectors cannot change an "
              "existing index's graph, link fields or stored vectors; rebuild",
              file=sys.stderr)
        return 2
    if args.sentence_vectors and _is_dsn(args.out):
        print("rolecall: error: --sentence-vectors is for an index directory; the PostgreSQL "
              "backend does not store them (the agent embeds sentences per search there)",
              file=sys.stderr)
        return 2
    kg = _load_kg(args.kg)
    progress = not args.no_progress
    embedder = _embedder(args)
    if _is_dsn(args.out):
        pg = _postgres()
        if args.add:
            pindex = pg.open(args.out, schema=args.schema, embedder=embedder).add(
                docs, progress=progress)
        else:
            pindex = pg.build(args.out, docs, kg=kg, schema=args.schema, progress=progress,
                              link_fields=args.link_fields, embedder=embedder)
        dt = time.perf_counter() - t
        print(
            f"indexed {len(docs)} documents in {dt:.1f}s ({len(docs) / max(dt, 1e-9):.0f} "
            f"docs/s); PostgreSQL schema {args.schema}: {len(pindex)} documents, "
            f"{len(pindex.kg.entities)} entities, {len(pindex.kg.relations)} relations"
            + _precision_ran(embedder) + (", HNSW" if pindex.dense.ann else "")
        )
        if pindex.link_report is not None and len(pindex.kg):
            print(pindex.link_report.summary())
        return 0
    if args.add:
        index = Index.open(args.out, embedder=embedder).add(docs, progress=progress)
    else:
        index = Index.build(args.out, docs, kg=kg, progress=progress,
                            link_fields=args.link_fields, embedder=embedder,
                            sentence_vectors=args.sentence_vectors)
    dt = time.perf_counter() - t
    m = index.manifest
    print(
        f"indexed {len(docs)} documents in {dt:.1f}s ({len(docs) / max(dt, 1e-9):.0f} docs/s); "
        f"index {args.out}: {m.count} documents, generation {m.generation}, "
        f"{m.entities} entities, {m.relations} relations, model {m.embedding_model}"
        + _precision_ran(embedder) + (", HNSW" if m.ann else "")
        + (", sentence vectors" if m.sentence_vectors else "")
    )
    if m.entities:
        # Counted, never dropped: the documents the graph cannot judge are said up front.
        print(index.link_report.summary())
    return 0


def _eval(args: argparse.Namespace) -> int:
    from . import eval as ev
    from .retriever import Retriever

    if args.list:
        for name, what in {**ev.SYSTEMS, **ev.ABLATIONS}.items():
            print(f"{name:20s} {what}")
        return 0
    ds = ev.load_beir(args.data, split=args.split)
    if args.limit is not None:
        if args.limit < 1:
            raise SystemExit("--limit must be a positive number of queries")
        ds.queries = ds.queries[: args.limit]
    models = args.embedder or [None]
    retriever = Retriever(_eval_index(_one_model(args, models[0]), ds))
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if args.ablations:
        systems += [a for a in ev.ABLATIONS if a not in systems]
    wants_llm = "llm" in systems or "agent-llm" in systems
    judged = {"agent-llm", "agent-judge2"} & set(systems)
    if wants_llm:
        args.rewrites = args.rewrites or _committed(Path("benchmarks/rewrites"), ds.name)
    if judged:
        args.judgements = args.judgements or _committed(Path("benchmarks/judgements"), ds.name)
    if args.record_rewrites and not args.rewrites:
        raise SystemExit("--record-rewrites needs --rewrites FILE (and the llm system): where "
                         "to append the recorded rewrites")
    rewrites = ev.load_rewrites(args.rewrites) if args.rewrites else {}
    if rewrites:
        _note_stale_prompts(args.rewrites, retriever, [q.id for q in ds.queries])
    llm = None
    if wants_llm and (args.record_rewrites or not all(q.id in rewrites for q in ds.queries)):
        from .rewrite.auto import rewriter_from_env
        from .rewrite.llm import LLMRewriter

        candidate, why = rewriter_from_env()
        if isinstance(candidate, LLMRewriter):
            llm = candidate
        print(f"llm system: {why}", file=sys.stderr)
    judge = _eval_judge(args.judgements) if judged else None
    runs = []
    for i, model in enumerate(models):
        if i:
            retriever = Retriever(_eval_index(_one_model(args, model), ds))
        model_runs = ev.run_systems(
            retriever, ds, systems, k=args.k, rewrites=rewrites, llm=llm, judge=judge,
            record_to=args.rewrites if args.record_rewrites else None,
            progress=not args.no_progress,
        )
        if len(models) > 1:
            tag = _model_tag(model, "@") or "@minilm"
            for run in model_runs:
                run.name += tag
        runs += model_runs
    reports = ev.report(runs, ds)
    title = f"{ds.name} ({args.split}): {len(ds.queries)} queries, {len(ds.documents)} documents"
    if args.limit is not None:
        title += f" (--limit {args.limit}: the first queries only)"
    if args.markdown:
        Path(args.markdown).write_text(ev.to_markdown(reports, title), encoding="utf-8")
    if args.run:
        ev.write_trec_run(runs, args.run)
    if args.json:
        print(json.dumps([r.__dict__ for r in reports], indent=2, default=str))
        return 0
    _print_reports(reports, title)
    return 0


def _note_stale_prompts(path: str, retriever: Any, ids: list[str]) -> None:
    """Say when recorded rewrites were made with another prompt than today's: they are
    replayed as recorded, which is what the model answered then, not what it would now."""
    from .eval import recorded_prompts
    from .rewrite.prompts import prompt_hash

    now = prompt_hash(retriever.catalog)
    prompts = recorded_prompts(path)
    stale = sum(1 for i in ids if i in prompts and prompts[i] != now)
    if stale:
        print(f"llm system: {stale} of {len(ids)} recorded rewrites in {path} were made with "
              f"another prompt (today's is {now}); they replay as recorded — re-record with "
              "--record-rewrites into a new file to measure today's prompt", file=sys.stderr)


def _load_kg(paths: list[str] | None) -> Any:
    """The graph of `--kg` files, with what was read from each printed to stderr (the
    dropped-alias warnings are in that report, so they are not printed twice)."""
    if not paths:
        return None
    import warnings

    from .graph import KnowledgeGraph

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        kg = KnowledgeGraph.load(paths)
    if kg.load_report is not None:
        print(kg.load_report.summary(), file=sys.stderr)
    return kg


def _eval_index(args: argparse.Namespace, ds: Any) -> Any:
    """The cached index of the data set when it holds its documents and was built with the
    same graph, link fields and embedding model, else a new build.  Each embedder has its
    own cache folder, so switching `--embedder` back and forth rebuilds nothing."""
    from .backends.embedded.index import Index
    from .embedding.names import resolve_embedder
    from .errors import RolecallError

    embedder = resolve_embedder(_embedder(args))
    chosen = getattr(args, "embedder", None)
    name = f"{ds.name}{_model_tag(chosen[0] if chosen else None, '-')}"
    path = Path(args.index or Path(".rolecall") / "eval" / name)
    kg = _load_kg(args.kg)
    if not args.rebuild:
        index: Index | None
        try:
            index = Index.open(path)
        except RolecallError:
            index = None
        if index is not None and len(index) == len(ds.documents):
            # Same documents is not enough: results depend on the graph, link fields and model.
            if index.built_with(kg, args.link_fields, embedder.name):
                return index
            print(f"rebuilding {path}: it was built with another graph, link fields or "
                  "embedding model", file=sys.stderr)
        if index is not None:
            index.close()
    return Index.build(path, ds.documents, kg=kg, progress=not args.no_progress,
                       link_fields=args.link_fields, embedder=embedder)


def _one_model(args: argparse.Namespace, model: str | None) -> argparse.Namespace:
    """`args` with one of eval's `--embedder` models (for building or opening its index);
    with several, each gets its own `--index` folder (the model's tag appended)."""
    index = args.index
    if index and args.embedder and len(args.embedder) > 1:
        index = f"{index}{_model_tag(model, '-') or '-minilm'}"
    return argparse.Namespace(**{**vars(args), "embedder": [model] if model else None,
                                 "index": index})


def _model_tag(embedder: str | None, sep: str) -> str:
    """How rows and cache folders name a model: nothing for the default, its short name for
    a packaged one, the folder's name and a hash of its path for a tuned one."""
    import hashlib

    from .embedding.names import EMBEDDERS

    if embedder in (None, "minilm"):
        return ""
    if embedder in EMBEDDERS:
        return f"{sep}{embedder}"
    path = str(Path(embedder).resolve())
    return f"{sep}{Path(path).name}-{hashlib.sha1(path.encode()).hexdigest()[:8]}"


def _committed(folder: Path, name: str) -> str | None:
    """The recordings this repository commits for a data set (`benchmarks/rewrites/scifact.jsonl`
    …), when eval runs from a checkout that has them; said on stderr, since they change what
    the llm and agent-llm rows measure."""
    path = folder / f"{name}.jsonl"
    if not path.is_file():
        return None
    print(f"replaying {path} (default for {name!r}; pass the option to choose another file)",
          file=sys.stderr)
    return str(path)


def _eval_judge(judgements: str | None) -> Any:
    """The judge for agent-llm: the configured or local model, answering from (and adding
    to) the --judgements file; with no model up, the file alone (a miss then degrades)."""
    from .agent.judge import LLMJudge
    from .llm.kvcache import JsonlCache
    from .rewrite.auto import LOCAL_ALIAS, local_api_base

    cache = JsonlCache(judgements) if judgements else None
    if os.environ.get("ROLECALL_MODEL"):
        return LLMJudge(cache=cache)
    if cache is None and not _local_llm_up():
        return None
    # The local model's name is part of every cache key: replays need the same name.
    return LLMJudge(f"openai/{LOCAL_ALIAS}", api_base=local_api_base(), cache=cache)


def _local_llm_up() -> bool:
    from .llm.local import server_is_up
    from .rewrite.auto import local_api_base

    return server_is_up(local_api_base(), timeout=0.5)


def _print_reports(reports: Sequence[Any], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from .eval import METRIC_NAMES

    console = Console(width=160)
    table = Table(title=title)
    table.add_column("system")
    for m in (*METRIC_NAMES, "p50 ms", "p99 ms", "LLM calls/q"):
        table.add_column(m, justify="right")
    for r in reports:
        if not r.metrics:
            table.add_row(r.name, r.note)
            continue
        table.add_row(r.name, *[_fmt(r.metrics[m]) for m in METRIC_NAMES],
                      f"{r.p50_ms:.1f}", f"{r.p99_ms:.1f}", f"{r.llm_calls_per_query:.2f}")
    console.print(table)
    cats = sorted({c for r in reports for c in r.by_category})
    if cats:
        ct = Table(title="violation / nDCG@10 by query category")
        ct.add_column("system")
        for c in cats:
            ct.add_column(c, justify="right")
        for r in reports:
            if r.by_category:
                ct.add_row(r.name, *[
                    f"{_fmt(r.by_category[c]['violation'])} / {_fmt(r.by_category[c]['nDCG@10'])}"
                    for c in cats])
        console.print(ct)


def _fmt(v: float) -> str:
    return "—" if v != v else f"{v:.3f}"


def _llm(args: argparse.Namespace) -> int:
    from .llm import local as local_llm
    from .rewrite.auto import LOCAL_ALIAS, local_api_base, rewriter_from_env

    if args.llm_command == "status":
        up = local_llm.server_is_up(local_api_base())
        print(f"local server {local_api_base()}: {'up' if up else 'down'}")
        print(f"rewriter: {rewriter_from_env()[1]}")
        return 0
    port = args.port or int(local_api_base().rsplit(":", 1)[1].split("/")[0])
    path = local_llm.assemble(local_llm.default_model_path())
    handle = local_llm.start_server(path, port=port, threads=args.threads, alias=LOCAL_ALIAS)
    print(f"serving {path.name} at {handle.api_base} as {handle.model_string} "
          f"({args.threads} threads); Ctrl-C stops it")
    try:
        handle.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        local_llm.stop_server(handle)
    return 0


def _mcp(args: argparse.Namespace) -> int:
    from .mcp_server import serve
    from .mcp_server.auth import check_exposure, token_from
    from .rewrite.auto import rewriter_from_env

    token = token_from(args.token) if args.transport == "http" else None
    if args.transport == "http":
        check_exposure(args.host, token)  # before the index is opened: fail fast
    rewriter, why = rewriter_from_env()
    print(f"rewriter: {why}", file=sys.stderr)  # stderr: stdout is the stdio transport's
    with _open_retriever(args, rewriter, **_setting_overrides(args)) as r:
        serve(r, transport=args.transport, host=args.host, port=args.port, token=token)
    return 0


def _open_retriever(args: argparse.Namespace, rewriter: Any, **settings: Any) -> Any:
    """The Retriever over `args.index`: an index folder or a PostgreSQL DSN."""
    from .retriever import Retriever

    if _is_dsn(args.index):
        return Retriever(_postgres().open(args.index, schema=args.schema), rewriter=rewriter,
                         **settings)
    return Retriever.open(args.index, rewriter=rewriter, **settings)


def _setting_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The search settings `--exclusion-mode`, `--constraint-mode` and `--legs` ask for."""
    overrides: dict[str, Any] = {}
    if args.exclusion_mode:
        overrides["exclusion_mode"] = args.exclusion_mode
    if args.constraint_mode:
        overrides["constraint_mode"] = args.constraint_mode
    if args.legs is not None:
        overrides["legs"] = tuple(s.strip() for s in args.legs.split(",") if s.strip())
    return overrides


def _search(args: argparse.Namespace) -> int:
    from .query import RoleQuery
    from .rewrite.auto import rewriter_from_env

    rewriter = None if args.plain else rewriter_from_env()[0]
    r = _open_retriever(args, rewriter)
    overrides = _setting_overrides(args)
    query: str | RoleQuery = RoleQuery.plain(args.query) if args.plain else args.query
    result = r.search(query, k=args.k, **overrides)
    if args.json:
        print(json.dumps(result.to_json_dict(), indent=2, ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    rq = result.plan.query
    console.print(f"[bold]{rq.text}[/bold]  (rewriter: {rq.provenance.rewriter})")
    if rq.target_type or rq.relations or rq.exclusions:
        console.print(
            "  " + "; ".join(
                ([f"target {rq.target_type}"] if rq.target_type else [])
                + [f"{c.polarity.value} {c.relation} {c.object}" for c in rq.relations]
                + [f"exclude {e.text!r}" for e in rq.exclusions]
            )
        )
    for note in result.plan.notes:
        console.print(f"  [dim]{note}[/dim]")
    for d in result.degraded:
        console.print(f"  [yellow]degraded[/yellow] {d.stage}: {d.reason}")
    table = Table(show_header=True, header_style="bold")
    table.add_column("#")
    table.add_column("id")
    table.add_column("score")
    table.add_column("title")
    table.add_column("why")
    for i, h in enumerate(result.hits, start=1):
        table.add_row(str(i), h.id, f"{h.score:.3f}", h.title[:40], h.explanation.summary())
    console.print(table)
    t = result.plan.timings_ms
    console.print(f"[dim]{len(result.hits)} hits in {t.get('total', 0):.1f} ms[/dim]")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
