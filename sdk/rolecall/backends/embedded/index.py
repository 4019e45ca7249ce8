"""The on-disk index: documents, BM25, embeddings and the linked knowledge graph.

Layout of an index directory::

    ROOT/CURRENT            name of the live generation ("gen-000002"), replaced atomically
    ROOT/gen-000002/        manifest.json, docs.jsonl, offsets.npy, lexical/ (tantivy),
                            embeddings.npy (+ hnsw.bin), kg.json, links.jsonl
    ROOT/.lock              held by the one process writing
    ROOT/.rolecall-index    the marker that says this folder is a rolecall index

rolecall writes only into a folder it can prove is its own: one that does not exist yet, is
empty, or holds the marker (or, for indexes written before the marker, a `CURRENT` naming a
generation with a valid manifest).  Any other folder is refused before anything is written,
and inside its own folder rolecall deletes only what it wrote: `gen-NNNNNN` generations with
a manifest and `.tmp-<32 hex>` folders of killed writers.

A build or an add writes a complete new generation in a temporary folder, renames it into
place and only then switches `CURRENT` (write-temp, fsync, rename).  Readers resolve
`CURRENT` once when they open, so any number of processes read while one writes, a reader
never sees half a generation, and a writer killed at any point leaves the previous
generation live.  The previous generation is kept for readers still holding it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..._checks import check_integer
from ..._progress import progress_bar
from ...documents import Document, coerce_documents
from ...embedding.names import checked_embedder, resolve_embedder
from ...embedding.sentence import Embedder
from ...errors import (
    CorpusError,
    DuplicateDocumentError,
    IndexCorruptError,
    IndexLocationError,
    IndexNotFoundError,
    IndexReadOnlyError,
    IndexVersionError,
    IndexWriteError,
    UsageError,
)
from ...filters import matches_all
from ...graph import DocLinks, GraphVerdict, KnowledgeGraph, invert_links
from ...linking import FieldLink, LinkReport, checked_link_fields, link_document
from ...query import AttributeFilter, RelationConstraint
from ..memo import BoundedMemo, filters_key, verdict_key
from .dense import DEFAULT_ANN_THRESHOLD, DenseIndex
from .lexical import LexicalIndex
from .sentences import SentenceVectors, write_sentence_vectors

__all__ = ["INDEX_FORMAT_VERSION", "Index", "Manifest", "kg_digest"]

INDEX_FORMAT_VERSION = 1
_CURRENT = "CURRENT"
_LOCK = ".lock"
_MARKER = ".rolecall-index"
_MARKER_TEXT = json.dumps({"format": "rolecall-index", "format_version": INDEX_FORMAT_VERSION})
_TMP_RE = re.compile(r"^\.tmp-[0-9a-f]{32}$")
_EMBED_BATCH = 256


@dataclass(frozen=True)
class Manifest:
    """What an index generation holds; written last, read first."""

    format_version: int
    generation: int
    count: int
    embedding_model: str
    dim: int
    ann: bool
    entities: int
    relations: int
    created: float
    # Optional, so that manifests written before they existed still open (as the defaults).
    #: metadata fields whose values link documents to entities (`Index.build(link_fields=)`)
    link_fields: tuple[str, ...] = ()
    #: sha256 of the graph the index was built with (`kg_digest`); "" before it was recorded
    kg_digest: str = ""
    #: how the documents were linked (`LinkReport.to_json`); None before reports existed
    link_report: dict[str, Any] | None = None
    #: whether the generation stores its documents' passage vectors (`sentences.py`)
    sentence_vectors: bool = False

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / "manifest.json"
        try:
            data = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise IndexCorruptError("manifest is missing; rebuild the index", path=path)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IndexCorruptError(f"manifest is not valid JSON ({exc}); rebuild", path=path)
        version = data.get("format_version") if isinstance(data, dict) else None
        if version != INDEX_FORMAT_VERSION:
            raise IndexVersionError(
                f"{path}: index format {version!r}, this rolecall reads "
                f"{INDEX_FORMAT_VERSION}; rebuild it with `rolecall index`"
            )
        try:
            values = {f.name: data[f.name] if f.default is dataclasses.MISSING
                      else data.get(f.name, f.default) for f in dataclasses.fields(cls)}
            values["link_fields"] = tuple(values["link_fields"])
            return cls(**values)
        except (KeyError, TypeError) as exc:
            raise IndexCorruptError(f"manifest lacks {exc}; rebuild the index", path=path)

    def write(self, directory: Path) -> None:
        _write_atomic(directory / "manifest.json", json.dumps(self.__dict__, indent=2))


def kg_digest(kg: KnowledgeGraph) -> str:
    """A fingerprint of a graph (entities, relations, schema), to tell whether an index was
    built with the graph at hand (`Index.built_with`)."""
    text = json.dumps(kg.to_json(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _writer_lock(root: Path) -> Iterator[None]:
    """Hold the one-writer lock of an index folder that is (now provably) rolecall's."""
    _claim(root)
    try:
        fh = (root / _LOCK).open("a")
    except OSError as exc:
        raise _unwritable(root, exc) from None
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _claim(root: Path) -> None:
    """Make sure `root` is a folder rolecall may write into, and mark it as an index.

    Refused, before anything is written: a file; a folder that is not empty and is not a
    rolecall index.  A user's folder given as `--out` by mistake keeps every file."""
    if root.is_file() or (root.exists() and not root.is_dir()):
        raise IndexLocationError(
            "is a file, not an index folder; give --out (Index.build's root) a folder that "
            "does not exist yet, or an existing rolecall index", path=root,
        )
    if root.is_dir() and not _is_ours(root):
        names = sorted(p.name for p in root.iterdir())
        if names:
            shown = ", ".join(repr(n) for n in names[:3]) + (" …" if len(names) > 3 else "")
            raise IndexLocationError(
                f"is not empty and is not a rolecall index (it holds {shown}); rolecall "
                "writes only into a new or empty folder or an index it built. Choose another "
                "folder for the index", path=root,
            )
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not (root / _MARKER).is_file():
            _write_atomic(root / _MARKER, _MARKER_TEXT + "\n")
    except OSError as exc:
        raise _unwritable(root, exc) from None


def _is_ours(root: Path) -> bool:
    """Whether `root` provably holds a rolecall index (the marker, or a legacy index)."""
    try:
        marker = json.loads((root / _MARKER).read_text("utf-8"))
        if isinstance(marker, dict) and marker.get("format") == "rolecall-index":
            return True
    except (OSError, ValueError):
        pass
    try:
        name = (root / _CURRENT).read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return False
    if not _GEN_RE.match(name):
        return False
    try:
        Manifest.read(root / name)
    except (IndexCorruptError, IndexVersionError):
        return False
    return True


def _unwritable(root: Path, exc: OSError) -> IndexReadOnlyError | IndexWriteError:
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return IndexReadOnlyError(
            f"cannot be written ({exc.strerror}): searching it works, but a build or an add "
            "needs a writable folder; copy the index somewhere writable, or build to another "
            "--out", path=root,
        )
    return IndexWriteError(path=root, reason=_reason(exc), live_generation=_live(root))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return f"{type(exc).__name__}: {exc}"


def _live(root: Path) -> int | None:
    try:
        name = (root / _CURRENT).read_text("utf-8").strip()
    except OSError:
        return None
    return int(name[4:]) if _GEN_RE.match(name) else None


class Index:
    """A read-only view of one generation of an index directory.

    `Index.build(...)` and `index.add(...)` write new generations; `Index.open(root)` reads the
    live one.  An open Index never changes under its reader; call `refresh()` to move to the
    newest generation.
    """

    def __init__(
        self, root: Path, directory: Path, embedder: Embedder | str | None = None
    ) -> None:
        self.root = root
        self.directory = directory
        self.manifest = Manifest.read(directory)
        # An embedder given is checked now, so that a wrong one fails at open and not at the
        # first search; without one, the index's own is chosen on first use.
        built_with = self.manifest.embedding_model
        self._embedder: Embedder | None = (
            None if embedder is None else checked_embedder(embedder, built_with))
        m = self.manifest
        self.lexical = LexicalIndex.open(directory / "lexical")
        if self.lexical.num_docs != m.count:
            raise IndexCorruptError(
                f"tantivy holds {self.lexical.num_docs} documents, manifest says {m.count}; "
                "rebuild the index",
                path=directory / "lexical",
            )
        self.dense = DenseIndex.open(directory, expected_rows=m.count, dim=m.dim)
        self.ids: list[str] = _read_json(directory / "ids.json")
        self._offsets = _load_npy(directory / "offsets.npy", expected=m.count + 1)
        if len(self.ids) != m.count:
            raise IndexCorruptError(
                f"{len(self.ids)} ids, manifest says {m.count}; rebuild",
                path=directory / "ids.json",
            )
        self._ord = {doc_id: i for i, doc_id in enumerate(self.ids)}
        self.kg = KnowledgeGraph.from_json(_read_json(directory / "kg.json"))
        self.links, self._field_links = _read_links(directory / "links.jsonl", m.count)
        self.entity_docs = invert_links(self.links)
        self.sentences: SentenceVectors | None = (
            SentenceVectors.open(directory, m.count) if m.sentence_vectors else None)
        self._link_report: LinkReport | None = None
        self._unlinked: frozenset[int] | None = None
        self._metadata: list[dict[str, Any]] | None = None
        # Everything a reader needs is read or opened now: a writer may delete this
        # generation once two newer ones exist, and open descriptors and memory maps outlive
        # the unlink (POSIX), so a long-lived reader keeps answering from its generation.
        self._fields: set[str] = set(_read_json(directory / "fields.json"))
        self._verdicts: BoundedMemo[GraphVerdict] = BoundedMemo(1024)
        self._passing: BoundedMemo[frozenset[int]] = BoundedMemo(256)
        self._docs_path = directory / "docs.jsonl"
        try:
            self._docs_fd: int | None = os.open(self._docs_path, os.O_RDONLY)
        except FileNotFoundError:
            raise IndexCorruptError(
                "document store is missing; rebuild the index", path=self._docs_path
            ) from None
        self._docs_size = os.fstat(self._fd()).st_size
        if self._docs_size != int(self._offsets[-1]):
            self.close()
            raise IndexCorruptError(
                "document store is truncated or was changed; rebuild", path=self._docs_path
            )

    def close(self) -> None:
        """Release the document store's descriptor and the lexical read view.  Idempotent;
        an Index is also a context manager."""
        fd, self._docs_fd = getattr(self, "_docs_fd", None), None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        lexical = getattr(self, "lexical", None)
        if lexical is not None:
            lexical.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, root: str | Path, *, embedder: Embedder | str | None = None) -> Index:
        """Open the live generation of the index at `root` (read-only).  `embedder` (an
        Embedder or a name from `rolecall.embedding.names.EMBEDDERS`) must be the model the
        index was built with (`EmbedderMismatchError`); None uses that model."""
        root = Path(root)
        current = root / _CURRENT
        if root.exists() and not root.is_dir():
            raise IndexNotFoundError(
                f"{root} is a file, not a rolecall index folder; pass the folder that "
                f"`rolecall index CORPUS --out FOLDER` built"
            )
        if not current.exists():
            if not root.exists():
                hint = "it does not exist"
            elif any(root.iterdir()):
                hint = "the folder holds other files, not an index"
            else:
                hint = "it is an empty folder"
            raise IndexNotFoundError(
                f"no rolecall index at {root} ({hint}); build one with "
                f"`rolecall index CORPUS.jsonl --out {root}` or Index.build()"
            )
        return cls(root, _generation_dir(root), embedder)

    def refresh(self) -> Index:
        """The newest generation of the same root (self if nothing changed)."""
        directory = _generation_dir(self.root)
        if directory == self.directory:
            return self
        return Index.open(self.root, embedder=self._embedder)

    @property
    def embedder(self) -> Embedder:
        self._embedder = checked_embedder(self._embedder, self.manifest.embedding_model)
        return self._embedder

    # -- reading documents -----------------------------------------------------------------------

    def __len__(self) -> int:
        return self.manifest.count

    def ordinal(self, doc_id: str) -> int | None:
        return self._ord.get(doc_id)

    def document(self, ordinal: int) -> Document:
        start, end = int(self._offsets[ordinal]), int(self._offsets[ordinal + 1])
        raw = os.pread(self._fd(), end - start, start)  # thread-safe: no shared offset
        try:
            return Document.model_validate_json(raw)
        except ValueError as exc:
            raise IndexCorruptError(
                f"document {ordinal} unreadable ({exc}); rebuild", path=self._docs_path
            ) from None

    def _fd(self) -> int:
        fd = self._docs_fd
        if fd is None:
            raise UsageError(f"the index at {self.root} was closed; open it again")
        return fd

    def metadata(self) -> list[dict[str, Any]]:
        """Every document's metadata, by ordinal (read once, on first use)."""
        if self._metadata is None:
            data = os.pread(self._fd(), self._docs_size, 0)
            self._metadata = [json.loads(line).get("metadata", {})
                              for line in data.splitlines() if line.strip()]
        return self._metadata

    def metadata_fields(self) -> set[str]:
        """Metadata keys in use (`entities` excluded: it is the graph's), from fields.json."""
        return self._fields

    # -- linking -------------------------------------------------------------------------------

    @property
    def link_fields(self) -> tuple[str, ...]:
        """The metadata fields that link documents to entities (`add` links by them too)."""
        return self.manifest.link_fields

    def passage_vectors(self, ordinal: int, count: int) -> np.ndarray | None:
        """The stored vectors of document `ordinal`'s `count` passages
        (`rolecall.passages`), or None when this generation stores none, or not these."""
        return None if self.sentences is None else self.sentences.of(ordinal, count)

    def field_links(self, ordinal: int) -> list[FieldLink]:
        """How a document's link-field values were linked (or why not): field, value,
        entity, method (exact / alias / fuzzy, or the reason it was refused), confidence."""
        return list(self._field_links.get(ordinal, ()))

    @property
    def link_report(self) -> LinkReport:
        """How the documents were linked: by field, by explicit ids, by text, unlinked, and
        each link field's values not linked (with examples).  An index written before
        reports existed gets one derived from its links and metadata."""
        if self._link_report is None:
            data = self.manifest.link_report
            self._link_report = (LinkReport.from_json(data) if data is not None else
                                 LinkReport.of_links(self.kg, self.links, self.metadata()))
        return self._link_report

    def built_with(
        self, kg: KnowledgeGraph | None, link_fields: Sequence[str] = (),
        embedding_model: str | None = None,
    ) -> bool:
        """Whether this index was built with this graph and these link fields, and with the
        embedding model named, when one is (a cache of an index, as `rolecall eval` keeps,
        is stale otherwise)."""
        digest = self.manifest.kg_digest or kg_digest(self.kg)
        fields = (link_fields,) if isinstance(link_fields, str) else tuple(link_fields)
        return (tuple(dict.fromkeys(fields)) == self.manifest.link_fields
                and digest == kg_digest(kg or KnowledgeGraph())
                and embedding_model in (None, self.manifest.embedding_model))

    def unlinked(self) -> frozenset[int]:
        """Ordinals of the documents about no entity (computed once per generation)."""
        if self._unlinked is None:
            self._unlinked = frozenset(i for i, dl in enumerate(self.links) if not dl.about)
        return self._unlinked

    def graph_verdict(
        self, target_type: str | None, relations: list[tuple[RelationConstraint, str]]
    ) -> GraphVerdict:
        """The graph's verdict for these constraints, memoised: a generation never changes,
        and chat traffic repeats the same few constraint patterns."""
        return self._verdicts.get(
            verdict_key(target_type, relations),
            lambda: self.kg.evaluate(
                self.links, target_type=target_type, relations=relations,
                entity_docs=self.entity_docs,
            ),
        )

    def passing(self, filters: Sequence[AttributeFilter]) -> frozenset[int]:
        """Ordinals whose metadata satisfies every filter, memoised per generation."""
        return self._passing.get(filters_key(filters), lambda: frozenset(
            i for i, m in enumerate(self.metadata()) if matches_all(m, filters)
        ))

    # -- writing ---------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        root: str | Path,
        documents: Iterable[Document | dict[str, Any]],
        *,
        kg: KnowledgeGraph | None = None,
        embedder: Embedder | str | None = None,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        progress: bool = True,
        link_fields: str | Sequence[str] = (),
        sentence_vectors: bool = False,
    ) -> Index:
        """Build an index from documents and replace whatever lives at `root`, atomically.

        `link_fields` names metadata fields whose values say what a document is about
        (`drug: "Sertraline"`): each value is looked up in `kg` and, when it matches one
        entity (exact, alias, or fuzzy at `rolecall.linking.FUZZY_THRESHOLD`), links the
        document to it like an id in `metadata["entities"]`.  `link_report` counts what
        linked and what did not; `add` links new documents by the same fields.

        `embedder` is an Embedder or a name (`"minilm"`, the default, or `"bge-small"`:
        `rolecall.embedding.names.EMBEDDERS`); the manifest records its model, which
        `open` and `add` then use.

        `sentence_vectors` also stores every document's passage vectors, which the agent's
        verification then reads instead of embedding a window of sentences per search
        (`passage_vectors`); it costs about as much embedding again, and `add` keeps it."""
        root = Path(root)
        check_integer("ann_threshold", ann_threshold, 1, 10**12)
        kg = kg or KnowledgeGraph()
        fields = checked_link_fields(link_fields, kg)
        docs = coerce_documents(documents)
        if not docs:
            raise CorpusError(
                "there are no documents to index (the corpus is empty); an index needs at "
                "least one", path="<documents>",
            )
        embedder = resolve_embedder(embedder)
        with _writer_lock(root):
            _write_and_publish(
                root, previous=None, docs=docs, kg=kg, embedder=embedder,
                ann_threshold=ann_threshold, progress=progress, link_fields=fields,
                sentence_vectors=bool(sentence_vectors),
            )
        return cls.open(root, embedder=embedder)

    def add(
        self,
        documents: Iterable[Document | dict[str, Any]],
        *,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        progress: bool = True,
    ) -> Index:
        """Add documents in a new generation; returns the Index opened on it (self when
        there is nothing to add: no generation is written for nothing).

        Ids already in the index are rejected (use a rebuild to replace documents): silently
        overwriting one would change results for readers without a trace.  New documents
        are linked by the link fields the index was built with.
        """
        check_integer("ann_threshold", ann_threshold, 1, 10**12)
        docs = coerce_documents(documents)
        if not docs:
            return self
        with _writer_lock(self.root):
            latest = Index.open(self.root, embedder=self._embedder)
            dupes = [d.id for d in docs if latest.ordinal(d.id) is not None]
            if dupes:
                raise DuplicateDocumentError(dupes)
            _write_and_publish(
                self.root, previous=latest, docs=docs, kg=latest.kg,
                embedder=latest.embedder, ann_threshold=ann_threshold, progress=progress,
                link_fields=latest.link_fields,
                sentence_vectors=latest.manifest.sentence_vectors,
            )
        return Index.open(self.root, embedder=self._embedder)


def _write_and_publish(
    root: Path,
    *,
    previous: Index | None,
    docs: Sequence[Document],
    kg: KnowledgeGraph,
    embedder: Embedder,
    ann_threshold: int,
    progress: bool,
    link_fields: tuple[str, ...],
    sentence_vectors: bool = False,
) -> None:
    """Write a complete generation in a temporary folder, then publish it (we hold the
    writer lock).  A failure part-way (disk full, a file-size limit) removes the temporary
    folder and says that nothing changed; the live generation was never touched."""
    _clean_temporaries(root)
    tmp = root / f".tmp-{uuid.uuid4().hex}"
    try:
        tmp.mkdir()
        _write_generation(
            tmp, previous=previous, new_docs=docs, kg=kg, embedder=embedder,
            ann_threshold=ann_threshold, progress=progress, generation=_next_generation(root),
            link_fields=link_fields, sentence_vectors=sentence_vectors,
        )
        _publish(root, tmp)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, (IndexReadOnlyError, IndexWriteError)):
            raise
        raise _unwritable(root, exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError("file is missing; rebuild the index", path=path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"not valid JSON ({exc}); rebuild the index", path=path)


def _load_npy(path: Path, *, expected: int) -> np.ndarray:
    try:
        arr: np.ndarray = np.load(path)
    except FileNotFoundError:
        raise IndexCorruptError("file is missing; rebuild the index", path=path)
    except ValueError as exc:
        raise IndexCorruptError(f"unreadable ({exc}); rebuild the index", path=path)
    if arr.shape != (expected,):
        raise IndexCorruptError(f"has {arr.shape} entries, expected {expected}", path=path)
    return arr


_GEN_RE = re.compile(r"^gen-\d{6}$")


def _generation_dir(root: Path) -> Path:
    """The folder CURRENT names — only ever a `gen-NNNNNN` child of root: a CURRENT file
    edited to point elsewhere ("gen-1/../../etc") is refused, never followed."""
    current = root / _CURRENT
    name = current.read_text("utf-8").strip()
    directory = root / name
    if not _GEN_RE.match(name) or not directory.is_dir():
        raise IndexCorruptError(
            f"CURRENT names {name!r}, which is not a generation folder of this index; "
            "rebuild the index", path=current,
        )
    return directory


def _read_links(path: Path, count: int) -> tuple[list[DocLinks], dict[int, list[FieldLink]]]:
    """Each document's links, and the field links of those that have some (a line's
    optional `fields`: absent from indexes built without link fields)."""
    links: list[DocLinks] = []
    by_field: dict[int, list[FieldLink]] = {}
    try:
        with path.open("r", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                try:
                    data = json.loads(line)
                    links.append(DocLinks.from_json(data))
                    if data.get("fields"):
                        by_field[lineno - 1] = [FieldLink.from_json(f) for f in data["fields"]]
                except (json.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
                    raise IndexCorruptError(f"line {lineno} unreadable ({exc}); rebuild", path=path)
    except FileNotFoundError:
        raise IndexCorruptError("file is missing; rebuild the index", path=path)
    if len(links) != count:
        raise IndexCorruptError(f"{len(links)} lines, expected {count}; rebuild", path=path)
    return links, by_field


def _generations(root: Path) -> list[Path]:
    """The generation folders rolecall wrote: `gen-NNNNNN` holding a manifest (a user's
    `gen-photos/`, or a `gen-000001` folder without one, is not rolecall's)."""
    return [p for p in root.glob("gen-*")
            if _GEN_RE.match(p.name) and p.is_dir() and (p / "manifest.json").is_file()]


def _next_generation(root: Path) -> int:
    names = [p.name for p in root.glob("gen-*") if _GEN_RE.match(p.name)]
    return max((int(n[4:]) for n in names), default=0) + 1


def _clean_temporaries(root: Path) -> None:
    """Remove what a killed writer left behind (we hold the writer lock): only folders
    named exactly as rolecall names its temporaries."""
    for p in root.glob(".tmp-*"):
        if _TMP_RE.match(p.name) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)


def _publish(root: Path, tmp: Path) -> None:
    manifest = Manifest.read(tmp)
    final = root / f"gen-{manifest.generation:06d}"
    os.rename(tmp, final)
    _fsync_dir(root)
    previous = (root / _CURRENT).read_text("utf-8").strip() if (root / _CURRENT).exists() else None
    _write_atomic(root / _CURRENT, final.name + "\n")
    _fsync_dir(root)
    # Keep the previous generation for readers that opened it; older ones can go.
    for p in _generations(root):
        if p.name not in (final.name, previous):
            shutil.rmtree(p, ignore_errors=True)


def _write_generation(
    out: Path,
    *,
    previous: Index | None,
    new_docs: Sequence[Document],
    kg: KnowledgeGraph,
    embedder: Embedder,
    ann_threshold: int,
    progress: bool,
    generation: int,
    link_fields: tuple[str, ...],
    sentence_vectors: bool = False,
) -> None:
    """Write one complete generation into `out` (a private temporary folder): documents,
    lexical, dense, graph and links (and the passage vectors when asked), then the
    manifest that makes it an index."""
    _write_documents(out, previous, new_docs)
    _write_lexical(out, previous, new_docs, progress)
    vectors = _embed_all(previous, new_docs, embedder, progress)
    ann = DenseIndex.save(out, vectors, ann_threshold=ann_threshold)
    report = _write_links(out, previous, new_docs, kg, link_fields, progress)
    if sentence_vectors:
        write_sentence_vectors(out, previous.sentences if previous is not None else None,
                               new_docs, embedder, progress)
    if previous is not None:
        report = previous.link_report.merged(report)
    Manifest(
        format_version=INDEX_FORMAT_VERSION,
        generation=generation,
        count=(len(previous) if previous is not None else 0) + len(new_docs),
        embedding_model=embedder.name,
        dim=embedder.dim,
        ann=ann,
        entities=len(kg.entities),
        relations=len(kg.relations),
        created=time.time(),
        link_fields=link_fields,
        kg_digest=kg_digest(kg),
        link_report=report.to_json(),
        sentence_vectors=sentence_vectors,
    ).write(out)


def _write_documents(out: Path, previous: Index | None, new_docs: Sequence[Document]) -> None:
    """The document store, its offsets, the ids and the metadata fields.  The previous
    store is copied, never appended to: an old generation's files stay as readers saw them."""
    offsets: list[int] = [0]
    ids: list[str] = []
    if previous is not None:
        shutil.copyfile(previous.directory / "docs.jsonl", out / "docs.jsonl")
        offsets = [int(x) for x in previous._offsets]
        ids = list(previous.ids)
    with (out / "docs.jsonl").open("ab") as fh:
        for doc in new_docs:
            line = doc.model_dump_json().encode("utf-8") + b"\n"
            fh.write(line)
            offsets.append(offsets[-1] + len(line))
            ids.append(doc.id)
        fh.flush()
        os.fsync(fh.fileno())
    np.save(out / "offsets.npy", np.asarray(offsets, dtype=np.int64))
    (out / "ids.json").write_text(json.dumps(ids), "utf-8")
    fields = set(previous.metadata_fields()) if previous is not None else set()
    fields |= {k for d in new_docs for k in d.metadata} - {"entities"}
    (out / "fields.json").write_text(json.dumps(sorted(fields)), "utf-8")


def _write_lexical(
    out: Path, previous: Index | None, new_docs: Sequence[Document], progress: bool
) -> None:
    """Hard-link the previous segments (tantivy never rewrites a segment file and replaces
    meta.json by rename), then add the new documents."""
    base = len(previous) if previous is not None else 0
    lex_dir = out / "lexical"
    if previous is not None:
        shutil.copytree(previous.directory / "lexical", lex_dir, copy_function=_link_or_copy,
                        ignore=shutil.ignore_patterns(".tantivy-*"))
        lexical = LexicalIndex.open(lex_dir, writable=True)
    else:
        lexical = LexicalIndex.create(lex_dir)
    with progress_bar("indexing text", total=len(new_docs), enabled=progress) as advance:
        def rows() -> Iterator[tuple[int, str, str]]:
            for i, doc in enumerate(new_docs):
                advance(1)
                yield base + i, doc.title, doc.text
        lexical.add(rows())


def _embed_all(
    previous: Index | None, new_docs: Sequence[Document], embedder: Embedder, progress: bool
) -> np.ndarray:
    """The previous generation's vectors followed by the new documents'."""
    chunks: list[np.ndarray] = []
    if previous is not None:
        chunks.append(np.asarray(previous.dense.vectors))
    with progress_bar("embedding", total=len(new_docs), enabled=progress) as advance:
        for start in range(0, len(new_docs), _EMBED_BATCH):
            batch = new_docs[start : start + _EMBED_BATCH]
            chunks.append(embedder.encode([d.full_text for d in batch], batch_size=64))
            advance(len(batch))
    return np.concatenate(chunks) if chunks else np.zeros((0, embedder.dim), dtype=np.float32)


def _write_links(
    out: Path, previous: Index | None, new_docs: Sequence[Document], kg: KnowledgeGraph,
    link_fields: tuple[str, ...], progress: bool,
) -> LinkReport:
    """The graph, and each new document's entity links (its explicit `entities` metadata,
    the values of the link fields, else the names the graph finds in its text), counted."""
    (out / "kg.json").write_text(json.dumps(kg.to_json()), "utf-8")
    if previous is not None:
        shutil.copyfile(previous.directory / "links.jsonl", out / "links.jsonl")
    report = LinkReport(fields=list(link_fields))
    memo: dict[tuple[str, str], FieldLink] = {}
    with (out / "links.jsonl").open("a", encoding="utf-8") as links_fh, progress_bar(
        "linking entities", total=len(new_docs), enabled=progress and len(kg) > 0
    ) as advance:
        for doc in new_docs:
            links, field_links = link_document(doc, kg, link_fields, memo=memo)
            report.record(doc.metadata, kg, links, field_links)
            line = links.to_json()
            if field_links:  # only with link fields: other indexes' lines stay as they were
                line["fields"] = [fl.to_json() for fl in field_links]
            links_fh.write(json.dumps(line) + "\n")
            advance(1)
    return report


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
