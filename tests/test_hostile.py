"""Hostile but ordinary use (issue #14): no user file deleted, no process killed, no silent
wrong answer.  Real indexes, real files, real subprocesses where a crash or the operating
system is the point.  RELIABILITY.md reports what these tried."""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from rolecall import (
    CorpusError,
    Document,
    Index,
    IndexLocationError,
    IndexNotFoundError,
    InvalidQueryError,
    InvalidSettingError,
    KnowledgeGraph,
    KnowledgeGraphError,
    Retriever,
    RoleQuery,
    read_corpus,
)
from rolecall.cli import main

from .conftest import DOCS
from .test_index import copy_index

CLI = str(Path(sys.executable).parent / "rolecall")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ROLECALL_QUERY_RUNTIME": "torch"}


def _tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


# -- data loss: rolecall writes only where it can prove the folder is its own --


@pytest.fixture
def users_folder(tmp_path: Path) -> Path:
    """A folder a user keeps other things in, named like rolecall's own debris."""
    root = tmp_path / "mydocs"
    for sub in ("gen-photos", ".tmp-drafts", "gen-000001"):
        (root / sub).mkdir(parents=True)
        (root / sub / "keep.txt").write_text(f"the user's {sub}", encoding="utf-8")
    (root / "CURRENT").write_text("my current notes\n", encoding="utf-8")
    return root


def test_build_into_a_users_folder_is_refused_and_nothing_changes(users_folder: Path) -> None:
    before = _tree(users_folder)
    with pytest.raises(IndexLocationError, match="not empty and is not a rolecall index"):
        Index.build(users_folder, DOCS, progress=False)
    assert _tree(users_folder) == before


def test_cli_index_into_a_users_folder_exits_2_and_deletes_nothing(
    users_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = users_folder.parent / "corpus.jsonl"
    corpus.write_text(json.dumps({"_id": "1", "text": "hello"}) + "\n", encoding="utf-8")
    before = _tree(users_folder)
    assert main(["index", str(corpus), "--out", str(users_folder), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "is not a rolecall index" in err and "Choose another folder" in err
    assert _tree(users_folder) == before


def test_rebuilds_delete_only_what_rolecall_wrote(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    Index.build(root, DOCS[:2], progress=False)
    (root / "gen-photos").mkdir()
    (root / "gen-photos" / "cat.jpg").write_bytes(b"\xff\xd8 a cat")
    (root / ".tmp-drafts").mkdir()
    (root / ".tmp-drafts" / "draft.txt").write_text("draft", encoding="utf-8")
    for _ in range(3):
        Index.build(root, DOCS[:3], progress=False)
    assert (root / "gen-photos" / "cat.jpg").read_bytes() == b"\xff\xd8 a cat"
    assert (root / ".tmp-drafts" / "draft.txt").read_text(encoding="utf-8") == "draft"
    gens = sorted(p.name for p in root.glob("gen-0*"))
    assert len(gens) == 2 and len(Index.open(root)) == 3  # the live one and the previous


def test_an_empty_folder_and_a_legacy_index_are_accepted(tmp_path: Path,
                                                         tiny_index_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(Index.build(empty, DOCS[:1], progress=False)) == 1
    legacy = copy_index(tiny_index_path, tmp_path / "legacy")
    (legacy / ".rolecall-index").unlink()  # as written before the marker existed
    assert len(Index.build(legacy, DOCS[:2], progress=False)) == 2
    assert (legacy / ".rolecall-index").is_file()


def test_out_naming_a_file_and_search_on_a_file(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "notes.txt"
    plain.write_text("my notes", encoding="utf-8")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"_id": "1", "text": "hello"}) + "\n", encoding="utf-8")
    assert main(["index", str(corpus), "--out", str(plain), "--no-progress"]) == 2
    assert "is a file, not an index folder" in capsys.readouterr().err
    assert plain.read_text(encoding="utf-8") == "my notes"
    assert main(["search", str(plain), "hello"]) == 2
    err = capsys.readouterr().err
    assert "is a file" in err and "empty" not in err
    with pytest.raises(IndexNotFoundError, match="holds other files"):
        Index.open(tmp_path)


# -- a process is never killed by a setting --


def test_absurd_depth_is_refused_before_any_work_in_a_real_process(
    tiny_index_path: Path, tmp_path: Path
) -> None:
    """depth=10**12 used to abort the whole process inside tantivy (SIGABRT, nothing to
    catch) and 10**8 took 12 s: both are refused, by name, before any work."""
    script = tmp_path / "deep.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from rolecall import InvalidSettingError, Retriever
        r = Retriever.open(sys.argv[1])
        for depth in (10**12, 10**8):
            t = time.perf_counter()
            try:
                r.search("a drug that treats headaches", depth=depth)
            except InvalidSettingError as exc:
                print("refused", exc.setting, round(time.perf_counter() - t, 3), flush=True)
        print(len(r.search("headache", depth=10_000).hits))
    """), encoding="utf-8")
    p = subprocess.run([sys.executable, str(script), str(tiny_index_path)], env=ENV,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split("\n")
    assert [ln.split()[:2] for ln in lines[:2]] == [["refused", "depth"]] * 2
    assert all(float(ln.split()[2]) < 0.5 for ln in lines[:2])
    assert int(lines[2]) > 0


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"weights": {"lexical": math.inf}}, "weights['lexical']"),
        ({"weights": {"dense": math.nan}}, "weights['dense']"),
        ({"weights": {"lexcal": 1.0}}, "weights"),
        ({"weights": {"lexical": True}}, "weights['lexical']"),
        ({"rrf_k": math.nan}, "rrf_k"),
        ({"rrf_k": 0}, "rrf_k"),
        ({"rrf_k": "60"}, "rrf_k"),
        ({"depth": True}, "depth"),
        ({"depth": 0}, "depth"),
        ({"k": 10**9}, "k"),
        ({"legs": ()}, "legs"),
        ({"legs": ("lexical", "lexical")}, "legs"),
        ({"legs": "lexical"}, "legs"),
        ({"role_penalty": math.nan}, "role_penalty"),
        ({"min_score": True}, "min_score"),
        ({"exclusion_mode": "strict"}, "exclusion_mode"),
    ],
)
def test_every_setting_is_typed_and_ranged(
    tiny: Retriever, overrides: dict[str, object], setting: str
) -> None:
    with pytest.raises(InvalidSettingError) as err:
        tiny.search("a drug that treats headaches", **overrides)  # type: ignore[arg-type]
    assert err.value.setting == setting and err.value.valid in str(err.value)
    with pytest.raises(InvalidSettingError):
        Retriever(tiny.index, **overrides)  # type: ignore[arg-type]


def test_scores_stay_bounded_at_the_largest_weights(tiny: Retriever) -> None:
    hits = tiny.search("headache", weights={"lexical": 1000.0, "dense": 0.0}).hits
    assert hits and all(0.0 <= h.score <= 1.0 and math.isfinite(h.score) for h in hits)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) > 1


def test_cli_empty_legs_is_an_error(tiny_index_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", str(tiny_index_path), "headache", "--legs", ""]) == 2
    assert "legs must be a non-empty tuple" in capsys.readouterr().err


# -- read-only indexes --


_READER = textwrap.dedent("""
    import json, sys
    from rolecall import Document, Index, IndexReadOnlyError, Retriever
    root = sys.argv[1]
    r = Retriever.open(root)
    print(json.dumps(r.search("a drug that treats headaches", k=3).ids), flush=True)
    try:
        Index.open(root).add([Document(id="new", text="a new page")], progress=False)
        print("wrote")
    except IndexReadOnlyError as exc:
        print("read-only:", exc)
""")


@pytest.fixture
def shared_copy(tiny_index_path: Path) -> Iterator[Path]:
    """A copy of the index where another user (or a mount namespace) can reach it: pytest's
    own tmp folders are 0700."""
    base = Path(tempfile.mkdtemp(prefix="rolecall-ro-"))
    try:
        os.chmod(base, 0o755)
        yield copy_index(tiny_index_path, base / "idx")
    finally:
        for p in [base, *base.rglob("*")]:
            if not p.is_symlink():
                os.chmod(p, 0o755 if p.is_dir() else 0o644)
        shutil.rmtree(base, ignore_errors=True)


def _run_on_read_only(root: Path, script: Path) -> subprocess.CompletedProcess[str]:
    """Run `script root` where `root` cannot be written: a read-only bind mount in a private
    mount namespace when we are root (root ignores file modes), `chmod -R a-w` otherwise."""
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("running as root without unshare(1): cannot make a read-only mount")
        shell = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && exec "$2" "$3" "$1"'
        cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", shell, "_",
               str(root), sys.executable, str(script)]
    else:
        for p in [root, *root.rglob("*")]:
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
        cmd = [sys.executable, str(script), str(root)]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=180)
    if os.geteuid() == 0 and done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"no mount namespace here: {done.stderr.strip()[:200]}")
    return done


def test_a_read_only_index_is_searched_and_a_write_says_read_only(
    shared_copy: Path, tmp_path: Path, tiny: Retriever
) -> None:
    script = tmp_path / "reader.py"
    script.write_text(_READER, encoding="utf-8")
    before = _tree(shared_copy)
    p = _run_on_read_only(shared_copy, script)
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert json.loads(out[0]) == tiny.search("a drug that treats headaches", k=3).ids
    assert out[1].startswith("read-only:") and "cannot be written" in out[1]
    assert "rebuild" not in p.stdout + p.stderr
    assert _tree(shared_copy) == before


def test_readers_leave_no_lock_files_in_the_index(shared_copy: Path) -> None:
    for lock in shared_copy.rglob(".tantivy-*"):
        lock.unlink()
    before = _tree(shared_copy)
    with Index.open(shared_copy) as index:
        assert Retriever(index).search("headache").hits
    assert _tree(shared_copy) == before


# -- a write that fails part-way --


def test_a_write_that_runs_out_of_space_says_nothing_changed(
    tiny_index_path: Path, tmp_path: Path
) -> None:
    """A file-size limit stands in for a full disk: the add fails while writing the new
    generation; the message says what happened and that the live index is unchanged."""
    root = copy_index(tiny_index_path, tmp_path / "idx")
    corpus = tmp_path / "more.jsonl"
    with corpus.open("w", encoding="utf-8") as fh:
        for i in range(400):
            fh.write(json.dumps({"_id": f"m{i}", "text": "filler words " * 300}) + "\n")
    limit = 512 * 1024  # above the tiny index's files, below the new document store

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    before = Retriever.open(root).search("a drug that treats headaches").ids
    p = subprocess.run([CLI, "index", str(corpus), "--out", str(root), "--add",
                        "--no-progress"], env=ENV, capture_output=True, text=True,
                       timeout=300, preexec_fn=cap)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert "File too large" in p.stderr and "nothing changed: generation" in p.stderr
    assert Retriever.open(root).search("a drug that treats headaches").ids == before
    assert not list(root.glob(".tmp-*"))


# -- corpora and graphs: what is read is what was meant --


@pytest.mark.parametrize("bad", ['["a", "b"]', "true", "NaN", "1.5", '{"x": 1}'])
def test_ids_that_are_not_strings_or_integers_are_refused_with_the_line(
    tmp_path: Path, bad: str
) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"_id": "ok", "text": "fine"}\n{"_id": ' + bad + ', "text": "x"}\n',
                    encoding="utf-8")
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: '_id' must be a string or an integer"):
        list(read_corpus(path))


def test_an_integer_id_and_the_same_string_are_one_id(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"_id": 1, "text": "one"}\n{"_id": "1", "text": "uno"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r":2: .*the integer 1 and the string '1'.*line 1"):
        list(read_corpus(path))
    assert [d.id for d in read_corpus(_write(tmp_path / "ok.jsonl", '{"_id": 7, "text": "x"}'))
            ] == ["7"]


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text + "\n", encoding=encoding)
    return path


def test_an_empty_corpus_says_there_are_no_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    out = tmp_path / "idx"
    assert main(["index", str(empty), "--out", str(out), "--no-progress"]) == 2
    assert "no documents" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(CorpusError, match="no documents"):
        Index.build(out, [], progress=False)


def test_a_csv_with_a_byte_order_mark_reads_its_header(tmp_path: Path) -> None:
    csv = tmp_path / "entities.csv"
    csv.write_bytes("\ufeffid,name,type,aliases\nibuprofen,Ibuprofen,drug,Advil|Nurofen\n"
                    .encode("utf-8"))
    kg = KnowledgeGraph.load([csv])
    assert kg.entities["ibuprofen"].aliases == ["Advil", "Nurofen"]
    jsonl = _write(tmp_path / "c.jsonl", "\ufeff" + json.dumps({"_id": "a", "text": "x"}))
    assert [d.id for d in read_corpus(jsonl)] == ["a"]


@pytest.mark.parametrize("kind", ["corpus.jsonl", "kg.jsonl", "kg.csv", "kg.tsv"])
def test_non_utf8_files_name_the_file_line_and_byte(tmp_path: Path, kind: str) -> None:
    rows = {
        "corpus.jsonl": ['{"_id": "a", "text": "fine"}', '{"_id": "b", "text": "caf\xe9"}'],
        "kg.jsonl": ['{"kind": "entity", "id": "a"}', '{"kind": "entity", "id": "caf\xe9"}'],
        "kg.csv": ["id,name", "caf\xe9,Caf\xe9"],
        "kg.tsv": ["a\ttreats\tb", "caf\xe9\ttreats\tb"],
    }[kind]
    path = _write(tmp_path / kind, "\n".join(rows), encoding="latin-1")
    error = CorpusError if kind == "corpus.jsonl" else KnowledgeGraphError
    with pytest.raises(error, match=rf"{kind}:2: byte \d+ \(0xe9\) is not UTF-8"):
        if kind == "corpus.jsonl":
            list(read_corpus(path))
        else:
            KnowledgeGraph.load([path])


# -- the command line --


def test_json_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`rolecall search … --json | head -c 100` on output larger than a pipe's buffer."""
    corpus = tmp_path / "big.jsonl"
    with corpus.open("w", encoding="utf-8") as fh:
        for i in range(60):  # ~3 kB each: 60 hits print ~200 kB, over any pipe buffer
            fh.write(json.dumps({"_id": f"b{i}", "text": f"headache note {i} " * 180}) + "\n")
    idx = tmp_path / "idx"
    Index.build(idx, read_corpus(corpus), progress=False)
    shell = f'"{CLI}" search "{idx}" "headache note" -k 60 --json | head -c 100 >/dev/null'
    p = subprocess.run(["bash", "-c", f"set -o pipefail; {shell}"], env=ENV,
                       capture_output=True, text=True, timeout=120)
    assert "Traceback" not in p.stderr and "BrokenPipeError" not in p.stderr, p.stderr
    assert p.returncode in (0, 141)


# -- queries --


def test_a_constructed_role_query_is_validated_before_it_runs(tiny: Retriever) -> None:
    bad = RoleQuery.model_construct(text="headache", relations=[
        {"relation": "treats", "object": "headache", "max_hops": 10**6}])
    with pytest.raises(InvalidQueryError, match=r"relations\.0\.max_hops"):
        tiny.search(bad)
    blank = RoleQuery.model_construct(text="   ")
    with pytest.raises(InvalidQueryError, match="at text"):
        tiny.search(blank)
    with pytest.raises(InvalidQueryError):
        tiny.explain_document(bad, "a")


def test_lookalike_letters_link_the_real_entity_only(demo: Retriever) -> None:
    kg = demo.index.kg
    greek = "\u0399buprofen"  # Greek capital iota, then Latin
    assert kg.lookup(greek) == [("ibuprofen", "exact", 1.0)]
    result = demo.search(f"{greek} side effects", k=3)
    assert result.hits[0].title == "Ibuprofen"
    assert any("lookalike letters" in n and "'Ibuprofen'" in n
               for n in result.plan.query.provenance.notes)
    greek_word = "\u0399\u03b2\u03bf\u03c5\u03c0\u03c1\u03bf\u03c6\u03b1\u03b9\u03bd\u03b7"
    assert kg.lookup(greek_word) == [] or kg.lookup(greek_word)[0][2] < 1.0  # Greek stays Greek


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_a_trailing_not_and_lists_are_exclusions(demo: Retriever, mode: str) -> None:
    rq = demo.rewrite("painkillers for headaches, not aspirin")
    assert [e.text for e in rq.exclusions] == ["aspirin"]
    hits = demo.search("painkillers for headaches, not aspirin", k=5, exclusion_mode=mode)
    assert hits.hits[0].title != "Aspirin"
    if mode == "hard":
        assert "Aspirin" not in [h.title for h in hits.hits]
    listed = demo.rewrite("painkillers excluding aspirin, ibuprofen, paracetamol")
    assert [e.text for e in listed.exclusions] == ["aspirin", "ibuprofen", "paracetamol"]
    top = [h.title for h in demo.search(
        "painkillers excluding aspirin, ibuprofen, paracetamol", k=3, exclusion_mode=mode).hits]
    assert not {"Aspirin", "Ibuprofen", "Paracetamol (acetaminophen)"} & set(top[:1])
    long = demo.rewrite("pain relief without aspirin, ibuprofen, naproxen, codeine and "
                        "paracetamol")
    assert len(long.exclusions) == 5


def test_add_of_nothing_writes_no_generation(tiny_index_path: Path, tmp_path: Path) -> None:
    root = copy_index(tiny_index_path, tmp_path / "idx")
    index = Index.open(root)
    assert index.add([], progress=False) is index
    assert sorted(p.name for p in root.glob("gen-*")) == sorted(
        p.name for p in tiny_index_path.glob("gen-*"))


def test_documents_built_in_code_are_checked_like_a_corpus(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="'_id' must be a string or an integer"):
        Index.build(tmp_path / "i", [{"_id": ["x"], "text": "t"}], progress=False)
    plain = tmp_path / "f.txt"
    plain.write_text("x", encoding="utf-8")
    with pytest.raises(IndexLocationError, match="is a file"):
        Index.build(plain, [Document(id="a", text="t")], progress=False)


def test_a_stated_contrast_is_content_not_an_exclusion() -> None:
    from rolecall import RuleRewriter

    rq = RuleRewriter().rewrite("Beige cells mostly occur in visceral fat, not subcutaneous fat.")
    assert rq.exclusions == [] and any("statement" in n for n in rq.provenance.notes)
    assert [e.text for e in RuleRewriter().rewrite("cheap flights, not Ryanair").exclusions
            ] == ["Ryanair"]
    assert RuleRewriter().rewrite("papers on vaccines, not only reviews").exclusions == []


@pytest.mark.parametrize(("kwargs", "setting"), [
    ({"timeout": math.inf}, "timeout"), ({"max_retries": 10**9}, "max_retries"),
    ({"max_tokens": True}, "max_tokens"), ({"temperature": math.nan}, "temperature"),
])
def test_llm_client_numbers_are_ranged(kwargs: dict[str, object], setting: str) -> None:
    from rolecall import LLMClient

    with pytest.raises(InvalidSettingError) as err:
        LLMClient("openai/x", **kwargs)  # type: ignore[arg-type]
    assert err.value.setting == setting
