"""`SqliteCache`: a persistent text cache for LLM results (rewrites, judgements).

SQLite in WAL mode: safe for several threads and processes, and a crash mid-write loses at
most that write.  Values are text (JSON) and are validated by the caller on the way out, so a
corrupt or outdated entry is a miss, never an exception in the host application.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from pathlib import Path

__all__ = ["SqliteCache", "default_cache_dir"]

_TABLE_RE = re.compile(r"^[a-z_]{1,40}$")


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
