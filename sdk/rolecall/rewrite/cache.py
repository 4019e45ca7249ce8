"""A persistent rewrite cache: a hit makes no LLM call.

Keyed on (normalised query, history digest, RoleQuery schema version, model, prompt hash), so
changing the model, the prompt (catalog, examples) or the schema never serves a stale
rewrite.  Stored with `rolecall.llm.kvcache.SqliteCache`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from ..llm.kvcache import SqliteCache, default_cache_dir
from ..query import SCHEMA_VERSION, RoleQuery
from .base import Message

__all__ = ["RewriteCache", "cache_key", "default_cache_path"]


def default_cache_path() -> Path:
    return default_cache_dir() / "rewrites.sqlite"


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def cache_key(text: str, history: Sequence[Message], model: str, prompt_hash: str) -> str:
    digest = hashlib.sha256(
        json.dumps([[m.role, _normalise(m.content)] for m in history]).encode()
    ).hexdigest()
    raw = json.dumps([_normalise(text), digest, SCHEMA_VERSION, model, prompt_hash])
    return hashlib.sha256(raw.encode()).hexdigest()


class RewriteCache(SqliteCache):
    """`get`/`put` RoleQueries by key; `path=":memory:"` for a process-local cache."""

    def __init__(self, path: str | Path | None = None) -> None:
        # "rewrite_cache" (key, value): the v1 table "rewrites" (key, query) is left unread.
        super().__init__(
            path if path is not None else default_cache_path(), table="rewrite_cache"
        )

    def get(self, key: str) -> RoleQuery | None:
        raw = self.get_text(key)
        if raw is None:
            return None
        try:
            return RoleQuery.model_validate_json(raw)
        except ValueError:
            return None  # an entry from an older schema: treated as a miss and overwritten

    def put(self, key: str, query: RoleQuery) -> None:
        self.put_text(key, query.model_dump_json())
