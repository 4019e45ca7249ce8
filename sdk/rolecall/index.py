"""The on-disk index: documents, BM25, embeddings and the linked knowledge graph.

Layout of an index directory::

    ROOT/CURRENT            name of the live generation ("gen-000002"), replaced atomically
    ROOT/gen-000002/        manifest.json, docs.jsonl, offsets.npy, lexical/ (tantivy),
                            embeddings.npy (+ hnsw.bin), kg.json, links.jsonl
    ROOT/.lock              held by the one process writing

A build or an add writes a complete new generation in a temporary folder, renames it into
place and only then switches `CURRENT` (write-temp, fsync, rename).  Readers resolve
`CURRENT` once when they open, so any number of processes read while one writes, a reader
never sees half a generation, and a writer killed at any point leaves the previous
generation live.  The previous generation is kept for readers still holding it.
"""

from __future__ import annotations

import contextlib
import fcntl
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

from .documents import Document, coerce_documents
from .embedding import Embedder, checked_embedder, default_embedder
from .errors import IndexCorruptError, IndexNotFoundError, IndexVersionError, InvalidQueryError
from .filters import matches_all
from .graph import DocLinks, GraphVerdict, KnowledgeGraph, invert_links
from .legs.dense import DEFAULT_ANN_THRESHOLD, DenseIndex
from .legs.lexical import LexicalIndex
from .progress import progress_bar
from .query import AttributeFilter, RelationConstraint

__all__ = ["INDEX_FORMAT_VERSION", "Index", "Manifest"]

INDEX_FORMAT_VERSION = 1
_CURRENT = "CURRENT"
_LOCK = ".lock"
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
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except (KeyError, TypeError) as exc:
            raise IndexCorruptError(f"manifest lacks {exc}; rebuild the index", path=path)

    def write(self, directory: Path) -> None:
        _write_atomic(directory / "manifest.json", json.dumps(self.__dict__, indent=2))


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
    root.mkdir(parents=True, exist_ok=True)
    with (root / _LOCK).open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class Index:
    """A read-only view of one generation of an index directory.

    `Index.build(...)` and `index.add(...)` write new generations; `Index.open(root)` reads the
    live one.  An open Index never changes under its reader; call `refresh()` to move to the
    newest generation.
    """

    def __init__(self, root: Path, directory: Path, embedder: Embedder | None = None) -> None:
        self.root = root
        self.directory = directory
        self.manifest = Manifest.read(directory)
        self._embedder = embedder
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
        self.links = _read_links(directory / "links.jsonl", m.count)
        self.entity_docs = invert_links(self.links)
        self._metadata: list[dict[str, Any]] | None = None
        # Everything a reader needs is read or opened now: a writer may delete this
        # generation once two newer ones exist, and open descriptors and memory maps outlive
        # the unlink (POSIX), so a long-lived reader keeps answering from its generation.
        self._fields: set[str] = set(_read_json(directory / "fields.json"))
        self._verdicts: dict[Any, Any] = {}
        self._passing: dict[tuple[str, ...], frozenset[int]] = {}
        self._docs_path = directory / "docs.jsonl"
        try:
            self._docs_fd = os.open(self._docs_path, os.O_RDONLY)
        except FileNotFoundError:
            raise IndexCorruptError(
                "document store is missing; rebuild the index", path=self._docs_path
            ) from None
        self._docs_size = os.fstat(self._docs_fd).st_size
        if self._docs_size != int(self._offsets[-1]):
            os.close(self._docs_fd)
            raise IndexCorruptError(
                "document store is truncated or was changed; rebuild", path=self._docs_path
            )

    def __del__(self) -> None:
        fd = getattr(self, "_docs_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, root: str | Path, *, embedder: Embedder | None = None) -> Index:
        """Open the live generation of the index at `root` (read-only)."""
        root = Path(root)
        current = root / _CURRENT
        if not current.exists():
            hint = "it is empty" if root.exists() else "it does not exist"
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
        raw = os.pread(self._docs_fd, end - start, start)  # thread-safe: no shared offset
        try:
            return Document.model_validate_json(raw)
        except ValueError as exc:
            raise IndexCorruptError(
                f"document {ordinal} unreadable ({exc}); rebuild", path=self._docs_path
            ) from None

    def metadata(self) -> list[dict[str, Any]]:
        """Every document's metadata, by ordinal (read once, on first use)."""
        if self._metadata is None:
            data = os.pread(self._docs_fd, self._docs_size, 0)
            self._metadata = [json.loads(line).get("metadata", {})
                              for line in data.splitlines() if line.strip()]
        return self._metadata

    def metadata_fields(self) -> set[str]:
        """Metadata keys in use (`entities` excluded: it is the graph's), from fields.json."""
        return self._fields

    def graph_verdict(
        self, target_type: str | None, relations: list[tuple[RelationConstraint, str]]
    ) -> GraphVerdict:
        """The graph's verdict for these constraints, memoised: a generation never changes,
        and chat traffic repeats the same few constraint patterns."""
        key = (target_type, tuple((rc.model_dump_json(), o) for rc, o in relations))
        verdict = self._verdicts.get(key)
        if verdict is None:
            if len(self._verdicts) >= 1024:
                self._verdicts.pop(next(iter(self._verdicts)))
            verdict = self.kg.evaluate(
                self.links, target_type=target_type, relations=relations,
                entity_docs=self.entity_docs,
            )
            self._verdicts[key] = verdict
        return verdict

    def passing(self, filters: Sequence[AttributeFilter]) -> set[int]:
        """Ordinals whose metadata satisfies every filter, memoised per generation."""
        key = tuple(f.model_dump_json() for f in filters)
        hit = self._passing.get(key)
        if hit is None:
            if len(self._passing) >= 256:
                self._passing.pop(next(iter(self._passing)))
            hit = frozenset(i for i, m in enumerate(self.metadata()) if matches_all(m, filters))
            self._passing[key] = hit
        return set(hit)

    # -- writing ---------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        root: str | Path,
        documents: Iterable[Document | dict[str, Any]],
        *,
        kg: KnowledgeGraph | None = None,
        embedder: Embedder | None = None,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        progress: bool = True,
    ) -> Index:
        """Build an index from documents and replace whatever lives at `root`, atomically."""
        root = Path(root)
        docs = coerce_documents(documents)
        embedder = embedder or default_embedder()
        with _writer_lock(root):
            _clean_temporaries(root)
            tmp = root / f".tmp-{uuid.uuid4().hex}"
            tmp.mkdir()
            try:
                _write_generation(
                    tmp,
                    previous=None,
                    new_docs=docs,
                    kg=kg or KnowledgeGraph(),
                    embedder=embedder,
                    ann_threshold=ann_threshold,
                    progress=progress,
                    generation=_next_generation(root),
                )
                _publish(root, tmp)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return cls.open(root, embedder=embedder)

    def add(
        self,
        documents: Iterable[Document | dict[str, Any]],
        *,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        progress: bool = True,
    ) -> Index:
        """Add documents in a new generation; returns the Index opened on it.

        Ids already in the index are rejected (use a rebuild to replace documents): silently
        overwriting one would change results for readers without a trace.
        """
        docs = coerce_documents(documents)
        with _writer_lock(self.root):
            latest = Index.open(self.root, embedder=self._embedder)
            dupes = [d.id for d in docs if latest.ordinal(d.id) is not None]
            if dupes:
                raise InvalidQueryError(
                    f"{len(dupes)} document ids already indexed (e.g. {dupes[0]!r}); "
                    "rebuild the index to replace documents"
                )
            _clean_temporaries(self.root)
            tmp = self.root / f".tmp-{uuid.uuid4().hex}"
            tmp.mkdir()
            try:
                _write_generation(
                    tmp,
                    previous=latest,
                    new_docs=docs,
                    kg=latest.kg,
                    embedder=latest.embedder,
                    ann_threshold=ann_threshold,
                    progress=progress,
                    generation=_next_generation(self.root),
                )
                _publish(self.root, tmp)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return Index.open(self.root, embedder=self._embedder)


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


def _read_links(path: Path, count: int) -> list[DocLinks]:
    links: list[DocLinks] = []
    try:
        with path.open("r", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                try:
                    links.append(DocLinks.from_json(json.loads(line)))
                except (json.JSONDecodeError, AttributeError) as exc:
                    raise IndexCorruptError(f"line {lineno} unreadable ({exc}); rebuild", path=path)
    except FileNotFoundError:
        raise IndexCorruptError("file is missing; rebuild the index", path=path)
    if len(links) != count:
        raise IndexCorruptError(f"{len(links)} lines, expected {count}; rebuild", path=path)
    return links


def _next_generation(root: Path) -> int:
    gens = [int(p.name[4:]) for p in root.glob("gen-*") if p.name[4:].isdigit()]
    return max(gens, default=0) + 1


def _clean_temporaries(root: Path) -> None:
    """Remove what a killed writer left behind (we hold the writer lock)."""
    for p in root.glob(".tmp-*"):
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
    for p in root.glob("gen-*"):
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
) -> None:
    base = len(previous) if previous is not None else 0
    # Documents: copy the previous store (never append to a file an old generation owns).
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

    # Lexical: hard-link the previous segments (tantivy never rewrites a segment file and
    # replaces meta.json by rename), then add the new documents.
    lex_dir = out / "lexical"
    if previous is not None:
        shutil.copytree(previous.directory / "lexical", lex_dir, copy_function=_link_or_copy)
        lexical = LexicalIndex.open(lex_dir)
    else:
        lexical = LexicalIndex.create(lex_dir)
    with progress_bar("indexing text", total=len(new_docs), enabled=progress) as advance:
        def rows() -> Iterator[tuple[int, str, str]]:
            for i, doc in enumerate(new_docs):
                advance(1)
                yield base + i, doc.title, doc.text
        lexical.add(rows())

    # Dense.
    chunks: list[np.ndarray] = []
    if previous is not None:
        chunks.append(np.asarray(previous.dense.vectors))
    with progress_bar("embedding", total=len(new_docs), enabled=progress) as advance:
        for start in range(0, len(new_docs), _EMBED_BATCH):
            batch = new_docs[start : start + _EMBED_BATCH]
            chunks.append(embedder.encode([d.full_text for d in batch], batch_size=64))
            advance(len(batch))
    dim = embedder.dim
    vectors = np.concatenate(chunks) if chunks else np.zeros((0, dim), dtype=np.float32)
    ann = DenseIndex.save(out, vectors, ann_threshold=ann_threshold)

    # Knowledge graph and links.
    (out / "kg.json").write_text(json.dumps(kg.to_json()), "utf-8")
    if previous is not None:
        shutil.copyfile(previous.directory / "links.jsonl", out / "links.jsonl")
    with (out / "links.jsonl").open("a", encoding="utf-8") as links_fh, progress_bar(
        "linking entities", total=len(new_docs), enabled=progress and len(kg) > 0
    ) as advance:
        for doc in new_docs:
            explicit = doc.metadata.get("entities", [])
            if isinstance(explicit, str):
                explicit = [explicit]
            links = kg.link(doc.text, doc.title, explicit) if len(kg) else DocLinks()
            links_fh.write(json.dumps(links.to_json()) + "\n")
            advance(1)

    Manifest(
        format_version=INDEX_FORMAT_VERSION,
        generation=generation,
        count=base + len(new_docs),
        embedding_model=embedder.name,
        dim=dim,
        ann=ann,
        entities=len(kg.entities),
        relations=len(kg.relations),
        created=time.time(),
    ).write(out)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
