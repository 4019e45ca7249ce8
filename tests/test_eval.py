import json
import math
from pathlib import Path

import pytest
from rolecall.cli import main
from rolecall.eval import (
    EvalQuery,
    load_beir,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    score_ranking,
    violation,
)

from .conftest import DOCS


def test_metrics_by_hand() -> None:
    qrels = {"a": 2, "b": 1, "x": 0}
    assert ndcg_at_k(["a", "b"], qrels) == pytest.approx(1.0)
    dcg = 1 / math.log2(2) + 2 / math.log2(3)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(["b", "a"], qrels) == pytest.approx(dcg / idcg)
    assert recall_at_k(["x", "a"], qrels, 10) == 0.5
    assert mrr_at_k(["x", "z", "b"], qrels) == pytest.approx(1 / 3)
    assert violation(["x", "a"], qrels, {"x"}) is True
    assert violation(["a", "x"], qrels, {"x"}) is False
    assert violation(["x"], qrels, {"x"}) is True      # violator ranked, nothing relevant
    assert violation(["a"], qrels, set()) is None
    s = score_ranking(["x", "a"] + ["n"] * 8, EvalQuery("q", "t", qrels, {"x"}))
    assert s.assoc10 == pytest.approx(0.1)


def make_beir(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w") as fh:
        for d in DOCS:
            fh.write(json.dumps({"_id": d.id, "title": d.title, "text": d.text,
                                 "metadata": d.metadata}) + "\n")
    queries = [
        {"_id": "1", "text": "Aaron, but don't mention Moses",
         "metadata": {"category": "A - a", "violating": ["g"]}},
        {"_id": "2", "text": "a drug that causes headaches", "metadata": {}},
    ]
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries) + "\n")
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n1\tf\t2\n1\tg\t0\n2\tb\t1\n")
    return root


def test_load_beir_reads_violations_from_metadata_and_grade_zero(tmp_path: Path) -> None:
    ds = load_beir(make_beir(tmp_path / "d"))
    q1 = next(q for q in ds.queries if q.id == "1")
    assert q1.violating == {"g"} and q1.category == "A - a"
    assert len(ds.documents) == len(DOCS)


def test_eval_cli_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hermetic: no configured model, and the local server's port is one nobody answers.
    monkeypatch.delenv("ROLECALL_MODEL", raising=False)
    monkeypatch.setenv("ROLECALL_LLM_PORT", "9")
    data = make_beir(tmp_path / "d")
    md, run = tmp_path / "r.md", tmp_path / "r.trec"
    args = ["eval", str(data), "--index", str(tmp_path / "idx"), "--systems",
            "bm25,dense,hybrid,rules,llm", "--ablations", "--markdown", str(md), "--run",
            str(run), "--no-progress", "-k", "5"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for name in ("bm25", "dense", "hybrid", "rules", "rules-no-penalty", "rules-no-graph"):
        assert name in out
    assert "skipped" in out  # llm: no recorded rewrites and no model: said, not hidden
    lines = run.read_text().splitlines()
    assert lines and len(lines[0].split()) == 6 and lines[0].split()[1] == "Q0"
    assert {ln.split()[5] for ln in lines} >= {"bm25", "rules"}
    assert "| rules |" in md.read_text()
    assert main(["eval", str(data), "--index", str(tmp_path / "idx"), "--systems", "rules",
                 "--no-progress", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rules = next(r for r in report if r["name"] == "rules")
    assert rules["metrics"]["violation"] == 0.0  # Aaron ranked above Moses
    assert rules["by_category"]["A - a"]["nDCG@10"] == pytest.approx(1.0)


def test_eval_replays_the_committed_rewrites_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rolecall.eval import record_rewrite
    from rolecall.rewrite.rules import RuleRewriter

    monkeypatch.delenv("ROLECALL_MODEL", raising=False)
    monkeypatch.setenv("ROLECALL_LLM_PORT", "9")
    monkeypatch.chdir(tmp_path)
    data = make_beir(tmp_path / "d")
    recorded = tmp_path / "benchmarks" / "rewrites" / "d.jsonl"
    recorded.parent.mkdir(parents=True)
    # Any RoleQuery will do: the default path is what is under test, not a model.
    for qid, text in (("1", "Aaron, but don't mention Moses"),
                      ("2", "a drug that causes headaches")):
        record_rewrite(recorded, qid, "test", RuleRewriter().rewrite(text))
    args = ["eval", str(data), "--index", str(tmp_path / "idx"), "--systems", "rules,llm",
            "--no-progress", "-k", "5", "--json"]
    assert main(args) == 0
    out = capsys.readouterr()
    assert f"replaying {Path('benchmarks/rewrites/d.jsonl')}" in out.err
    llm = next(r for r in json.loads(out.out) if r["name"] == "llm")
    assert llm["note"] == "" and llm["metrics"]["violation"] == 0.0
    recorded.unlink()
    assert main(args) == 0
    llm = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "llm")
    assert llm["note"].startswith("skipped")  # no file, no model: the row says so
    with pytest.raises(SystemExit, match="--record-rewrites needs --rewrites"):
        main([*args, "--record-rewrites"])
