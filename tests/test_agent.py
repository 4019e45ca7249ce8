"""The agent loop: verify (cheap and LLM-judged), relax, clarify, budget.

The judge's behaviour is replayed from a cassette recorded from the real local model
(`make record`); relaxation, clarification and budgets need no model.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from rolecall import (
    Agent,
    Budget,
    Document,
    Exclusion,
    Index,
    InvalidQueryError,
    KnowledgeGraph,
    LLMJudge,
    LLMRewriter,
    Retriever,
    RoleQuery,
)
from rolecall.errors import ConfigurationError
from rolecall.testing import recorded_llm

from .conftest import CASSETTES, LOCAL_MODEL
from .fake_llm import FakeLLM

#: Stravinsky's ballets; "r-riot" is about The Rite of Spring without naming it — the
#: semantic exclusion neither BM25 nor an embedding penalty can see as such.
BALLETS = [
    Document(id="r-firebird", title="The Firebird", text=(
        "The Firebird (1910) was Igor Stravinsky's first ballet for Diaghilev's Ballets "
        "Russes: a fairy tale of Prince Ivan, the immortal Koschei and a magical glowing bird, "
        "scored for a huge orchestra.")),
    Document(id="r-petrushka", title="Petrushka", text=(
        "Petrushka (1911), Stravinsky's second ballet for Diaghilev, tells of a straw puppet "
        "who comes to life at a Shrovetide fair in St Petersburg; its bitonal 'Petrushka "
        "chord' became famous.")),
    Document(id="r-riot", title="Paris, 29 May 1913", text=(
        "At the Theatre des Champs-Elysees on 29 May 1913, Stravinsky's ballet of pagan "
        "Russia, in which a chosen maiden dances herself to death to welcome the spring, "
        "provoked a riot: the audience jeered and fought while Nijinsky shouted counts to the "
        "dancers.")),
    Document(id="r-rite", title="The Rite of Spring", text=(
        "The Rite of Spring is a ballet score by Igor Stravinsky, first performed in 1913, "
        "depicting pagan spring rituals and the sacrifice of a chosen maiden.")),
    Document(id="r-pulcinella", title="Pulcinella", text=(
        "Pulcinella (1920) is a ballet by Igor Stravinsky after music then attributed to "
        "Pergolesi; with designs by Picasso, it opened his neoclassical period.")),
    Document(id="r-apollo", title="Apollon musagete", text=(
        "Apollon musagete (1928) is a ballet by Stravinsky for string orchestra, choreographed "
        "by George Balanchine, about Apollo and the muses.")),
    Document(id="r-jeux", title="Jeux", text=(
        "Jeux (1913) is a ballet by Claude Debussy for the Ballets Russes about a tennis game; "
        "it premiered two weeks before Stravinsky's most famous ballet.")),
]


@pytest.fixture(scope="module")
def ballets(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    path = tmp_path_factory.mktemp("ballets") / "idx"
    return Retriever(Index.build(path, BALLETS, progress=False))


@pytest.mark.llm
def test_semantic_exclusion_caught_by_the_judge(ballets: Retriever, llm_api_base: str) -> None:
    query = "Stravinsky's ballets, excluding The Rite of Spring"
    plain = Agent(ballets).search(query, k=5)
    # Strict search suppresses the document that names the Rite; the one that only
    # describes it is still among the hits.
    assert "r-rite" not in plain.ids
    assert "r-riot" in plain.ids
    judge = LLMJudge(LOCAL_MODEL, api_base=llm_api_base, cache=False, window=5)
    agent = Agent(ballets, judge=judge)
    with recorded_llm(CASSETTES / "agent" / "judge_rite_of_spring.yaml"):
        result = agent.search(query, k=5)
    steps = {s.kind: s for s in result.plan.steps}
    assert steps["judge"].llm_calls == 1 and result.plan.spent is not None
    assert result.plan.spent.llm_calls == 1
    riot = next(h for h in result.hits if h.id == "r-riot")
    judged = [c for c in riot.explanation.checks if c.constraint.startswith("judge:")]
    assert judged and not judged[0].satisfied, judged  # the judge saw the Rite in it
    before = next(h for h in plain.hits if h.id == "r-riot")
    assert riot.score < before.score and riot.explanation.penalty > 0  # demoted, not dropped
    clean = [h for h in result.hits
             if not any(c.constraint.startswith("judge:") and not c.satisfied
                        for c in h.explanation.checks)]
    assert all(h.score > riot.score for h in clean)
    # Verification located the exclusion's best-matching sentence in each hit.
    verified = [c for h in result.hits for c in h.explanation.checks
                if c.constraint.startswith("verify:")]
    assert verified and all("“" in c.evidence for c in verified)


def test_relaxation_fills_after_the_strict_hits(tiny: Retriever) -> None:
    # The agent's strict search keeps only what the graph vouches for (no unknown pages).
    strict = tiny.search("allergy medicine without drowsiness", k=5, unknown_mode="hard")
    result = Agent(tiny).search("allergy medicine without drowsiness", k=5)
    assert len(result.ids) == len(set(result.ids))  # each document once, however many rounds
    relax = [s for s in result.plan.steps if s.kind == "relax"]
    assert len(strict.hits) < 5 and relax, result.plan.steps
    assert "must not causes drowsiness" in relax[0].detail  # narrowing goes first
    assert result.ids[: len(strict.hits)] == strict.ids  # strict hits keep their places
    extra = result.hits[len(strict.hits):]
    assert extra and all(
        any(c.constraint.startswith("relaxed:") and not c.satisfied
            for c in h.explanation.checks) for h in extra
    )
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
    none = Agent(tiny, relax=False).search("allergy medicine without drowsiness", k=5)
    assert none.ids == strict.ids and not any(s.kind == "relax" for s in none.plan.steps)


def test_clarifying_questions(tiny: Retriever) -> None:
    agent = Agent(tiny)
    follow = agent.search("and which of those are cheaper?", k=3)
    assert follow.clarification and follow.clarification.reason == "unresolved_follow_up"
    assert follow.hits  # best effort beside the question
    answered = agent.search("and which of those are cheaper?", k=3,
                            history=[{"role": "user", "content": "allergy tablets"}])
    assert answered.clarification is None
    vague = agent.search("drugs", k=3)
    assert vague.clarification and vague.clarification.reason == "underspecified"
    assert vague.clarification.readings
    assert agent.search("a drug that treats headaches", k=3).clarification is None


def test_ambiguous_entity_asks_which(tmp_path: Path) -> None:
    kg = KnowledgeGraph()
    kg.add_entity({"id": "drug", "type": "type"})
    kg.add_entity({"id": "symptom", "type": "type"})
    kg.add_entity({"id": "common_cold", "name": "common cold", "type": "symptom",
                   "aliases": ["cold"]})
    kg.add_entity({"id": "cold_sore", "name": "cold sore", "type": "symptom",
                   "aliases": ["cold"]})
    kg.add_entity({"id": "coldrex", "type": "drug"})
    kg.add_relation({"subject": "coldrex", "relation": "treats", "object": "common_cold"})
    docs = [Document(id="x", text="Coldrex eases the symptoms of a cold.",
                     metadata={"entities": ["coldrex"]}),
            Document(id="y", text="A cold sore is a blister caused by a virus.")]
    r = Retriever(Index.build(tmp_path / "idx", docs, kg=kg, progress=False))
    result = Agent(r).search("a drug that treats cold", k=2)
    c = result.clarification
    assert c is not None and c.reason == "ambiguous_entity", result.plan.grounding
    assert {"common cold (symptom)", "cold sore (symptom)"} <= set(c.readings)
    assert result.hits  # best effort: the ambiguous value was reported, not enforced


def test_budget_exhaustion_skips_llm_steps(tiny: Retriever) -> None:
    # Nothing listens at the API base: any call the budget lets through would degrade.
    rewriter = LLMRewriter(LOCAL_MODEL, api_base="http://127.0.0.1:9/v1", cache=False,
                           max_retries=0, timeout=2)
    r = Retriever(tiny.index, rewriter=rewriter)
    judge = LLMJudge(LOCAL_MODEL, api_base="http://127.0.0.1:9/v1", cache=False)
    agent = Agent(r, judge=judge, budget=Budget(max_llm_calls=0))
    result = agent.search("Aaron, but don't mention Moses", k=3)
    kinds = [s.kind for s in result.plan.steps]
    assert kinds.count("budget") == 2, result.plan.steps  # the rewrite and the judge
    assert result.plan.query.provenance.rewriter == "rules"
    assert result.plan.spent is not None and result.plan.spent.llm_calls == 0
    assert result.plan.spent.exhausted == ["llm_calls"] and not result.degraded
    assert result.ids


def test_budget_time_limit_holds_under_faults(tiny: Retriever) -> None:
    """A judge behind a server that keeps failing stops at the time budget, degrades, and
    demotes nothing."""
    tiny.search("Aaron, but don't mention Moses", k=3)  # warm: the model loads once
    with FakeLLM(("status", 503, {})) as fake:
        judge = LLMJudge("openai/fake", api_base=fake.api_base, cache=False, max_retries=50)
        agent = Agent(tiny, judge=judge, budget=Budget(max_seconds=2.0))
        t = time.perf_counter()
        result = agent.search("Aaron, but don't mention Moses", k=3)
        elapsed = time.perf_counter() - t
    assert elapsed < 3.5, elapsed  # 2 s budget + the retrieval
    assert any(d.stage == "judge" for d in result.degraded)
    assert all(h.explanation.penalty < 0.8 for h in result.hits)
    assert fake.requests  # it was tried (retries stop at the deadline)


def test_budget_and_agent_validate_input(tiny: Retriever) -> None:
    with pytest.raises(InvalidQueryError, match="max_llm_calls"):
        Budget(max_llm_calls=-1)
    with pytest.raises(InvalidQueryError):
        Agent(tiny).search("   ")
    rq = RoleQuery.plain("headache")
    result = Agent(tiny).search(rq, k=2)
    assert result.plan.steps[0].detail.startswith("RoleQuery given")


def test_two_order_judging_demotes_only_on_agreement() -> None:
    """The merge logic of `orders=2` (scripted replies: this checks our bookkeeping, not a
    model): a candidate is a violator only if both orders say so."""
    from rolecall.agent.judge import Candidate

    def reply(flags: list[bool]) -> tuple[str, str]:
        import json

        return ("reply", json.dumps({"verdicts": [
            {"passage": i + 1, "reason": f"p{i + 1}", "violates": f}
            for i, f in enumerate(flags)]}))

    cands = [Candidate(id=c, title=c, window=f"text {c}") for c in ("a", "b", "c")]
    rq = RoleQuery(text="x, excluding y", exclusions=[Exclusion(text="y")])
    # Forward order a, b, c flags a and b; reversed order c, b, a flags c and a.
    with FakeLLM(reply([True, True, False]), reply([True, False, True])) as fake:
        judge = LLMJudge("openai/fake", api_base=fake.api_base, cache=False, orders=2)
        result = judge.judge(rq, cands)
    assert result.calls == 2 and len(fake.requests) == 2
    assert {k: v for k, (v, _) in result.verdicts.items()} == {"a": True, "b": False, "c": False}
    assert "disagree" in result.verdicts["b"][1]
    with pytest.raises(ConfigurationError, match="orders must be 1 or 2"):
        LLMJudge("openai/fake", api_base="http://127.0.0.1:9/v1", orders=3)


def test_a_narrow_candidate_window_is_widened_before_any_constraint_is_relaxed(
    tiny: Retriever,
) -> None:
    q = "headache relief, excluding ibuprofen"
    wide = Agent(tiny).search(q, k=3)  # depth 100 covers the whole tiny corpus: no deepening
    assert not any(s.kind == "deepen" for s in wide.plan.steps)
    narrow = Agent(tiny).search(q, k=3, depth=2)
    kinds = [s.kind for s in narrow.plan.steps]
    assert "deepen" in kinds and kinds.index("deepen") < kinds.index("relax"), kinds
    deepen = next(s for s in narrow.plan.steps if s.kind == "deepen")
    assert f"within 2 candidates per leg: 0 within {len(tiny.index)}" in deepen.detail
    assert narrow.ids == wide.ids  # what the wide window finds, not the narrow one's leftovers


async def test_asearch_matches_search_without_an_llm(tiny: Retriever) -> None:
    agent = Agent(tiny)
    for query in ("allergy medicine without drowsiness", "and which of those are cheaper?"):
        sync = agent.search(query, k=5)
        got = await agent.asearch(query, k=5)
        assert got.ids == sync.ids and got.plan.query == sync.plan.query
        assert [s.kind for s in got.plan.steps] == [s.kind for s in sync.plan.steps]
        assert got.clarification == sync.clarification


async def test_asearch_waits_on_the_llm_on_the_event_loop(
    tiny: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two concurrent agent searches whose rewrite and judgement each take 0.5 s, with a
    single worker thread: retrieval takes turns on it, the LLM waits overlap on the loop.
    Had a search held the thread while it waited (`to_thread(search)`), the two would take
    at least 2 s."""
    import asyncio
    import json
    from concurrent.futures import ThreadPoolExecutor

    from rolecall import LLMClient

    rewrite = json.dumps({"keywords": ["Aaron"]})  # the explicit cue adds "not Moses"
    verdicts = json.dumps({"verdicts": [{"passage": 1, "reason": "about Aaron",
                                         "violates": False}]})
    with FakeLLM(("sleep", 0.5, rewrite)) as rw_llm, FakeLLM(("sleep", 0.5, verdicts)) as j_llm:
        rewriter = LLMRewriter(LLMClient("openai/fake", api_base=rw_llm.api_base), cache=False)
        judge = LLMJudge(LLMClient("openai/fake", api_base=j_llm.api_base), cache=False)

        def blocking(*args: object, **kwargs: object) -> str:
            raise AssertionError("asearch made a blocking LLM call")

        for client in (rewriter.client, judge.client):
            monkeypatch.setattr(client, "complete", blocking)
        agent = Agent(Retriever(tiny.index, rewriter=rewriter), judge=judge)
        query = "Aaron, but don't mention Moses"
        await agent.asearch(query, k=3)  # warm: litellm's async client, the model
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=1))
        t = time.perf_counter()
        results = await asyncio.gather(agent.asearch(query, k=3), agent.asearch(query, k=3))
        elapsed = time.perf_counter() - t
    assert elapsed < 1.6, elapsed  # serially, in one thread: 2 s of waiting alone
    for result in results:
        steps = {s.kind: s for s in result.plan.steps}
        assert steps["rewrite"].llm_calls == 1 and steps["judge"].llm_calls == 1
        # Each search is charged its own calls, though both ran through the same clients.
        assert result.plan.spent is not None and result.plan.spent.llm_calls == 2
        assert not result.degraded and result.plan.query.exclusions


async def test_asearch_budget_falls_back_to_rules_without_a_call(tiny: Retriever) -> None:
    rewriter = LLMRewriter(LOCAL_MODEL, api_base="http://127.0.0.1:9/v1", cache=False)
    agent = Agent(Retriever(tiny.index, rewriter=rewriter), budget=Budget(max_llm_calls=0))
    result = await agent.asearch("Aaron, but don't mention Moses", k=3)
    assert result.plan.steps[0].kind == "budget" and rewriter.calls == 0
    assert result.plan.query.provenance.rewriter == "rules" and not result.degraded
