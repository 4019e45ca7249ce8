"""Shared fixtures: a tiny knowledge graph and corpus, indexed once with the real stack
(tantivy, packaged MiniLM, networkx)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rolecall import Document, Entity, Index, KnowledgeGraph, Relation, Retriever  # noqa: E402

ENTITIES = [
    Entity(id="drug", name="drug", type="type", aliases=["drugs", "medicine", "medicines"]),
    Entity(id="symptom", name="symptom", type="type", aliases=["symptoms"]),
    Entity(id="pain", name="pain", type="symptom"),
    Entity(id="headache", name="headache", type="symptom", aliases=["headaches"], is_a=["pain"]),
    Entity(id="drowsiness", name="drowsiness", type="symptom", aliases=["drowsy", "sleepy"]),
    Entity(id="allergy", name="allergy", type="symptom", aliases=["allergies", "hay fever"]),
    Entity(id="antihistamine", name="antihistamine", type="drug_class",
           aliases=["antihistamines"], is_a=["drug"]),
    Entity(id="painrelief", name="Painrelief", type="drug"),
    Entity(id="vasodil", name="Vasodil", type="drug"),
    Entity(id="sleepyhist", name="Sleepyhist", type="drug", is_a=["antihistamine"]),
    Entity(id="clearhist", name="Clearhist", type="drug", is_a=["antihistamine"]),
]
RELATIONS = [
    Relation(subject="painrelief", relation="treats", object="pain"),
    Relation(subject="vasodil", relation="causes", object="headache"),
    Relation(subject="sleepyhist", relation="treats", object="allergy"),
    Relation(subject="sleepyhist", relation="causes", object="drowsiness"),
    Relation(subject="clearhist", relation="treats", object="allergy"),
]
DOCS = [
    Document(id="a", title="Painrelief", text="Painrelief is taken for pain, including "
             "tension headaches and back pain. Stomach upset is its most common side effect.",
             metadata={"entities": ["painrelief"], "otc": True, "year": 1980}),
    Document(id="b", title="Vasodil", text="Vasodil widens blood vessels to treat chest pain "
             "of the heart. Headache is very common: most people get headaches at first, and "
             "the headaches fade after a week.", metadata={"entities": ["vasodil"], "otc": False,
                                                           "year": 1995}),
    Document(id="c", title="Sleepyhist", text="Sleepyhist relieves hay fever and allergies. It "
             "makes most people drowsy, so do not drive; the drowsiness lasts hours.",
             metadata={"entities": ["sleepyhist"], "otc": True, "year": 1950}),
    Document(id="d", title="Clearhist", text="Clearhist is an antihistamine for hay fever and "
             "allergies that does not pass into the brain.",
             metadata={"entities": ["clearhist"], "otc": True, "year": 2001}),
    Document(id="e", title="Headaches explained", text="Most headaches are tension headaches. "
             "Rest, water and a quiet room help a headache pass.", metadata={}),
    Document(id="f", title="Aaron", text="Aaron was the brother of Moses and the first high "
             "priest of the Israelites, who spoke for Moses before Pharaoh.", metadata={}),
    Document(id="g", title="Moses", text="Moses led the Israelites out of Egypt and received "
             "the law on Mount Sinai; Moses is the central figure of the Exodus.", metadata={}),
]


@pytest.fixture(scope="session")
def tiny_kg() -> KnowledgeGraph:
    kg = KnowledgeGraph()
    for e in ENTITIES:
        kg.add_entity(e)
    for r in RELATIONS:
        kg.add_relation(r)
    # The tiny graph uses the demo's relations, so it speaks them as the demo's file declares
    # (the rule rewriter's defaults hold no domain words).
    from rolecall.demo import demo_data_dir

    for declared in KnowledgeGraph.load([demo_data_dir() / "kg.jsonl"]).schema.values():
        kg.declare_relation(declared)
    return kg


@pytest.fixture(scope="session")
def tiny_index_path(tmp_path_factory: pytest.TempPathFactory, tiny_kg: KnowledgeGraph) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "idx"
    Index.build(path, DOCS, kg=tiny_kg, progress=False)
    return path


@pytest.fixture(scope="session")
def tiny(tiny_index_path: Path) -> Retriever:
    return Retriever.open(tiny_index_path)


# -- the recorded LLM -------------------------------------------------------------------------

LOCAL_MODEL = "openai/qwen2.5-coder-1.5b"
CASSETTES = Path(__file__).parent / "cassettes"


@pytest.fixture(scope="session")
def llm_api_base(rolecall_llm_api_base: str) -> str:
    return rolecall_llm_api_base


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    from rolecall.demo import open_demo

    return open_demo(tmp_path_factory.mktemp("demo") / "idx", progress=False)
