"""The errors rolecall raises, all in one tree.

Misuse — the call or the configuration must change — is kept apart from failure at run time
(a file, the disk, a model, a server), as pydantic-ai keeps `UserError` apart from a model's
HTTP error.  Every message says what was wrong *and* how to fix it.

```
RolecallError                   .stage: the pipeline stage it came from, when one did
├── UsageError                  misuse: change the call
│   ├── InvalidQueryError       the query or a search argument cannot be used as given
│   │   └── InvalidSettingError a setting's type or range (.setting, .value, .valid)
│   ├── ConfigurationError      rolecall is configured in a way that cannot work (no model…)
│   │   └── EmbedderMismatchError an index searched with another embedding model than built it
│   ├── DuplicateDocumentError  documents whose ids are already indexed (.ids)
│   ├── NothingToTuneError      `tune` mined no training triples (.counts)
│   ├── TuneOutputError         `tune`'s output folder holds something else (.path)
│   └── MissingDependencyError  an optional extra is not installed (.package, .extra)
├── CorpusError                 a corpus file is malformed (.path, .line)
├── KnowledgeGraphError         a knowledge-graph file is malformed (.path, .line)
├── StorageError                where documents live (was IndexError_, still an alias)
│   ├── IndexNotFoundError      no rolecall index at the given path
│   ├── IndexCorruptError       an index file is missing, truncated or unreadable (.path)
│   ├── IndexVersionError       the index was written by an incompatible format version
│   ├── IndexLocationError      the path cannot hold an index (a file; a folder of other things)
│   ├── IndexReadOnlyError      a write to an index that cannot be written (.path)
│   ├── IndexWriteError         a write failed part-way; the previous index is intact
│   └── BackendError            a database backend failed: connection, server, schema or query
├── EmbeddingError              the embedding model failed to load or run (.model)
├── LLMCallError                one LLM request failed after its retries (.model,
│                               .status_code, .transient, .attempts)
└── RewriteError                the query rewriter failed and strict mode was asked for
    └── LLMError                the LLM call failed after retries (only in strict mode)
```

Catch `RolecallError` to handle everything rolecall raises on purpose; catch `UsageError`
to tell a caller's mistake from a failure.  Anything else escaping is a bug.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BackendError",
    "ConfigurationError",
    "CorpusError",
    "DuplicateDocumentError",
    "EmbedderMismatchError",
    "EmbeddingError",
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
    "NothingToTuneError",
    "RewriteError",
    "RolecallError",
    "StorageError",
    "TuneOutputError",
    "UsageError",
]


class RolecallError(Exception):
    """Base class of every error rolecall raises on purpose.

    `stage` names the pipeline stage ("rewrite", "ground", "legs", …) the error passed
    through, set by the pipeline; None when it was raised outside a search."""

    stage: str | None = None


class UsageError(RolecallError):
    """Misuse: the call, its arguments or rolecall's configuration must change."""


class InvalidQueryError(UsageError, ValueError):
    """The query text or a search argument (k, weights, filters) is unusable."""


class ConfigurationError(UsageError, ValueError):
    """rolecall is configured in a way that cannot work: no model named, a runtime that is
    not available on this device, an option that contradicts another."""


class EmbedderMismatchError(ConfigurationError):
    """An index was built with one embedding model and is asked to search with another:
    vectors of two models are not comparable.  `.index_model` and `.embedder_model` name
    them; the message says how to fix it."""

    def __init__(self, index_model: str, embedder_model: str, *, fix: str):
        self.index_model = index_model
        self.embedder_model = embedder_model
        super().__init__(
            f"the index was embedded with {index_model!r} but the embedder is "
            f"{embedder_model!r}: {fix}"
        )


class DuplicateDocumentError(UsageError, ValueError):
    """Documents whose ids are already in the index; `.ids` lists them.  Rebuild the index
    to replace documents: overwriting one silently would change results without a trace."""

    def __init__(self, ids: list[str]):
        self.ids = ids
        super().__init__(
            f"{len(ids)} document id(s) already indexed (e.g. {ids[0]!r}); rebuild the "
            "index to replace documents"
        )


class InvalidSettingError(InvalidQueryError):
    """A search setting has the wrong type or is outside its range.

    `.setting` names it, `.value` is what was given, `.valid` says what is accepted."""

    def __init__(self, setting: str, value: object, valid: str):
        self.setting = setting
        self.value = value
        self.valid = valid
        super().__init__(f"{setting} must be {valid}, got {value!r}")


class NothingToTuneError(UsageError, ValueError):
    """`tune` found no training triples: the index gives no role, aboutness or exclusion
    pairs and no qrels were given.  `.counts` says what each kind gave."""

    def __init__(self, counts: dict[str, int], *, fix: str):
        self.counts = counts
        super().__init__(f"no training triples mined ({counts or 'nothing tried'}): {fix}")


class TuneOutputError(UsageError, ValueError):
    """The output directory of `tune` holds something else, or a run that cannot be
    resumed with these settings; `.path` is the directory."""

    def __init__(self, message: str, *, path: object):
        self.path = path
        super().__init__(f"{path}: {message}")


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


class StorageError(RolecallError):
    """Base class of errors about where documents live: an index folder or a database."""


#: The old name of `StorageError` (a trailing underscore kept it off the builtin).
IndexError_ = StorageError


class IndexNotFoundError(StorageError, FileNotFoundError):
    """There is no rolecall index at the path."""


class IndexCorruptError(StorageError):
    """A file of the index is missing, truncated or unreadable; `.path` names it."""

    def __init__(self, message: str, *, path: str | Path):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class IndexVersionError(StorageError):
    """The index was written with a schema version this rolecall cannot read."""


class IndexLocationError(StorageError):
    """The path cannot hold a rolecall index: it is a file, or a folder that is not empty
    and holds no rolecall index.  rolecall never writes into (or deletes from) such a folder."""

    def __init__(self, message: str, *, path: str | Path):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class IndexReadOnlyError(StorageError, PermissionError):
    """A write (build, add) was asked of an index that cannot be written: a read-only
    filesystem, or files the process may not change.  Searching it works."""

    def __init__(self, message: str, *, path: str | Path):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class IndexWriteError(StorageError, OSError):
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


class BackendError(StorageError):
    """A database backend (PostgreSQL) could not connect, start, or run a statement; the
    message carries the server's reason."""


class MissingDependencyError(UsageError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str):
        self.package = package
        self.extra = extra
        super().__init__(
            f"{package} is not installed; install it with: pip install \"rolecall[{extra}]\""
        )


class RewriteError(RolecallError):
    """Rewriting failed and the caller asked for strict mode (no rule fallback)."""


class EmbeddingError(RolecallError):
    """The embedding model failed to load or to encode; `.model` names it.  A search
    degrades to its other legs on it (and says so); a build cannot go on without it."""

    def __init__(self, message: str, *, model: str):
        self.model = model
        super().__init__(f"embedding model {model!r}: {message}")


class LLMCallError(RolecallError):
    """One `LLMClient` request failed after its retries.

    `.model` is the model string, `.status_code` the provider's HTTP status (None for a
    connection failure or a timeout), `.transient` whether a later retry could succeed
    (timeouts, 429, 5xx), `.attempts` how many requests were sent.  The rewriter and the
    judge turn it into a fallback or a degradation."""

    def __init__(
        self,
        reason: str,
        *,
        model: str = "",
        status_code: int | None = None,
        transient: bool = False,
        attempts: int = 0,
    ):
        self.reason = reason
        self.model = model
        self.status_code = status_code
        self.transient = transient
        self.attempts = attempts
        super().__init__(reason)


class LLMError(RewriteError):
    """The LLM call failed (after retries) or returned nothing usable, in strict mode."""
