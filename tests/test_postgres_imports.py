"""`rolecall_postgres` is a backend written from outside rolecall: it may import only the
public modules, `rolecall`, `rolecall.backends` (the backend interface and what a backend may
reuse) and `rolecall.errors`.  Checked statically, so it holds without PostgreSQL installed.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADAPTER = ROOT / "adapters" / "rolecall_postgres"
PUBLIC = {"rolecall", "rolecall.backends", "rolecall.errors"}


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def private_imports(source: str, filename: str = "<source>") -> list[str]:
    """`line: module` for every import of a rolecall module outside `PUBLIC`, including a
    submodule imported by name (`from rolecall import graph`)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module in PUBLIC:
                names += [
                    f"{node.module}.{alias.name}" for alias in node.names
                    if _is_module(f"{node.module}.{alias.name}")
                ]
        else:
            continue
        for name in names:
            if (name == "rolecall" or name.startswith("rolecall.")) and name not in PUBLIC:
                found.append(f"{filename}:{node.lineno}: {name}")
    return found


def test_the_checker_catches_private_imports() -> None:
    source = "\n".join([
        "import rolecall",
        "import rolecall.graph",
        "from rolecall.backends.embedded.lexical import analyze",
        "from rolecall._progress import progress_bar",
        "from rolecall import graph, Retriever",
        "from rolecall.backends import BoundedMemo",
        "from rolecall.errors import BackendError",
        "from ._db import Database",
        "import rolecall_postgres",
    ])
    assert [f.split(": ", 1)[1] for f in private_imports(source)] == [
        "rolecall.graph", "rolecall.backends.embedded.lexical", "rolecall._progress",
        "rolecall.graph",
    ]


SOURCES = sorted(ADAPTER.glob("*.py"))


def test_the_adapter_has_sources() -> None:
    assert {p.name for p in SOURCES} >= {"__init__.py", "_index.py", "_embedded.py"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_rolecall_postgres_imports_only_public_rolecall_modules(path: Path) -> None:
    found = private_imports(path.read_text(), str(path.relative_to(ROOT)))
    assert not found, (
        "rolecall_postgres may import only " + ", ".join(sorted(PUBLIC))
        + "; re-export what it needs from rolecall.backends instead:\n" + "\n".join(found)
    )
