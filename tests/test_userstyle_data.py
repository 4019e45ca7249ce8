"""The user-style benchmark generator (benchmarks/userstyle.py): determinism and soundness."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from rolecall.eval import load_beir

GENERATOR = Path(__file__).resolve().parents[1] / "benchmarks" / "userstyle.py"
FILES = ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv", "kg.tsv", "entities.csv")
ROLES = ("used_for", "replaces", "depends_on", "written_in")


@pytest.fixture(scope="module")
def userstyle() -> ModuleType:
    spec = importlib.util.spec_from_file_location("userstyle_benchmark", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def data(userstyle: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("userstyle")
    assert userstyle.main([str(out)]) == 0
    return out


def test_same_seed_same_bytes(userstyle: ModuleType, data: Path, tmp_path: Path) -> None:
    userstyle.main([str(tmp_path / "again"), "--seed", "7"])
    for name in FILES:
        assert (tmp_path / "again" / name).read_bytes() == (data / name).read_bytes(), name
    userstyle.main([str(tmp_path / "other"), "--seed", "8"])
    other = (tmp_path / "other" / "corpus.jsonl").read_bytes()
    assert other != (data / "corpus.jsonl").read_bytes()


def test_load_beir_reads_it(data: Path) -> None:
    ds = load_beir(data)
    queries = [json.loads(line) for line in (data / "queries.jsonl").open(encoding="utf-8")]
    assert len(ds.queries) == len(queries)  # every query has qrels
    assert len(ds.documents) >= 250
    role = [q for q in ds.queries if q.category in ROLES]
    assert len(role) >= 50 and all(q.violating for q in role)
    assert all(any(g > 0 for g in q.qrels.values()) for q in ds.queries)
    plain = [q for q in ds.queries if q.category == "plain"]
    assert len(plain) >= 10 and not any(q.violating for q in plain)
    phrasing = {str(q["metadata"].get("phrasing")) for q in queries
                if q["metadata"]["category"] in ROLES}
    assert phrasing == {"schema", "paraphrase"}


def test_judgements_name_real_documents_and_do_not_overlap(data: Path) -> None:
    ds = load_beir(data)
    ids = {d.id for d in ds.documents}
    for q in ds.queries:
        relevant = {d for d, g in q.qrels.items() if g > 0}
        assert relevant <= ids and q.violating <= ids, q.id
        assert not relevant & q.violating, q.id


def test_relevant_reviews_are_of_libraries_that_satisfy_the_role(
    userstyle: ModuleType, data: Path
) -> None:
    world = userstyle.World()
    docs = {d.id: d for d in load_beir(data).documents}
    for line in (data / "queries.jsonl").open(encoding="utf-8"):
        q = json.loads(line)
        md = q["metadata"]
        if md["category"] not in ROLES:
            continue
        for d in md["satisfying"]:
            assert world.satisfies(docs[d].metadata["library"], md["relation"], md["object"])
        for d in md["violating"]:
            assert not world.satisfies(docs[d].metadata["library"], md["relation"], md["object"])


def test_the_graph_is_a_users_export(data: Path) -> None:
    lines = (data / "kg.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "library\trelation\ttarget"
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(r) == 3 for r in rows)
    assert {r[1] for r in rows} == set(ROLES)
    header = (data / "entities.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "id,name,type,aliases"


def test_most_reviews_do_not_name_their_own_library(userstyle: ModuleType, data: Path) -> None:
    docs = load_beir(data).documents
    assert all(d.title == "" and d.metadata.get("library") for d in docs)

    def names_itself(text: str, library: str) -> bool:
        forms = (library, *userstyle.ALIASES.get(library, ()))
        return any(f.lower() in text.lower() for f in forms)

    named = sum(names_itself(d.text, str(d.metadata["library"])) for d in docs)
    assert 0 < named <= 0.3 * len(docs)


def test_the_role_layer_beats_hybrid_on_a_users_own_schema(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rolecall eval --kg --link-field` on the generated data set: the rules read the
    schema's own relation names (no declared cues) and clear the issue's bar on role
    queries, without losing on plain ones (the full table is in BENCHMARKS.md)."""
    from rolecall.cli import main

    code = main(["eval", str(data), "--kg", str(data / "kg.tsv"), str(data / "entities.csv"),
                 "--link-field", "library", "--systems", "hybrid,rules", "--index",
                 str(tmp_path / "idx"), "--json", "--no-progress"])
    assert code == 0
    reports = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    hybrid, rules = reports["hybrid"], reports["rules"]
    for role in ROLES:
        assert rules["by_category"][role]["nDCG@10"] >= hybrid["by_category"][role]["nDCG@10"]
    assert rules["metrics"]["nDCG@10"] >= hybrid["metrics"]["nDCG@10"] + 0.10
    assert rules["by_category"]["plain"]["nDCG@10"] >= hybrid["by_category"]["plain"]["nDCG@10"]
    assert rules["metrics"]["violation"] < hybrid["metrics"]["violation"] / 2
