"""Reading text files line by line with errors that name the file, the line and the byte.

Files are decoded as UTF-8 one line at a time, so a stray Latin-1 byte is reported where it
is ("line 3, byte 17: 0xe9 is not UTF-8") instead of as a traceback from the middle of a
buffered read; a UTF-8 byte-order mark (as spreadsheet programs write) is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import _FileLineError

__all__ = ["read_jsonl", "read_lines"]

_BOM = b"\xef\xbb\xbf"


def read_lines(path: Path, error: type[_FileLineError]) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, decoded line with its newline) for every line."""
    try:
        fh = path.open("rb")
    except IsADirectoryError:
        raise error("is a folder, not a file", path=path) from None
    except OSError as exc:
        raise error(f"cannot be read ({exc.strerror})", path=path) from None
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise error(
                    f"byte {exc.start + 1} (0x{raw[exc.start]:02x}) is not UTF-8; save the file "
                    "as UTF-8 (e.g. `iconv -f latin1 -t utf-8 IN > OUT`)",
                    path=path, line=lineno,
                ) from None


def read_jsonl(path: Path, error: type[_FileLineError]) -> Iterator[tuple[int, Any]]:
    """Yield (1-based line number, parsed value) for each non-blank line; a line that is not
    JSON (or not UTF-8) raises `error` naming the file and the line."""
    for lineno, raw in read_lines(path, error):
        if not raw.strip():
            continue
        try:
            yield lineno, json.loads(raw)
        except json.JSONDecodeError as exc:
            raise error(f"not valid JSON ({exc.msg})", path=path, line=lineno) from None
