import io
import json
import warnings
from pathlib import Path

import pytest
from rich.console import Console
from rolecall.cli import main
from rolecall.demo import demo_data_dir, demo_queries, open_demo, run_demo


def test_index_and_search_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = demo_data_dir()
    out = tmp_path / "idx"
    assert main(["index", str(data / "corpus.jsonl"), "--out", str(out), "--kg",
                 str(data / "kg.jsonl"), "--no-progress"]) == 0
    assert "indexed 47 documents" in capsys.readouterr().out
    assert main(["search", str(out), "a drug that treats headaches", "-k", "3", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"hits", "plan", "degraded"}
    assert len(payload["hits"]) == 3
    assert payload["plan"]["query"]["relations"][0]["relation"] == "treats"
    assert main(["search", str(out), "a drug that treats headaches", "-k", "2"]) == 0
    table = capsys.readouterr().out
    assert "treats headache" in table and "hits in" in table


def test_cli_errors_are_one_line_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", str(tmp_path / "missing"), "x"]) == 2
    assert "no rolecall index" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "1", "text": "a"}\n{"_id": 2}\n', encoding="utf-8")
    assert main(["index", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:2:" in err
    assert not (tmp_path / "o" / "CURRENT").exists()


def test_demo_beats_plain_search(tmp_path: Path) -> None:
    buf = io.StringIO()
    tally = run_demo(tmp_path / "demo", k=5, console=Console(file=buf, width=120))
    n = len(demo_queries())
    assert tally["queries"] == n >= 5
    assert tally["rolecall_top1"] == n
    assert tally["rolecall_wrong"] < tally["dense_wrong"] and tally["rolecall_wrong"] < tally[
        "bm25_wrong"]
    text = buf.getvalue()
    assert "suppressed" in text and "summary" in text


def test_every_demo_query_puts_wanted_first_and_no_unwanted(tmp_path: Path) -> None:
    r = open_demo(tmp_path / "demo2", progress=False)
    for q in demo_queries():
        ids = r.search(q.query, k=5).ids
        assert ids and ids[0] in q.wanted, q.query
        assert not set(ids) & set(q.unwanted), q.query


def test_index_precision_says_what_ran(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--precision bfloat16` runs bfloat16 where the CPU has it natively, else float32 with
    the reason on the summary line; an add without --embedder uses the index's own model;
    bge-small (INT8 ONNX) refuses the option with how to fix the call."""
    data = demo_data_dir()
    out = tmp_path / "idx"
    with warnings.catch_warnings():  # the fallback to float32 warns where bfloat16 is not native
        warnings.simplefilter("ignore", RuntimeWarning)
        assert main(["index", str(data / "corpus.jsonl"), "--out", str(out),
                     "--precision", "bfloat16", "--no-progress"]) == 0
    line = capsys.readouterr().out
    assert "bfloat16 bulk embedding)" in line or "(float32 bulk embedding; " in line
    more = tmp_path / "more.jsonl"
    more.write_text('{"_id": "new1", "text": "a tablet for mild headaches"}\n', encoding="utf-8")
    assert main(["index", str(more), "--out", str(out), "--add", "--precision", "float32",
                 "--no-progress"]) == 0
    added = capsys.readouterr().out
    assert "48 documents" in added and "(float32 bulk embedding)" in added
    assert main(["index", str(more), "--out", str(tmp_path / "b"), "--embedder", "bge-small",
                 "--precision", "bfloat16", "--no-progress"]) == 2
    assert "leave --precision out" in capsys.readouterr().err
