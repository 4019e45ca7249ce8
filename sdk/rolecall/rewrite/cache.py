"""A persistent rewrite cache: a hit makes no LLM call.

Keyed on (normalised query, history digest, RoleQuery schema version, model, prompt hash), so
changing the model, the prompt (catalog, examples) or the schema never serves a stale
rewrite.  Stored in SQLite: safe for several threads and processes, and a crash mid-write
loses at most that write.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from ..query import SCHEMA_VERSION, RoleQuery
from .base import Message

__all__ = ["RewriteCache", "cache_key", "default_cache_path"]


def default_cache_path() -> Path:
    home = Path(os.environ.get("ROLECALL_HOME", Path.home() / ".cache" / "rolecall"))
    return home / "rewrites.sqlite"


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def cache_key(text: str, history: Sequence[Message], model: str, prompt_hash: str) -> str:
    digest = hashlib.sha256(
        json.dumps([[m.role, _normalise(m.content)] for m in history]).encode()
    ).hexdigest()
    raw = json.dumps([_normalise(text), digest, SCHEMA_VERSION, model, prompt_hash])
    return hashlib.sha256(raw.encode()).hexdigest()


class RewriteCache:
    """`get`/`put` RoleQueries by key; `path=":memory:"` for a process-local cache."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else str(default_cache_path())
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        with self._lock, self._conn:
            self._conn.execute("PRAGMA journal_mode=WAL") if self.path != ":memory:" else None
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS rewrites (key TEXT PRIMARY KEY, query TEXT NOT NULL)"
            )

    def get(self, key: str) -> RoleQuery | None:
        with self._lock:
            row = self._conn.execute("SELECT query FROM rewrites WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return RoleQuery.model_validate_json(row[0])
        except ValueError:
            return None  # an entry from an older schema: treated as a miss and overwritten

    def put(self, key: str, query: RoleQuery) -> None:
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO rewrites (key, query) VALUES (?, ?)",
                (key, query.model_dump_json()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM rewrites").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
