"""Many processes read one index while another process adds to it."""

import subprocess
import sys
import textwrap
from pathlib import Path

from rolecall import Document, Index

from .test_index import copy_index

READER = textwrap.dedent("""
    import sys
    from rolecall import Retriever, RoleQuery
    r = Retriever.open(sys.argv[1])
    n = len(r.index)
    for i in range(30):
        ids = r.search(RoleQuery.plain("Vasodil headaches"), k=3, legs=("lexical",)).ids
        assert ids[0] == "b", ids
        r = Retriever.open(sys.argv[1])  # re-resolve CURRENT while the writer swaps it
        assert len(r.index) >= n
    print("ok", len(r.index))
""")


def test_readers_in_other_processes_during_adds(tiny_index_path: Path, tmp_path: Path) -> None:
    root = copy_index(tiny_index_path, tmp_path / "shared")
    script = tmp_path / "reader.py"
    script.write_text(READER, encoding="utf-8")
    readers = [subprocess.Popen([sys.executable, str(script), str(root)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    index = Index.open(root)
    for i in range(3):
        index = index.add([Document(id=f"new{i}", text=f"added document number {i}")],
                          progress=False)
    for p in readers:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        assert out.startswith("ok")
    assert len(Index.open(root)) == 10
