"""OpenTelemetry spans (#19): the span tree of a search and of an agent run, the LLM calls'
token counts (replayed from recorded cassettes), what is never recorded (the API key; the
history unless content is turned on), the attribute names against OpenInference's own, and a
search without any SDK configured.

rolecall's spans go to a provider given with `rolecall.tracing.configure(tracer_provider=)`
for this module only: the global provider can be set once per process, and other test
modules should not pay for recording spans."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from rolecall import Agent, AttributeFilter, Index, LLMJudge, LLMRewriter, Retriever, RoleQuery
from rolecall import tracing as rt
from rolecall.pipeline.state import Outcome, SearchState
from rolecall.query import Operator
from rolecall.testing import recorded_llm

from .conftest import CASSETTES, LOCAL_MODEL
from .llm_cases import CASES
from .test_agent import BALLETS

STAGES = ["ground", "restrict", "encode", "lexical", "dense", "fuse", "exclusions", "policy",
          "hits"]
API_KEY = "sk-rolecall-test-0123456789abcdef"


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    rt.configure(tracer_provider=provider)
    yield provider, memory
    rt.configure(tracer_provider=None, record_content=None)
    provider.shutdown()


@pytest.fixture
def spans(
    provider: tuple[TracerProvider, InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tree]:
    monkeypatch.delenv("ROLECALL_TRACE_CONTENT", raising=False)
    provider[1].clear()
    yield Tree(*provider)
    rt.configure(record_content=None, tracer_provider=provider[0])


class Tree:
    """The finished spans, navigable by parent."""

    def __init__(self, provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
        self.provider = provider
        self.exporter = exporter

    @property
    def all(self) -> list[ReadableSpan]:
        return sorted(self.exporter.get_finished_spans(), key=lambda s: s.start_time or 0)

    def roots(self) -> list[ReadableSpan]:
        return [s for s in self.all if s.parent is None]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        sid = parent.context.span_id if parent.context else None
        return [s for s in self.all if s.parent is not None and s.parent.span_id == sid]

    def child(self, parent: ReadableSpan, name: str) -> ReadableSpan:
        found = [s for s in self.children(parent) if s.name == name]
        assert len(found) == 1, [s.name for s in self.children(parent)]
        return found[0]

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.all if s.name == name]

    def text(self) -> str:
        """Every attribute and event value of every span, as one string to search."""
        parts: list[str] = []
        for s in self.all:
            parts += [str(v) for v in (s.attributes or {}).values()]
            for e in s.events:
                parts += [str(v) for v in (e.attributes or {}).values()]
            parts.append(str(s.status.description or ""))
        return "\n".join(parts)


def attrs(s: ReadableSpan) -> dict[str, Any]:
    return dict(s.attributes or {})


def documents(s: ReadableSpan) -> list[tuple[str, float]]:
    a = attrs(s)
    out: list[tuple[str, float]] = []
    while f"retrieval.documents.{len(out)}.document.id" in a:
        i = len(out)
        out.append((a[f"retrieval.documents.{i}.document.id"],
                    a[f"retrieval.documents.{i}.document.score"]))
    return out


def stage_detail_count(result_stages: Sequence[Any], name: str) -> int:
    detail = next(r.detail for r in result_stages if r.name == name)
    return int(detail.split()[0])


# -- one search ---------------------------------------------------------------------------------


def test_span_tree_of_one_search(tiny: Retriever, spans: Tree) -> None:
    query = "Aaron, but don't mention Moses"
    result = tiny.search(query, k=3, exclusion_mode="hard")
    [root] = spans.roots()
    assert root.name == "rolecall.search"
    a = attrs(root)
    assert a["openinference.span.kind"] == "RETRIEVER" and a["input.value"] == query
    rewrite = json.loads(a["rolecall.rewrite"])
    assert rewrite["exclusions"][0]["text"] == result.plan.query.exclusions[0].text
    assert documents(root) == [(h.id, h.score) for h in result.hits]
    assert "retrieval.documents.0.document.content" not in a  # content off by default
    names = [s.name for s in spans.children(root)]
    assert names == ["rolecall.rewrite"] + [f"rolecall.stage.{n}" for n in STAGES]
    stage = {n: attrs(spans.child(root, f"rolecall.stage.{n}")) for n in STAGES}
    for record in result.plan.stages:  # the span says what the plan says
        assert stage[record.name]["rolecall.stage.ms"] == record.ms
        assert stage[record.name]["rolecall.stage.detail"] == record.detail
    for leg in ("lexical", "dense"):
        count = stage[leg][f"rolecall.leg.{leg}.candidates"]
        assert count == stage_detail_count(result.plan.stages, leg) > 0
    assert stage["fuse"]["rolecall.candidates"] == result.plan.candidates
    links = stage["ground"]["rolecall.grounding.links"]
    assert len(links) == stage["ground"]["rolecall.grounding.linked"]
    # The hard exclusion suppressed the page about Moses: its id is on the policy span.
    assert "g" in stage["policy"]["rolecall.suppressed.ids"] and "g" not in result.ids
    assert stage["policy"]["rolecall.suppressed.count"] >= 1
    rw = attrs(spans.child(root, "rolecall.rewrite"))
    assert rw["openinference.span.kind"] == "CHAIN" and rw["rolecall.history.length"] == 0
    assert json.loads(rw["output.value"]) == rewrite
    assert all(s.status.status_code is StatusCode.UNSET for s in spans.all)


def test_grounding_mappings_on_the_ground_span(tiny: Retriever, spans: Tree) -> None:
    # "years" is no metadata field of the index: grounding maps it to "year".
    rq = RoleQuery(text="drugs after 1990", target_type="drug", filters=[
        AttributeFilter(field="years", op=Operator.GT, value=1990)])
    result = tiny.search(rq, k=3)
    [root] = spans.roots()
    assert attrs(root)["input.value"] == "drugs after 1990"
    assert "rolecall.rewrite" not in [s.name for s in spans.children(root)]  # given, not rewritten
    links = attrs(spans.child(root, "rolecall.stage.ground"))["rolecall.grounding.links"]
    assert "target_type: drug -> drug (exact 1.00, hard)" in links
    mapped = next(g for g in result.plan.grounding if g.slot == "filters[0]")
    assert mapped.method == "mapped" and mapped.mapped_to == "year"
    assert (f"filters[0]: {mapped.value} -> year (mapped {mapped.confidence:.2f}, "
            f"{mapped.enforcement})"
            in links)
    assert len(links) == sum(g.resolved for g in result.plan.grounding)


async def test_async_search_has_the_same_tree(tiny: Retriever, spans: Tree) -> None:
    result = await tiny.asearch("a drug that treats headaches", k=3)
    [root] = spans.roots()
    names = [s.name for s in spans.children(root)]
    # The stages run in a worker thread, still children of the search's span.
    assert names == ["rolecall.rewrite"] + [f"rolecall.stage.{n}" for n in STAGES]
    assert documents(root) == [(h.id, h.score) for h in result.hits]


class Boom:
    name = "boom"
    after = "fuse"

    def run(self, state: SearchState) -> Outcome:
        raise ValueError("a bug in an added stage")


def test_a_raising_stage_leaves_its_error_on_its_span(tiny: Retriever, spans: Tree) -> None:
    r = Retriever(tiny.index, stages=[Boom()])
    with pytest.raises(ValueError, match="a bug"):
        r.search("a drug that treats headaches", k=3)
    [boom] = spans.named("rolecall.stage.boom")
    assert boom.status.status_code is StatusCode.ERROR
    [event] = [e for e in boom.events if e.name == "exception"]
    assert (event.attributes or {})["exception.message"] == "a bug in an added stage"
    [root] = spans.roots()
    assert root.status.status_code is StatusCode.ERROR
    assert [s.name for s in spans.children(root)][-1] == "rolecall.stage.boom"  # none after


def test_document_content_only_when_turned_on(tiny: Retriever, spans: Tree) -> None:
    rt.configure(record_content=True)
    result = tiny.search("a drug that treats headaches", k=2)
    [root] = spans.roots()
    assert attrs(root)["retrieval.documents.0.document.content"] == result.hits[0].text


def test_no_sdk_configured_is_a_no_op(tiny: Retriever, spans: Tree) -> None:
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        pytest.skip("a global tracer provider was set in this process")
    rt.configure(tracer_provider=None)  # back to the global provider: none is set
    with rt.span("rolecall.test", rt.KIND_CHAIN) as current:
        assert not current.is_recording()
    result = tiny.search("a drug that treats headaches", k=3)
    assert result.hits and len(result.plan.stages) == len(STAGES) - 1
    assert spans.all == []  # (the fixture gives the module's provider back)


# -- LLM calls ----------------------------------------------------------------------------------

FOLLOW_UP = next(c for c in CASES if c["name"] == "followup_without_drowsy")


def follow_up_search(demo: Retriever, api_base: str) -> tuple[Any, LLMRewriter]:
    """The recorded follow-up rewrite (history included in the prompt), through a search."""
    rw = LLMRewriter(LOCAL_MODEL, api_base=api_base, cache=False, strict=True, api_key=API_KEY)
    r = Retriever(demo.index, rewriter=rw)
    with recorded_llm(CASSETTES / "rewrite" / f"{FOLLOW_UP['name']}.yaml", record=False):
        result = r.search(FOLLOW_UP["query"], k=3, history=FOLLOW_UP["history"])
    return result, rw


@pytest.mark.llm
def test_llm_rewrite_span_with_token_counts(demo: Retriever, llm_api_base: str,
                                            spans: Tree) -> None:
    result, rw = follow_up_search(demo, llm_api_base)
    [root] = spans.roots()
    rewrite = spans.child(root, "rolecall.rewrite")
    assert attrs(rewrite)["rolecall.rewriter"] == rw.name
    assert attrs(rewrite)["rolecall.history.length"] == len(FOLLOW_UP["history"])
    [llm] = spans.children(rewrite)
    a = attrs(llm)
    assert llm.name == "rolecall.llm" and a["openinference.span.kind"] == "LLM"
    assert a["llm.model_name"] == LOCAL_MODEL
    params = json.loads(a["llm.invocation_parameters"])
    assert params["temperature"] == 0.0 and params["response_format"] == {"type": "json_object"}
    assert set(params) <= {"temperature", "max_tokens", "seed", "timeout", "response_format"}
    assert a["llm.token_count.total"] == rw.client.tokens > 0
    assert a["llm.token_count.prompt"] + a["llm.token_count.completion"] == rw.client.tokens
    assert json.loads(attrs(root)["rolecall.rewrite"])["text"] == FOLLOW_UP["query"]
    assert result.plan.query.provenance.rewriter == f"llm:{LOCAL_MODEL}"


@pytest.mark.llm
def test_history_and_key_never_recorded_by_default(demo: Retriever, llm_api_base: str,
                                                   spans: Tree) -> None:
    follow_up_search(demo, llm_api_base)
    text = spans.text()
    assert API_KEY not in text and "api_key" not in text
    for message in FOLLOW_UP["history"]:
        assert message.content not in text
    assert not any(k.startswith("llm.input_messages") or k.startswith("llm.output_messages")
                   for s in spans.all for k in attrs(s))


@pytest.mark.llm
def test_history_recorded_when_turned_on(demo: Retriever, llm_api_base: str, spans: Tree,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLECALL_TRACE_CONTENT", "1")
    follow_up_search(demo, llm_api_base)
    [rewrite] = spans.named("rolecall.rewrite")
    history = json.loads(attrs(rewrite)["rolecall.history"])
    assert [m["content"] for m in history] == [m.content for m in FOLLOW_UP["history"]]
    [llm] = spans.named("rolecall.llm")
    prompt = " ".join(str(v) for k, v in attrs(llm).items() if k.startswith("llm.input_messages"))
    assert all(m.content in prompt for m in FOLLOW_UP["history"])
    assert attrs(llm)["llm.output_messages.0.message.role"] == "assistant"
    assert API_KEY not in spans.text()  # the key is not content: never recorded
    rt.configure(record_content=False)  # the setting wins over the variable
    spans.exporter.clear()
    follow_up_search(demo, llm_api_base)
    assert FOLLOW_UP["history"][1].content not in spans.text()


def test_a_failed_llm_call_is_an_error_span_without_the_key(tiny: Retriever, spans: Tree) -> None:
    from .fake_llm import FakeLLM

    with FakeLLM(("status", 401, {})) as fake:
        rw = LLMRewriter("openai/fake", api_base=fake.api_base, cache=False, max_retries=0,
                         api_key=API_KEY)
        Retriever(tiny.index, rewriter=rw).search("a drug that treats headaches", k=2)
    [llm] = spans.named("rolecall.llm")
    assert llm.status.status_code is StatusCode.ERROR
    assert "401" in (llm.status.description or "")
    assert API_KEY not in spans.text()
    [root] = spans.roots()  # the rewriter fell back to the rules: the search succeeded
    assert root.status.status_code is StatusCode.UNSET


# -- an agent run -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ballets(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    path: Path = tmp_path_factory.mktemp("ballets") / "idx"
    return Retriever(Index.build(path, BALLETS, progress=False))


@pytest.mark.llm
def test_span_tree_of_an_agent_run(ballets: Retriever, llm_api_base: str, spans: Tree) -> None:
    judge = LLMJudge(LOCAL_MODEL, api_base=llm_api_base, cache=False, window=5)
    agent = Agent(ballets, judge=judge)
    with recorded_llm(CASSETTES / "agent" / "judge_rite_of_spring.yaml", record=False):
        result = agent.search("Stravinsky's ballets, excluding The Rite of Spring", k=5)
    [root] = spans.roots()
    assert root.name == "rolecall.agent" and attrs(root)["openinference.span.kind"] == "AGENT"
    expected = ["rolecall.rewrite" if s.kind == "rewrite" else f"rolecall.agent.{s.kind}"
                for s in result.plan.steps if s.kind != "clarify"]
    assert [s.name for s in spans.children(root)] == expected
    assert "rolecall.agent.judge" in expected and "rolecall.agent.verify" in expected
    assert list(attrs(root)["rolecall.steps"]) == [s.kind for s in result.plan.steps]
    assert documents(root) == [(h.id, h.score) for h in result.hits]
    # Each search step holds one search, with its stages.
    for step in spans.named("rolecall.agent.search"):
        search = spans.child(step, "rolecall.search")
        assert [s.name for s in spans.children(search)] == [f"rolecall.stage.{n}" for n in STAGES]
    judged = spans.child(root, "rolecall.agent.judge")
    llm = spans.child(judged, "rolecall.llm")
    assert result.plan.spent is not None
    assert attrs(llm)["llm.token_count.total"] == result.plan.spent.tokens > 0
    assert attrs(root)["rolecall.spent.llm_calls"] == 1
    assert attrs(judged)["rolecall.step.llm_calls"] == 1


def test_agent_relaxation_steps_are_spans(tiny: Retriever, spans: Tree) -> None:
    result = Agent(tiny).search("allergy medicine without drowsiness", k=5)
    [root] = spans.roots()
    kinds = [s.kind for s in result.plan.steps]
    assert "relax" in kinds
    names = [s.name for s in spans.children(root)]
    assert names == ["rolecall.rewrite" if k == "rewrite" else f"rolecall.agent.{k}"
                     for k in kinds if k != "clarify"]
    for step in spans.children(root)[1:]:
        assert [s.name for s in spans.children(step)] == ["rolecall.search"]
    relax = spans.named("rolecall.agent.relax")[0]
    assert "relaxed" in attrs(relax)["rolecall.step.detail"]


async def test_async_agent_run(tiny: Retriever, spans: Tree) -> None:
    await Agent(tiny).asearch("allergy medicine without drowsiness", k=5)
    [root] = spans.roots()
    assert root.name == "rolecall.agent"
    steps = spans.named("rolecall.agent.search")
    assert steps and spans.child(steps[0], "rolecall.search")


# -- the attribute names ------------------------------------------------------------------------


def test_attribute_names_are_openinference_s() -> None:
    semconv = pytest.importorskip("openinference.semconv.trace")
    sa, da, ma = semconv.SpanAttributes, semconv.DocumentAttributes, semconv.MessageAttributes
    kinds = semconv.OpenInferenceSpanKindValues
    mimes = semconv.OpenInferenceMimeTypeValues
    assert rt.SPAN_KIND == sa.OPENINFERENCE_SPAN_KIND
    for name in ("INPUT_VALUE", "INPUT_MIME_TYPE", "OUTPUT_VALUE", "OUTPUT_MIME_TYPE",
                 "RETRIEVAL_DOCUMENTS", "LLM_MODEL_NAME", "LLM_INVOCATION_PARAMETERS",
                 "LLM_TOKEN_COUNT_PROMPT", "LLM_TOKEN_COUNT_COMPLETION", "LLM_TOKEN_COUNT_TOTAL",
                 "LLM_INPUT_MESSAGES", "LLM_OUTPUT_MESSAGES"):
        assert getattr(rt, name) == getattr(sa, name), name
    for name in ("DOCUMENT_ID", "DOCUMENT_SCORE", "DOCUMENT_CONTENT"):
        assert getattr(rt, name) == getattr(da, name), name
    assert (rt.MESSAGE_ROLE, rt.MESSAGE_CONTENT) == (ma.MESSAGE_ROLE, ma.MESSAGE_CONTENT)
    assert [rt.KIND_RETRIEVER, rt.KIND_CHAIN, rt.KIND_LLM, rt.KIND_AGENT] == [
        kinds.RETRIEVER.value, kinds.CHAIN.value, kinds.LLM.value, kinds.AGENT.value]
    assert (rt.MIME_JSON, rt.MIME_TEXT) == (mimes.JSON.value, mimes.TEXT.value)
    # The flattened document keys, as OpenInference's own instrumentations spell them.
    assert f"{sa.RETRIEVAL_DOCUMENTS}.0.{da.DOCUMENT_ID}" == "retrieval.documents.0.document.id"


def test_masking() -> None:
    from rolecall.tracing._core import mask

    assert mask(f"Incorrect API key provided: {API_KEY}") == "Incorrect API key provided: <masked>"
    assert mask("token hunter22 leaked", ("hunter22",)) == "token <masked> leaked"
    assert mask("Authorization: Bearer abc.def") == "Authorization: <masked>"
