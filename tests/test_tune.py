"""`rolecall tune`: training moves the model the intended way, checkpoints resume, and the
tuned model round-trips through an index.  Real MiniLM, real training, a few steps."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rolecall import Index, Retriever
from rolecall.cli import main
from rolecall.embedding.names import embedder_named
from rolecall.errors import NothingToTuneError, TuneOutputError
from rolecall.tune import TUNE_MANIFEST, TuneSettings, mine_triples, tune
from rolecall.tune import train as train_mod

from .films import FILM_DOCS, films_kg

#: enough steps at a high rate that a change shows on the held-back triples; still seconds
_FAST = TuneSettings(steps=12, batch_size=8, learning_rate=1e-4, held_back=0.3, seed=3,
                     checkpoint_every=4, max_length=64, held_back_by="pair")
#: a shorter run for what does not need the model to change much
_SHORT = replace(_FAST, steps=6, checkpoint_every=2)


@pytest.fixture(scope="module")
def film_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    path = tmp_path_factory.mktemp("films") / "idx"
    return Index.build(path, FILM_DOCS, kg=films_kg(), progress=False)


@pytest.fixture(scope="module")
def tuned(film_index: Index, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tuned") / "model"
    tune(film_index, out, settings=_FAST, progress=False)
    return out


def test_training_separates_the_held_back_hard_negatives(tuned: Path) -> None:
    report = json.loads((tuned / TUNE_MANIFEST).read_text())
    before, after = report["before"], report["after"]
    assert before["triples"] > 0 and report["steps"] == report["planned_steps"] == 12
    # Pairs held back from training: more of them put the positive above the hard negative
    # (the associated-but-wrong film, the page that only mentions the name).  Raw cosine
    # margins are not comparable across models (training rescales the whole space); the
    # share ordered is.
    assert after["ordered"] > before["ordered"]
    assert report["counts"]["role"] > 0 and report["base_model"]
    assert not (tuned / "checkpoint").exists()  # a finished run leaves no checkpoint


def test_a_tuned_model_round_trips_through_an_index(tuned: Path, tmp_path: Path) -> None:
    idx = Index.build(tmp_path / "idx", FILM_DOCS, kg=films_kg(), progress=False,
                      embedder=str(tuned))
    assert idx.manifest.embedding_model == str(tuned.resolve())
    again = Index.open(tmp_path / "idx")  # finds its model by the recorded path
    hits = Retriever(again).search("films directed by Clint Eastwood", k=3).hits
    assert hits and again.embedder.name == str(tuned.resolve())
    base = embedder_named("minilm").encode(["a western"])
    mine = again.embedder.encode(["a western"])
    assert mine.shape == base.shape and not np.allclose(mine, base, atol=1e-3)  # it changed


def test_a_killed_run_resumes_where_its_checkpoint_stopped(
    film_index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "model"
    real_step, calls = train_mod._step, {"n": 0}

    def dies_at_step_5(*args: object, **kwargs: object) -> float:
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # as if the process were stopped mid-run
        return real_step(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train_mod, "_step", dies_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        tune(film_index, out, settings=_SHORT, progress=False)
    assert (out / "checkpoint" / "state.pt").exists()
    monkeypatch.setattr(train_mod, "_step", real_step)
    with pytest.raises(TuneOutputError):  # a half-done folder is not overwritten silently
        tune(film_index, out, settings=_SHORT, progress=False)
    with pytest.raises(TuneOutputError, match="other settings"):
        tune(film_index, out, settings=replace(_SHORT, seed=4), resume=True, progress=False)
    report = tune(film_index, out, settings=_SHORT, resume=True, progress=False)
    assert report.resumed_from == 4 and report.steps == 6 and len(report.losses) == 6


def test_misuse_is_told_apart(film_index: Index, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(TuneOutputError, match="not a rolecall tuning output"):
        tune(film_index, tmp_path / "taken", settings=_SHORT, progress=False)
    with pytest.raises(NothingToTuneError):
        tune(film_index, tmp_path / "none", kinds=(), settings=_SHORT, progress=False)


def test_mined_triples_are_deterministic_for_a_seed(film_index: Index) -> None:
    a = mine_triples(film_index, seed=1)
    assert a == mine_triples(film_index, seed=1) and a.triples


def test_the_cli_tunes_and_eval_compares_models(
    film_index: Index, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli-model"
    assert main(["tune", str(film_index.root), "--out", str(out), "--steps", "3",
                 "--batch-size", "4", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "held back" in printed and f"--embedder {out}" in printed
    assert (out / "modules.json").exists()


def _film_beir(folder: Path) -> Path:
    """The film documents as a BEIR folder with two role queries, for `rolecall eval`."""
    folder.mkdir()
    with (folder / "corpus.jsonl").open("w") as fh:
        for d in FILM_DOCS:
            fh.write(json.dumps({"_id": d.id, "title": d.title, "text": d.text}) + "\n")
    queries = {"q1": "films directed by Clint Eastwood", "q2": "films starring Clint Eastwood"}
    with (folder / "queries.jsonl").open("w") as fh:
        for qid, text in queries.items():
            fh.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{FILM_DOCS[i].id}\t1\n"
                                                  for q, i in (("q1", 0), ("q2", 1))))
    return folder


def test_eval_puts_the_tuned_rows_beside_the_base_ones(
    tuned: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _film_beir(tmp_path / "films")
    assert main(["eval", str(data), "--systems", "dense,hybrid", "--embedder", "minilm",
                 "--embedder", str(tuned), "--index", str(tmp_path / "ev"), "--json",
                 "--no-progress"]) == 0
    rows = {r["name"] for r in json.loads(capsys.readouterr().out)}
    tag = "@" + tuned.name
    assert {"dense@minilm", "hybrid@minilm"} <= rows
    assert {n for n in rows if n.startswith(("dense" + tag, "hybrid" + tag))} and len(rows) == 4
