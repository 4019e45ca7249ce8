"""Reading JSONL with errors that name the file and the line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import _FileLineError

__all__ = ["read_jsonl"]


def read_jsonl(path: Path, error: type[_FileLineError]) -> Iterator[tuple[int, Any]]:
    """Yield (1-based line number, parsed value) for each non-blank line; a line that is not
    JSON raises `error` naming the file and the line."""
    with path.open("r", encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                yield lineno, json.loads(raw)
            except json.JSONDecodeError as exc:
                raise error(f"not valid JSON ({exc.msg})", path=path, line=lineno) from None
