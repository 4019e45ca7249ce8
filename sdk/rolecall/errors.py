"""The errors rolecall raises, all in one tree.

```
RolecallError
├── InvalidQueryError           the query or a search argument cannot be used as given
│   └── InvalidSettingError     a search setting is out of its range (names it and the range)
├── CorpusError                 a corpus file is malformed (names the file and the line)
├── KnowledgeGraphError         a knowledge-graph file is malformed (names the file and the line)
├── IndexError_
│   ├── IndexNotFoundError      no rolecall index at the given path
│   ├── IndexCorruptError       an index file is missing, truncated or unreadable (names the file)
│   ├── IndexVersionError       the index was written by an incompatible schema version
│   ├── IndexLocationError      the path cannot hold an index (a file; a folder of other things)
│   ├── IndexReadOnlyError      a write to an index on a read-only filesystem or without access
│   ├── IndexWriteError         a write failed part-way (disk full…); the previous index is intact
│   └── BackendError            a database backend failed: connection, server, schema or query
├── MissingDependencyError      an optional extra is not installed (names the extra)
├── LLMCallError                one LLMClient request failed after its retries (the reason)
└── RewriteError                the query rewriter failed and strict mode was asked for
    └── LLMError                the LLM call failed after retries (only in strict mode)
```

Every message says what was wrong *and* how to fix the call.  Catch `RolecallError` to
handle everything rolecall raises on purpose; anything else escaping is a bug.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BackendError",
    "CorpusError",
    "IndexCorruptError",
    "IndexError_",
    "IndexLocationError",
    "IndexNotFoundError",
    "IndexReadOnlyError",
    "IndexVersionError",
    "IndexWriteError",
    "InvalidQueryError",
    "InvalidSettingError",
    "KnowledgeGraphError",
    "LLMCallError",
    "LLMError",
    "MissingDependencyError",
    "RewriteError",
    "RolecallError",
]


class RolecallError(Exception):
    """Base class of every error rolecall raises on purpose."""


class InvalidQueryError(RolecallError, ValueError):
    """The query text or a search argument (k, weights, filters) is unusable."""


class InvalidSettingError(InvalidQueryError):
    """A search setting has the wrong type or is outside its range.

    `.setting` names it, `.value` is what was given, `.valid` says what is accepted."""

    def __init__(self, setting: str, value: object, valid: str):
        self.setting = setting
        self.value = value
        self.valid = valid
        super().__init__(f"{setting} must be {valid}, got {value!r}")


class _FileLineError(RolecallError):
    """An error located at a line of an input file."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(where + message)


class CorpusError(_FileLineError, ValueError):
    """A corpus record is malformed; `.path` and `.line` locate it."""


class KnowledgeGraphError(_FileLineError, ValueError):
    """A knowledge-graph record is malformed or refers to an unknown entity."""


class IndexError_(RolecallError):  # trailing underscore: do not shadow the builtin IndexError
    """Base class of errors about an on-disk index."""


class IndexNotFoundError(IndexError_, FileNotFoundError):
    """There is no rolecall index at the path."""


class IndexCorruptError(IndexError_):
    """A file of the index is missing, truncated or unreadable; `.path` names it."""

    def __init__(self, message: str, *, path: str | Path):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class IndexVersionError(IndexError_):
    """The index was written with a schema version this rolecall cannot read."""


class IndexLocationError(IndexError_):
    """The path cannot hold a rolecall index: it is a file, or a folder that is not empty
    and holds no rolecall index.  rolecall never writes into (or deletes from) such a folder."""

    def __init__(self, message: str, *, path: str | Path):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class IndexReadOnlyError(IndexError_, PermissionError):
    """A write (build, add) was asked of an index that cannot be written: a read-only
    filesystem, or files the process may not change.  Searching it works."""

    def __init__(self, message: str, *, path: str | Path):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class IndexWriteError(IndexError_, OSError):
    """Writing a new generation failed part-way (disk full, a file-size limit, an I/O
    error).  Nothing was published: `.live_generation` (None when there was no index yet)
    is what readers still see, unchanged.  `.reason` is the operating system's."""

    def __init__(self, *, path: str | Path, reason: str, live_generation: int | None):
        self.path = str(path)
        self.reason = reason
        self.live_generation = live_generation
        kept = (
            f"nothing changed: generation {live_generation} is still the live index"
            if live_generation is not None else "nothing changed: no index was created"
        )
        super().__init__(
            f"{self.path}: writing the new index generation failed ({reason}); {kept}. "
            "Free disk space (or raise the limit) and run the same command again"
        )


class BackendError(IndexError_):
    """A database backend (PostgreSQL) could not connect, start, or run a statement; the
    message carries the server's reason."""


class MissingDependencyError(RolecallError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str):
        self.package = package
        self.extra = extra
        super().__init__(
            f"{package} is not installed; install it with: pip install \"rolecall[{extra}]\""
        )


class RewriteError(RolecallError):
    """Rewriting failed and the caller asked for strict mode (no rule fallback)."""


class LLMCallError(RolecallError):
    """One `LLMClient` request failed after its retries; the message is the last reason.
    The rewriter and the judge turn it into a fallback or a degradation; callers of
    `LLMClient` directly catch it."""


class LLMError(RewriteError):
    """The LLM call failed (after retries) or returned nothing usable, in strict mode."""
