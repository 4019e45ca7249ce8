"""The LLM rewriter on a graph that is not the demo's: films, with relation names of its own
and no declared cues.  Replayed from cassettes recorded from the local Qwen
(`ROLECALL_RECORD=1`, `make record`); the prompt's catalog and examples are made from this
graph, so the model is shown `directed_by` / `starring`, never the demo's `treats`."""

from __future__ import annotations

import pytest
from rolecall import Index, LLMRewriter, Retriever
from rolecall.testing import recorded_llm

from .conftest import CASSETTES, LOCAL_MODEL
from .films import FILM_DOCS, films_kg

pytestmark = pytest.mark.llm

CASES = {
    "films_directed_by": ("films directed by Clint Eastwood", "directed_by"),
    "films_starring": ("movies Clint Eastwood acted in", "starring"),
}


@pytest.fixture(scope="module")
def film_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    return Index.build(tmp_path_factory.mktemp("films-llm") / "idx", FILM_DOCS, kg=films_kg(),
                       progress=False)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_llm_reads_the_graphs_own_relations(
    name: str, film_index: Index, llm_api_base: str
) -> None:
    text, relation = CASES[name]
    rw = LLMRewriter(LOCAL_MODEL, api_base=llm_api_base, cache=False, strict=True,
                     timeout=300.0)  # a shared local server can be slow to record against
    r = Retriever(film_index, rewriter=rw)
    with recorded_llm(CASSETTES / "second_domain" / f"{name}.yaml"):
        result = r.search(text, k=3)
    got = [(c.relation, c.object) for c in result.plan.query.relations]
    assert any(rel == relation and "eastwood" in obj.lower() for rel, obj in got), got
    assert all(rel in ("directed_by", "starring", "has_genre") for rel, _ in got), got
    assert not any(gv.slot.endswith(".relation") and not gv.resolved
                   for gv in result.plan.grounding)
    # The role decides: each hit is a film whose `relation` edge reaches Eastwood.
    kg = film_index.kg
    for hit in result.hits:
        film = film_index.links[film_index.ordinal(hit.id) or 0].about
        assert any(r.relation == relation and r.object == "clint_eastwood" and r.subject in film
                   for r in kg.relations), (hit.id, film)
