from pathlib import Path

import pytest
from rolecall import CorpusError, Document, read_corpus


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "corpus.jsonl"
    p.write_text(text, encoding="utf-8")
    return p


def test_reads_beir_and_native_forms(tmp_path: Path) -> None:
    p = write(tmp_path, '{"_id": "1", "title": "T", "text": "x"}\n\n'
                        '{"id": "2", "text": "y", "metadata": {"a": 1}}\n')
    docs = list(read_corpus(p))
    assert [d.id for d in docs] == ["1", "2"]
    assert docs[0].full_text == "T\nx" and docs[1].metadata == {"a": 1}
    assert list(read_corpus(tmp_path))[0].id == "1"  # a BEIR folder works too


@pytest.mark.parametrize(
    "content, line, fragment",
    [
        ('{"_id": "1", "text": "ok"}\n{not json}\n', 2, "not valid JSON"),
        ('{"_id": "1", "text": "ok"}\n{"text": "no id"}\n', 2, "no '_id'"),
        ('{"_id": "1"}\n', 1, "no string 'text'"),
        ('{"_id": "1", "text": "a"}\n{"_id": "1", "text": "b"}\n', 2, "duplicate"),
        ('[1, 2]\n', 1, "JSON object"),
        ('{"_id": "1", "text": "a", "metadata": [1]}\n', 1, "metadata"),
    ],
)
def test_malformed_lines_name_file_and_line(
    tmp_path: Path, content: str, line: int, fragment: str
) -> None:
    p = write(tmp_path, content)
    with pytest.raises(CorpusError) as err:
        list(read_corpus(p))
    assert err.value.line == line
    assert err.value.path == str(p)
    assert fragment in str(err.value) and f":{line}:" in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such corpus"):
        list(read_corpus(tmp_path / "nope.jsonl"))


def test_document_requires_id() -> None:
    with pytest.raises(ValueError):
        Document(id="", text="x")
