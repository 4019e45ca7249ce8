"""The search as stages (#15): the plan records each stage, an added stage plugs in without
editing the retriever, explain_document and the hits read the same checks, errors say which
stage they came from, and a failing model degrades the search while a bug propagates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from rolecall import Catalog, Message, Retriever, Rewriter, RoleQuery, stage
from rolecall.errors import ConfigurationError, EmbeddingError, RewriteError, RolecallError
from rolecall.pipeline.stages import DEFAULT_STAGES, compose
from rolecall.pipeline.state import Outcome, SearchState

DEFAULT_NAMES = ["ground", "restrict", "encode", "lexical", "dense", "fuse", "exclusions",
                 "policy"]


class Reverse:
    """A stand-in reranker: reverses the fused order (a change no default stage makes)."""

    name = "reverse"
    after = "policy"

    def run(self, state: SearchState) -> Outcome:
        return Outcome(replace(state, fused=list(reversed(state.fused))), "reversed")


class Boom:
    name = "boom"
    after = "fuse"

    def run(self, state: SearchState) -> Outcome:
        raise ConfigurationError("boom")


class _Proxy:
    """The tiny index with another embedder: everything else is the real backend's."""

    def __init__(self, index: Any, embedder: Any) -> None:
        self._index, self.embedder = index, embedder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)


class _Embedder:
    name, dim = "broken", 384

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def encode(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        raise self.exc


def test_plan_records_every_stage_in_order(tiny: Retriever) -> None:
    res = tiny.search("a drug that treats headaches but not Vasodil", k=3)
    assert [s.name for s in res.plan.stages] == DEFAULT_NAMES
    details = {s.name: s.detail for s in res.plan.stages}
    assert details["lexical"].endswith("documents") and "demoted" in details["policy"]
    for key in [*DEFAULT_NAMES, "rewrite", "hits", "total"]:
        assert key in res.plan.timings_ms


def test_an_added_stage_runs_where_it_says(tiny: Retriever) -> None:
    plain = tiny.search(RoleQuery.plain("headaches"), k=7)
    r = Retriever(tiny.index, stages=[Reverse()])
    assert [s.name for s in r.stages] == [*DEFAULT_NAMES, "reverse"]
    res = r.search(RoleQuery.plain("headaches"), k=7)
    assert [h.id for h in res.hits] == [h.id for h in reversed(plain.hits)]
    assert res.plan.stages[-1].detail == "reversed"


def test_compose_refuses_what_cannot_run() -> None:
    class Orphan(Reverse):
        after = "rerank-that-is-not-there"

    with pytest.raises(ConfigurationError, match="not a stage"):
        compose([Orphan()])
    with pytest.raises(ConfigurationError, match="not a search stage"):
        compose([object()])  # type: ignore[list-item]
    names = [s.name for s in compose([Reverse(), Boom()], DEFAULT_STAGES)]
    assert names.index("boom") == names.index("fuse") + 1


def test_an_error_names_its_stage(tiny: Retriever) -> None:
    with pytest.raises(RolecallError) as info:
        Retriever(tiny.index, stages=[Boom()]).search("headaches")
    assert info.value.stage == "boom"


@pytest.mark.parametrize("query", [
    "a drug that treats headaches but not Vasodil",
    "antihistamines for allergies that do not cause drowsiness",
    "Aaron, but don't mention Moses",
])
def test_explain_document_says_what_the_hit_says(tiny: Retriever, query: str) -> None:
    soft = Retriever(tiny.index, constraint_mode="soft")  # violators are hits, demoted
    res = soft.search(query, k=7)
    assert res.hits and any(h.explanation.checks for h in res.hits)
    for hit in res.hits:
        assert soft.explain_document(res.plan.query, hit.id) == hit.explanation.checks


def test_a_model_that_fails_degrades_to_the_other_legs(tiny: Retriever) -> None:
    broken = _Proxy(tiny.index, _Embedder(EmbeddingError("could not run", model="broken")))
    res = Retriever(broken).search("headaches", k=3)
    assert res.plan.legs == ["lexical"] and res.hits
    assert [d.stage for d in res.degraded] == ["dense"]
    assert "could not run" in res.degraded[0].reason


def test_a_bug_in_a_leg_propagates(tiny: Retriever) -> None:
    buggy = _Proxy(tiny.index, _Embedder(KeyError("a bug, not a model failure")))
    with pytest.raises(KeyError):
        Retriever(buggy).search("headaches", k=3)


def test_a_function_is_a_stage(tiny: Retriever) -> None:
    @stage("count", after="fuse")
    def count(state: SearchState) -> Outcome:
        return Outcome(state, f"{len(state.fused)} fused")

    res = Retriever(tiny.index, stages=[count]).search("headaches", k=2)
    names = [s.name for s in res.plan.stages]
    assert names.index("count") == names.index("fuse") + 1
    assert res.plan.stages[names.index("count")].detail.endswith("fused")


def test_a_rewrite_error_names_the_rewrite(tiny: Retriever) -> None:
    class Failing(Rewriter):
        name = "failing"

        def rewrite(self, text: str, *, history: Sequence[Message] = (),
                    catalog: Catalog) -> RoleQuery:
            raise RewriteError("the model said nothing")

    with pytest.raises(RewriteError) as info:
        Retriever(tiny.index, rewriter=Failing()).search("headaches")
    assert info.value.stage == "rewrite"


def test_a_rewriter_that_is_not_one_is_refused(tiny: Retriever) -> None:
    class Bare:
        name = "bare"

        def rewrite(self, text: str, **kw: Any) -> RoleQuery:
            return RoleQuery.plain(text)

    with pytest.raises(ConfigurationError, match="lacks client, arewrite"):
        Retriever(tiny.index, rewriter=Bare())  # type: ignore[arg-type]
