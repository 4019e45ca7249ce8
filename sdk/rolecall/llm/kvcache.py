"""`SqliteCache`: a persistent text cache for LLM results (rewrites, judgements).

SQLite in WAL mode: safe for several threads and processes, and a crash mid-write loses at
most that write.  Values are text (JSON) and are validated by the caller on the way out, so a
corrupt or outdated entry is a miss, never an exception in the host application.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from pathlib import Path
from typing import Protocol

from .._jsonl import read_jsonl
from ..errors import CorpusError

__all__ = ["JsonlCache", "SqliteCache", "TextCache", "default_cache_dir"]

_TABLE_RE = re.compile(r"^[a-z_]{1,40}$")


class TextCache(Protocol):
    """What the LLM caches need: text by key."""

    def get_text(self, key: str) -> str | None: ...

    def put_text(self, key: str, value: str) -> None: ...


def default_cache_dir() -> Path:
    return Path(os.environ.get("ROLECALL_HOME", Path.home() / ".cache" / "rolecall"))


class SqliteCache:
    """`get_text`/`put_text` by key in one table; `path=":memory:"` for a process-local one."""

    def __init__(self, path: str | Path, *, table: str) -> None:
        if not _TABLE_RE.match(table):  # the table name is ours, never user text
            raise ValueError(f"invalid cache table name {table!r}")
        self.path = str(path)
        self._table = table
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        with self._lock, self._conn:
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )

    def get_text(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT value FROM {self._table} WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else str(row[0])

    def put_text(self, key: str, value: str) -> None:
        with self._lock, self._conn:
            self._conn.execute(
                f"INSERT OR REPLACE INTO {self._table} (key, value) VALUES (?, ?)", (key, value)
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM {self._table}").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class JsonlCache:
    """The same `get_text`/`put_text` over a JSONL file of `{"key", "value"}` lines: for
    caches committed to a repository (benchmark judgements), where diffs should be readable.
    Appends only; the last line for a key wins."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._data: dict[str, str] = {}
        if self.path.exists():
            for lineno, rec in read_jsonl(self.path, CorpusError):
                if not isinstance(rec.get("key"), str) or not isinstance(rec.get("value"), str):
                    raise CorpusError("a cache line needs string 'key' and 'value'",
                                      path=self.path, line=lineno)
                self._data[rec["key"]] = rec["value"]

    def get_text(self, key: str) -> str | None:
        return self._data.get(key)

    def put_text(self, key: str, value: str) -> None:
        with self._lock:
            self._data[key] = value
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"key": key, "value": value}, ensure_ascii=False) + "\n")

    def __len__(self) -> int:
        return len(self._data)
