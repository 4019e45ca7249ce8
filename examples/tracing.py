"""A search's OpenTelemetry span tree: each stage a span, with what it did.

    pip install "rolecall[otel]"
    .venv/bin/python examples/tracing.py [INDEX_DIR]

rolecall only uses `opentelemetry-api`; spans are recorded once an SDK tracer provider is
set, as here (an in-memory exporter, to print the tree; in production an OTLP exporter to
Jaeger, Phoenix, Honeycomb...).  The chat history and LLM messages are not recorded unless
`ROLECALL_TRACE_CONTENT=1` or `rolecall.tracing.configure(record_content=True)`.
"""

from __future__ import annotations

import sys
import tempfile

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rolecall import KnowledgeGraph, Retriever, read_corpus
from rolecall.demo import demo_data_dir

#: The attributes printed beside each span (all of them are on the spans).
SHOWN = ("input.value", "rolecall.grounding.links", "rolecall.restrict.constraints",
         "rolecall.leg.lexical.candidates", "rolecall.leg.dense.candidates",
         "rolecall.candidates", "rolecall.demoted.ids", "rolecall.suppressed.ids",
         "retrieval.documents.0.document.id")


def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    data = demo_data_dir()
    path = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="rolecall-") + "/index"
    kg = KnowledgeGraph.load([data / "kg.jsonl"])
    r = Retriever.build(path, read_corpus(data / "corpus.jsonl"), kg=kg, progress=False)

    query = "allergy medicine that doesn't make you drowsy"
    r.search(query, k=3)  # the first search loads the embedding model: not the one to show
    exporter.clear()
    result = r.search(query, k=3)
    print_tree(exporter.get_finished_spans())
    print("hits:", ", ".join(result.ids))


def print_tree(spans: tuple[ReadableSpan, ...]) -> None:
    """Each span indented under its parent, with its duration and a few attributes."""
    by_id = {s.context.span_id: s for s in spans if s.context is not None}

    def depth(s: ReadableSpan) -> int:
        d = 0
        while s.parent is not None and s.parent.span_id in by_id:
            s, d = by_id[s.parent.span_id], d + 1
        return d

    for s in sorted(spans, key=lambda s: s.start_time or 0):
        ms = ((s.end_time or 0) - (s.start_time or 0)) / 1e6
        attrs = s.attributes or {}
        kind = attrs.get("openinference.span.kind", "")
        shown = [f"{k.removeprefix('rolecall.')}={_short(attrs[k])}" for k in SHOWN if k in attrs]
        print(f"{'  ' * depth(s)}{s.name} [{kind}] {ms:.1f} ms  {'  '.join(shown)}".rstrip())


def _short(value: object) -> str:
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


if __name__ == "__main__":
    main()
