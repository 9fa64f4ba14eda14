"""The index stage: building an index directory from a corpus and reading it back, checking everything.

An index is a directory of three files: ``manifest.json`` (what was built, how, and a sha256 of every
file and document), ``index.faiss`` (one normalised vector per chunk, exact inner-product search) and
``chunks.jsonl`` (line i describes FAISS row i). It is written in a temporary sibling directory and
renamed into place, so a reader never sees half an index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import statistics
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spasmqa._version import __version__
from spasmqa.chunking import Chunk, ChunkSettings, check_provenance, chunk_document
from spasmqa.corpus import Document, bundled_corpus_dir, load_corpus
from spasmqa.embedding import FINGERPRINT_TOLERANCE, Embedder
from spasmqa.errors import ChunkingError, IndexCorruptError, IndexError_, IndexMismatchError, IndexNotFoundError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
FAISS_FILE = "index.faiss"
CHUNKS_FILE = "chunks.jsonl"
FAISS_INDEX_TYPE = "IndexFlatIP"


@dataclass(frozen=True)
class DocumentInfo:
    """What an index remembers of each document it was built from."""

    doc_id: str
    title: str
    source: str
    publisher: str | None
    sha256: str
    text_sha256: str
    chars: int

    @classmethod
    def of(cls, document: Document) -> DocumentInfo:
        return cls(
            doc_id=document.doc_id,
            title=document.title,
            source=document.source,
            publisher=document.publisher,
            sha256=document.sha256,
            text_sha256=sha256_text(document.text),
            chars=len(document.text),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Manifest:
    """The contents of ``manifest.json``."""

    model_id: str
    dimension: int
    max_seq_length: int
    fingerprint: tuple[float, ...]
    chunking: ChunkSettings
    corpus_dir: str
    documents: tuple[DocumentInfo, ...]
    chunk_count: int
    files: dict[str, str]
    built_at: str
    build_seconds: float
    format_version: int = FORMAT_VERSION
    spasmqa_version: str = __version__
    normalized: bool = True
    metric: str = "inner_product"
    faiss_index: str = FAISS_INDEX_TYPE

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["fingerprint"] = list(self.fingerprint)
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Manifest:
        fields = dict(record)
        fields["fingerprint"] = tuple(fields["fingerprint"])
        fields["chunking"] = ChunkSettings(**fields["chunking"])
        fields["documents"] = tuple(DocumentInfo(**doc) for doc in fields["documents"])
        return cls(**fields)

    def document(self, doc_id: str) -> DocumentInfo:
        for info in self.documents:
            if info.doc_id == doc_id:
                return info
        raise KeyError(doc_id)


@dataclass(frozen=True)
class StoredIndex:
    """An index directory read into memory: its manifest, chunk records and FAISS index."""

    path: Path
    manifest: Manifest
    chunks: tuple[Chunk, ...]
    faiss_index: Any = field(repr=False)

    def search(self, query_vectors: NDArray[np.float32], k: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Scores and row numbers of the ``k`` nearest chunks for each query, best first."""
        scores, rows = self.faiss_index.search(query_vectors, min(k, len(self.chunks)))
        return scores, rows


@dataclass(frozen=True)
class BuildSummary:
    """Figures of one build, for the build command's report."""

    path: Path
    model_id: str
    documents: int
    chunks: int
    tokens_min: int
    tokens_median: float
    tokens_max: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["path"] = str(self.path)
        return record


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def chunk_corpus(documents: tuple[Document, ...], settings: ChunkSettings, embedder: Embedder) -> list[Chunk]:
    """Every document's chunks in corpus order, each checked against its document's text."""
    if settings.max_tokens > embedder.max_seq_length:
        raise ChunkingError(
            f"max_tokens={settings.max_tokens} is more than model {embedder.model_id} reads "
            f"({embedder.max_seq_length} tokens); lower max_tokens"
        )
    chunks: list[Chunk] = []
    for document in documents:
        document_chunks = chunk_document(document, settings, embedder.count_tokens, embedder.special_tokens)
        check_provenance(document, document_chunks)
        chunks.extend(document_chunks)
    return chunks


def build_index(
    corpus_dir: str | Path | None,
    index_dir: str | Path,
    *,
    embedder: Embedder,
    settings: ChunkSettings,
    progress: bool = False,
) -> tuple[StoredIndex, BuildSummary]:
    """Chunk, embed and index a corpus folder (``None``: the bundled corpus) into ``index_dir``.

    An existing index there is replaced only once the new one is complete; a directory that is not an
    index is never overwritten.
    """
    import faiss

    started = time.perf_counter()
    target = Path(index_dir).expanduser().resolve()
    _refuse_foreign_directory(target)
    documents = load_corpus(corpus_dir)
    chunks = chunk_corpus(documents, settings, embedder)
    vectors = embedder.encode([chunk.embedding_input for chunk in chunks], progress=progress)
    faiss_index = faiss.IndexFlatIP(vectors.shape[1])
    faiss_index.add(vectors)
    seconds = round(time.perf_counter() - started, 3)
    manifest = Manifest(
        model_id=embedder.model_id,
        dimension=int(vectors.shape[1]),
        max_seq_length=embedder.max_seq_length,
        fingerprint=tuple(embedder.fingerprint()),
        chunking=settings,
        corpus_dir=str(Path(documents_dir(corpus_dir)).resolve()),
        documents=tuple(DocumentInfo.of(doc) for doc in documents),
        chunk_count=len(chunks),
        files={},
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        build_seconds=seconds,
    )
    manifest = _write_atomically(target, manifest, chunks, faiss_index)
    tokens = [chunk.token_count for chunk in chunks]
    summary = BuildSummary(
        target, embedder.model_id, len(documents), len(chunks), min(tokens), statistics.median(tokens), max(tokens), seconds
    )
    return StoredIndex(target, manifest, tuple(chunks), faiss_index), summary


def documents_dir(corpus_dir: str | Path | None) -> Path:
    return Path(corpus_dir) if corpus_dir is not None else bundled_corpus_dir()


def _refuse_foreign_directory(target: Path) -> None:
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / MANIFEST_FILE).exists())):
        raise IndexError_(
            f"{target} exists and is not a spasmqa index; choose another index directory (nothing was written)"
        )


def _write_atomically(target: Path, manifest: Manifest, chunks: list[Chunk], faiss_index: Any) -> Manifest:
    import faiss

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        with (staging / CHUNKS_FILE).open("w", encoding="utf-8") as handle:
            for chunk in chunks:
                handle.write(json.dumps(chunk.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
        faiss.write_index(faiss_index, str(staging / FAISS_FILE))
        files = {name: sha256_file(staging / name) for name in (FAISS_FILE, CHUNKS_FILE)}
        manifest = Manifest(**{**_shallow_fields(manifest), "files": files})
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n")
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _shallow_fields(manifest: Manifest) -> dict[str, Any]:
    return {name: getattr(manifest, name) for name in manifest.__dataclass_fields__}


def _swap_into_place(staging: Path, target: Path) -> None:
    if target.exists():
        retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(target)


def read_index(index_dir: str | Path) -> StoredIndex:
    """Read an index directory, refusing anything missing, damaged or from another format version."""
    import faiss

    path = Path(index_dir).expanduser().resolve()
    manifest = read_manifest(path)
    for name, expected in manifest.files.items():
        file_path = path / name
        if not file_path.is_file():
            raise IndexCorruptError(f"{file_path} is missing; {_rebuild_hint(path)}")
        if sha256_file(file_path) != expected:
            raise IndexCorruptError(f"{file_path} is damaged (its sha256 differs from the manifest); {_rebuild_hint(path)}")
    chunks = _read_chunks(path / CHUNKS_FILE, path)
    faiss_index = faiss.read_index(str(path / FAISS_FILE))
    if not (len(chunks) == manifest.chunk_count == faiss_index.ntotal) or faiss_index.d != manifest.dimension:
        raise IndexCorruptError(
            f"{path} is inconsistent: {len(chunks)} chunk records, {faiss_index.ntotal} vectors of dimension "
            f"{faiss_index.d}, manifest says {manifest.chunk_count} of dimension {manifest.dimension}; "
            f"{_rebuild_hint(path)}"
        )
    return StoredIndex(path, manifest, chunks, faiss_index)


def read_manifest(path: Path) -> Manifest:
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        raise IndexNotFoundError(f"no spasmqa index at {path} (no {MANIFEST_FILE}); {_rebuild_hint(path)}")
    try:
        record = json.loads(manifest_path.read_text(encoding="utf-8"))
        version = record["format_version"]
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexCorruptError(f"{manifest_path} is not a readable manifest ({exc}); {_rebuild_hint(path)}") from exc
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise IndexMismatchError(
            f"{path} has index format {version!r}, newer than this spasmqa ({__version__}) reads "
            f"(format {FORMAT_VERSION}); upgrade spasmqa or {_rebuild_hint(path)}"
        )
    if version < FORMAT_VERSION:
        raise IndexMismatchError(f"{path} has the old index format {version}; {_rebuild_hint(path)}")
    try:
        return Manifest.from_dict(record)
    except (KeyError, TypeError, ValueError, ChunkingError) as exc:
        raise IndexCorruptError(f"{manifest_path} is not a valid manifest ({exc}); {_rebuild_hint(path)}") from exc


def _read_chunks(chunks_path: Path, path: Path) -> tuple[Chunk, ...]:
    try:
        with chunks_path.open(encoding="utf-8") as handle:
            return tuple(Chunk.from_dict(json.loads(line)) for line in handle)
    except (ValueError, TypeError) as exc:
        raise IndexCorruptError(f"{chunks_path} has an unreadable record ({exc}); {_rebuild_hint(path)}") from exc


def _rebuild_hint(path: Path) -> str:
    return f"rebuild it with `spasmqa build --out {path}` (or `python scripts/build_index.py --out {path}`)"


def check_model(manifest: Manifest, embedder: Embedder, path: Path) -> None:
    """Refuse to answer with another model than the index was built with: by name, dimension and vectors."""
    if embedder.model_id != manifest.model_id:
        raise IndexMismatchError(
            f"index at {path} was built with model {manifest.model_id!r}, not {embedder.model_id!r}; load it "
            f"without model= or rebuild with `spasmqa build --out {path} --model {embedder.model_id}`"
        )
    current = embedder.fingerprint()
    if len(current) != len(manifest.fingerprint) or any(
        abs(a - b) > FINGERPRINT_TOLERANCE for a, b in zip(current, manifest.fingerprint)
    ):
        raise IndexMismatchError(
            f"model {embedder.model_id!r} now gives different vectors than when the index at {path} was built "
            f"(the model files changed); {_rebuild_hint(path)}"
        )
