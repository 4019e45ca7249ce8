"""LLM pieces compose: one `LLMClient` (one set of settings, one count) serves the rewriter
and the judge; the rewriter protocol declares what callers use, so none has to probe."""

from __future__ import annotations

import asyncio
import json

import pytest
from rolecall import (
    LLMClient,
    LLMJudge,
    LLMRewriter,
    Retriever,
    Rewriter,
    RoleQuery,
    RuleRewriter,
)
from rolecall.agent.judge import Candidate
from rolecall.errors import ConfigurationError
from rolecall.query import Exclusion

from .fake_llm import FakeLLM

REWRITE = json.dumps({"target_type": "drug",
                      "relations": [{"relation": "causes", "object": "headache"}]})
VERDICTS = json.dumps({"verdicts": [{"passage": 1, "reason": "about a", "violates": False}]})
MESSAGES = [{"role": "user", "content": "hi"}]


def test_one_client_serves_the_rewriter_and_the_judge(tiny: Retriever) -> None:
    with FakeLLM(("reply", REWRITE), ("reply", VERDICTS)) as fake:
        client = LLMClient("openai/fake", api_base=fake.api_base, max_retries=0)
        rewriter = LLMRewriter(client, cache=False)
        judge = LLMJudge(client, cache=False)
        rq = rewriter.rewrite("drugs that cause headaches", catalog=tiny.catalog)
        rq = rq.model_copy(update={"exclusions": [Exclusion(text="aspirin")]})
        verdict = judge.judge(rq, [Candidate(id="a", title="A", window="text a")])
    assert rewriter.client is judge.client is client
    assert rewriter.model == judge.model == "openai/fake" and judge.name == "llm-judge:openai/fake"
    assert not rq.provenance.degraded and verdict.verdicts == {"a": (False, "about a")}
    assert client.calls == rewriter.calls == 2 and client.tokens == 4  # one count for both
    assert verdict.calls == 1 and verdict.tokens == 2  # the judge's own share
    # One set of settings: the judge's request carries the shared client's, not its defaults.
    assert [body["max_tokens"] for body in fake.requests] == [400, 400]


def test_a_model_string_still_makes_a_client_with_each_pieces_defaults() -> None:
    api = "http://127.0.0.1:9/v1"
    judge = LLMJudge("openai/fake", api_base=api, cache=False)
    assert (judge.client.max_tokens, judge.client.max_retries) == (350, 2)
    assert judge.client.api_base == api
    rewriter = LLMRewriter("openai/fake", api_base=api, cache=False, max_tokens=123, seed=7)
    assert (rewriter.client.max_tokens, rewriter.client.seed) == (123, 7)
    assert rewriter.client.max_retries == 3
    assert LLMJudge("openai/fake", api_base=api, cache=False, max_tokens=99).client.max_tokens == 99


def test_a_client_and_client_settings_together_are_refused() -> None:
    client = LLMClient("openai/fake", api_base="http://127.0.0.1:9/v1")
    with pytest.raises(ConfigurationError, match=r"LLMRewriter .*\(timeout\)"):
        LLMRewriter(client, timeout=5.0, cache=False)
    with pytest.raises(ConfigurationError, match=r"LLMJudge .*\(api_base, max_tokens\)"):
        LLMJudge(client, api_base="http://elsewhere/v1", max_tokens=10, cache=False)
    # The piece's own options are not client settings.
    assert LLMJudge(client, window=3, orders=2, cache=False).window == 3
    assert LLMRewriter(client, strict=True, cache=False).strict


def test_bad_piece_arguments_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="string or an LLMClient"):
        LLMRewriter(42, cache=False)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="window"):
        LLMJudge("openai/fake", api_base="http://127.0.0.1:9/v1", window=0, cache=False)


async def test_metering_keeps_concurrent_callers_of_one_client_apart() -> None:
    with FakeLLM(("sleep", 0.3, "{}")) as fake:
        client = LLMClient("openai/fake", api_base=fake.api_base, max_retries=0)

        async def one(n: int) -> tuple[int, int]:
            with client.metered() as usage:
                for _ in range(n):
                    await client.acomplete(MESSAGES)
            return usage.calls, usage.tokens

        a, b = await asyncio.gather(one(1), one(2))
    assert a == (1, 2) and b == (2, 4)
    assert client.calls == 3 and client.tokens == 6


async def test_the_rewriter_protocol_is_declared_not_probed() -> None:
    rules = RuleRewriter()
    llm = LLMRewriter("openai/fake", api_base="http://127.0.0.1:9/v1", cache=False)
    assert isinstance(rules, Rewriter) and isinstance(llm, Rewriter)
    assert rules.client is None and llm.client is not None
    text = "drugs that cause headaches, excluding aspirin"
    got: RoleQuery = await rules.arewrite(text)
    assert got == rules.rewrite(text)
