"""The index stage: building an index directory from a corpus and reading it back, checking everything.

An index is a directory: ``manifest.json`` (what was built, how, and a sha256 of every file and
document), ``index.faiss`` (one normalised vector per chunk, exact inner-product search),
``chunks.jsonl`` (line i describes FAISS row i) and ``sentences.faiss`` (one vector per sentence of
every chunk, in chunk order, for highlighting the sentence that answers). It is written in a temporary sibling directory and
renamed into place, so a reader never sees half an index.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spasmqa._ranges import concatenated_ranges
from spasmqa._version import __version__
from spasmqa.abstention import AnswerabilityModel, calibrated_models
from spasmqa.chunking import Chunk, ChunkSettings, check_provenance, chunk_document
from spasmqa.corpus import Document, bundled_corpus_dir, load_corpus
from spasmqa.embedding import FINGERPRINT_TOLERANCE, Embedder
from spasmqa.errors import (
    ChecksumError,
    ChunkingError,
    IndexFormatError,
    IndexNotFoundError,
    IndexWriteError,
    ManifestError,
    MisalignedIndexError,
    MissingIndexFileError,
    ModelMismatchError,
    StaleIndexError,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

logger = logging.getLogger(__name__)

FORMAT_VERSION = 4  # 4: answerability models (Answer.confidence) instead of one answer-score threshold
MANIFEST_FILE = "manifest.json"
FAISS_FILE = "index.faiss"
SENTENCES_FILE = "sentences.faiss"
CHUNKS_FILE = "chunks.jsonl"
# Above this many chunks exact search costs more than ~2 ms a query on 2 cores, and an IVF index with
# nlist = 4·sqrt(n) and nprobe = 16 kept recall@10 >= 0.99 at 10^5 and 10^6 vectors (scripts/bench_scale.py).
EXACT_SEARCH_LIMIT = 30_000
IVF_NPROBE = 16


@dataclass(frozen=True)
class SearchIndexSpec:
    """Which FAISS index holds the chunk vectors, and its search parameters (saved in the manifest)."""

    kind: str = "IndexFlatIP"
    nlist: int | None = None
    nprobe: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_vector_index(vectors: NDArray[np.float32], exact_search_limit: int = EXACT_SEARCH_LIMIT) -> tuple[Any, SearchIndexSpec]:
    """Exact inner-product search up to ``exact_search_limit`` vectors, an inverted-file index above it."""
    import faiss

    count, dimension = vectors.shape
    if count <= exact_search_limit:
        exact = faiss.IndexFlatIP(dimension)
        exact.add(vectors)
        return exact, SearchIndexSpec()
    nlist = 4 * math.isqrt(count)
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors[:: max(1, count // (256 * nlist))])
    ivf.add(vectors)
    spec = SearchIndexSpec("IndexIVFFlat", nlist, min(IVF_NPROBE, nlist))
    prepare_for_search(ivf, spec)
    return ivf, spec


def prepare_for_search(faiss_index: Any, spec: SearchIndexSpec) -> None:
    """Set search-time parameters; an IVF index also needs its id map to give vectors back."""
    if spec.kind == "IndexIVFFlat":
        faiss_index.nprobe = spec.nprobe
        faiss_index.make_direct_map()


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
    sentence_count: int
    answerability: tuple[AnswerabilityModel, ...]
    files: dict[str, str]
    built_at: str
    build_seconds: float
    format_version: int = FORMAT_VERSION
    spasmqa_version: str = __version__
    normalized: bool = True
    metric: str = "inner_product"
    search_index: SearchIndexSpec = SearchIndexSpec()

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["fingerprint"] = list(self.fingerprint)
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Manifest:
        """The manifest of a parsed ``manifest.json``; raises ``KeyError``/``TypeError`` on a malformed one."""
        fields = dict(record)
        fields["fingerprint"] = tuple(fields["fingerprint"])
        fields["chunking"] = ChunkSettings(**fields["chunking"])
        fields["documents"] = tuple(DocumentInfo(**doc) for doc in fields["documents"])
        fields["search_index"] = SearchIndexSpec(**fields["search_index"])
        fields["answerability"] = tuple(AnswerabilityModel.from_dict(entry) for entry in fields["answerability"])
        return cls(**fields)

    def document(self, doc_id: str) -> DocumentInfo:
        return self._documents_by_id[doc_id]

    @cached_property
    def _documents_by_id(self) -> dict[str, DocumentInfo]:
        return {info.doc_id: info for info in self.documents}


@dataclass(frozen=True)
class StoredIndex:
    """An index directory read into memory: its manifest, chunk records and FAISS index."""

    path: Path
    manifest: Manifest
    chunks: tuple[Chunk, ...]
    faiss_index: Any = field(repr=False)
    sentence_index: Any = field(repr=False)

    def search(self, query_vectors: NDArray[np.float32], k: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Scores and row numbers of the ``k`` nearest chunks for each query, best first."""
        scores, rows = self.faiss_index.search(query_vectors, min(k, len(self.chunks)))
        return scores, rows

    def chunk_vectors(self, rows: list[int]) -> NDArray[np.float32]:
        import numpy as np

        return np.vstack([self.faiss_index.reconstruct(row) for row in rows]) if rows else np.zeros((0, self.faiss_index.d), np.float32)

    def sentence_vectors(self, row: int) -> NDArray[np.float32]:
        """The vectors of chunk ``row``'s sentences, in the order of ``chunks[row].sentences``."""
        first, end = self._sentence_offsets[row : row + 2]
        return self._sentence_matrix[first:end]

    def best_sentence_score(self, query_vector: NDArray[np.float32], rows: Sequence[int]) -> float | None:
        """The highest inner product of the query with any sentence of the chunks ``rows`` (None: no sentences)."""
        import numpy as np

        chunk_rows = np.asarray(rows, dtype=np.int64)
        starts = self._sentence_offsets[chunk_rows]
        sentence_rows = concatenated_ranges(starts, self._sentence_offsets[chunk_rows + 1] - starts)
        if not len(sentence_rows):
            return None
        matrix = self._sentence_matrix
        if 2 * len(sentence_rows) >= len(matrix):
            # most sentences are wanted: one pass over the whole matrix reads less memory than gathering rows
            return float((matrix @ query_vector)[sentence_rows].max())
        return float((matrix[sentence_rows] @ query_vector).max())

    @cached_property
    def _sentence_matrix(self) -> NDArray[np.float32]:
        """Every sentence vector: a view of the flat FAISS index's own storage, so no second copy in memory."""
        import faiss

        index = self.sentence_index
        matrix: NDArray[np.float32] = faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d)
        return matrix.reshape(index.ntotal, index.d)

    @cached_property
    def _sentence_offsets(self) -> NDArray[np.int64]:
        """Row i's sentences are sentence rows ``offsets[i]`` to ``offsets[i + 1]``."""
        import numpy as np

        return np.cumsum([0] + [len(chunk.sentences) for chunk in self.chunks], dtype=np.int64)


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
    chunks_per_second: float
    search_index: str

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
    exact_search_limit: int = EXACT_SEARCH_LIMIT,
) -> tuple[StoredIndex, BuildSummary, tuple[Document, ...]]:
    """Chunk, embed and index a corpus folder (``None``: the bundled corpus) into ``index_dir``.

    Up to ``exact_search_limit`` chunks the search is exact; above it an IVF index (see ``make_vector_index``).
    Returns the index, the build's figures and the documents it was built from.

    Builds of one directory are exclusive (a lock file beside it); the new index is written in a hidden
    staging directory and swapped in only when complete, so a crash at any moment leaves the previous
    index loadable. A directory that is not an index is never overwritten.
    """
    target = Path(index_dir).expanduser().resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _locked(target, "build"):
            _refuse_foreign_directory(target)
            with _locked(target, "swap"):
                _recover_interrupted_swap(target)
                _remove_leftovers(target)
            return _build_locked(corpus_dir, target, embedder, settings, progress, exact_search_limit)
    except OSError as exc:
        raise IndexWriteError(
            f"cannot write the index at {target} ({exc.strerror or exc}); pass a writable index directory "
            "(index_dir= or --out), or set SPASMQA_HOME to a folder you can write to"
        ) from exc


def _build_locked(
    corpus_dir: str | Path | None,
    target: Path,
    embedder: Embedder,
    settings: ChunkSettings,
    progress: bool,
    exact_search_limit: int,
) -> tuple[StoredIndex, BuildSummary, tuple[Document, ...]]:
    import faiss

    started = time.perf_counter()
    documents = load_corpus(corpus_dir)
    chunks = chunk_corpus(documents, settings, embedder)
    embedding_started = time.perf_counter()
    vectors = embedder.encode([chunk.embedding_input for chunk in chunks], progress=progress)
    chunks_per_second = len(chunks) / max(time.perf_counter() - embedding_started, 1e-9)
    faiss_index, search_index = make_vector_index(vectors, exact_search_limit)
    texts = {doc.doc_id: doc.text for doc in documents}
    sentences = [texts[chunk.doc_id][s:e] for chunk in chunks for s, e in chunk.sentences]
    sentence_index = faiss.IndexFlatIP(vectors.shape[1])
    sentence_index.add(embedder.encode(sentences, progress=progress))
    seconds = round(time.perf_counter() - started, 3)
    manifest = Manifest(
        model_id=embedder.model_id,
        dimension=int(vectors.shape[1]),
        max_seq_length=embedder.max_seq_length,
        fingerprint=tuple(embedder.fingerprint()),
        chunking=settings,
        corpus_dir=str(documents_dir(corpus_dir).resolve()),
        documents=tuple(DocumentInfo.of(doc) for doc in documents),
        chunk_count=len(chunks),
        sentence_count=len(sentences),
        answerability=calibrated_models(embedder.model_id),
        search_index=search_index,
        files={},
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        build_seconds=seconds,
    )
    manifest = _write_atomically(target, manifest, chunks, faiss_index, sentence_index)
    tokens = [chunk.token_count for chunk in chunks]
    summary = BuildSummary(
        target, embedder.model_id, len(documents), len(chunks), min(tokens), statistics.median(tokens), max(tokens),
        seconds, round(chunks_per_second, 1), search_index.kind,
    )
    return StoredIndex(target, manifest, tuple(chunks), faiss_index, sentence_index), summary, documents


def documents_dir(corpus_dir: str | Path | None) -> Path:
    return Path(corpus_dir) if corpus_dir is not None else bundled_corpus_dir()


@contextmanager
def _locked(target: Path, purpose: str, *, shared: bool = False) -> Iterator[None]:
    """Hold a lock file beside ``target``: "build" serialises builders, "swap" keeps readers off a swap."""
    lock_path = target.parent / f".{target.name}.{purpose}.lock"
    try:
        handle = lock_path.open("a")
    except OSError:
        if not shared:
            raise
        # A reader in a read-only folder: no lock file can be made, and no build can be writing there.
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _refuse_foreign_directory(target: Path) -> None:
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / MANIFEST_FILE).exists())):
        raise IndexWriteError(
            f"{target} exists and is not a spasmqa index; choose another index directory (nothing was written)"
        )


def _staged(target: Path, kind: str) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.{kind}-*"), key=lambda p: p.stat().st_mtime)


def _recover_interrupted_swap(target: Path) -> None:
    """A crash between the two renames of a swap leaves the previous index retired: put it back."""
    retired = _staged(target, "old")
    if not target.exists() and retired:
        retired[-1].rename(target)
        logger.warning("restored the index at %s after an interrupted rebuild", target)


def _remove_leftovers(target: Path) -> None:
    """Staging and retired directories of builds that died; only called while holding the build lock."""
    for leftover in _staged(target, "building") + _staged(target, "old"):
        shutil.rmtree(leftover, ignore_errors=True)


def _write_atomically(
    target: Path, manifest: Manifest, chunks: list[Chunk], faiss_index: Any, sentence_index: Any
) -> Manifest:
    import faiss

    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        with (staging / CHUNKS_FILE).open("w", encoding="utf-8") as handle:
            for chunk in chunks:
                handle.write(json.dumps(chunk.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
        faiss.write_index(faiss_index, str(staging / FAISS_FILE))
        faiss.write_index(sentence_index, str(staging / SENTENCES_FILE))
        files = {name: sha256_file(staging / name) for name in (FAISS_FILE, CHUNKS_FILE, SENTENCES_FILE)}
        manifest = replace(manifest, files=files)
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n")
        _fsync_directory_files(staging)
        with _locked(target, "swap"):
            _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _fsync_directory_files(folder: Path) -> None:
    # Renaming is atomic, but only durable data should be renamed into place.
    for path in folder.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())


def _swap_into_place(staging: Path, target: Path) -> None:
    if target.exists():
        retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(target)


def read_index(index_dir: str | Path) -> StoredIndex:
    """Read an index directory, refusing anything missing, damaged or from another format version.

    Reading waits while a build swaps a new index into place, so it never mixes two builds' files.
    """
    path = Path(index_dir).expanduser().resolve()
    if not path.parent.is_dir():
        raise IndexNotFoundError(f"no spasmqa index at {path}; {_rebuild_hint(path)}")
    if not path.exists() and _staged(path, "old"):
        with _locked(path, "swap"):
            _recover_interrupted_swap(path)
    with _locked(path, "swap", shared=True):
        return _read_files(path)


def _read_files(path: Path) -> StoredIndex:
    import faiss

    manifest = read_manifest(path)
    for name, expected in manifest.files.items():
        file_path = path / name
        if not file_path.is_file():
            raise MissingIndexFileError(f"{file_path} is missing; {_rebuild_hint(path)}")
        if sha256_file(file_path) != expected:
            raise ChecksumError(
                f"{file_path} is damaged (its sha256 differs from the manifest's: truncated or altered); "
                f"{_rebuild_hint(path)}"
            )
    chunks = _read_chunks(path / CHUNKS_FILE, path)
    faiss_index = faiss.read_index(str(path / FAISS_FILE))
    prepare_for_search(faiss_index, manifest.search_index)
    sentence_index = faiss.read_index(str(path / SENTENCES_FILE))
    if not (len(chunks) == manifest.chunk_count == faiss_index.ntotal) or faiss_index.d != manifest.dimension:
        raise MisalignedIndexError(
            f"{path} is inconsistent: {len(chunks)} chunk records, {faiss_index.ntotal} vectors of dimension "
            f"{faiss_index.d}, manifest says {manifest.chunk_count} of dimension {manifest.dimension}; "
            f"{_rebuild_hint(path)}"
        )
    sentences = sum(len(chunk.sentences) for chunk in chunks)
    if not (sentences == manifest.sentence_count == sentence_index.ntotal) or sentence_index.d != manifest.dimension:
        raise MisalignedIndexError(
            f"{path} is inconsistent: its chunk records list {sentences} sentences, {SENTENCES_FILE} holds "
            f"{sentence_index.ntotal} vectors, the manifest says {manifest.sentence_count}; {_rebuild_hint(path)}"
        )
    return StoredIndex(path, manifest, chunks, faiss_index, sentence_index)


def read_manifest(path: Path) -> Manifest:
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        if path.is_dir() and any((path / name).exists() for name in (FAISS_FILE, CHUNKS_FILE, SENTENCES_FILE)):
            raise ManifestError(f"{manifest_path} is missing beside the index files; {_rebuild_hint(path)}")
        raise IndexNotFoundError(f"no spasmqa index at {path} (no {MANIFEST_FILE}); {_rebuild_hint(path)}")
    try:
        record = json.loads(manifest_path.read_text(encoding="utf-8"))
        version = record["format_version"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{manifest_path} is not a readable manifest ({exc}); {_rebuild_hint(path)}") from exc
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise IndexFormatError(
            f"{path} has index format {version!r}, newer than this spasmqa ({__version__}) reads "
            f"(format {FORMAT_VERSION}); upgrade spasmqa or {_rebuild_hint(path)}"
        )
    if version < FORMAT_VERSION:
        raise IndexFormatError(f"{path} has the old index format {version}; {_rebuild_hint(path)}")
    try:
        return Manifest.from_dict(record)
    except (KeyError, TypeError, ValueError, ChunkingError) as exc:
        raise ManifestError(f"{manifest_path} is not a valid manifest ({exc}); {_rebuild_hint(path)}") from exc


def _read_chunks(chunks_path: Path, path: Path) -> tuple[Chunk, ...]:
    try:
        with chunks_path.open(encoding="utf-8") as handle:
            return tuple(Chunk.from_dict(json.loads(line)) for line in handle)
    except (ValueError, TypeError) as exc:
        raise MisalignedIndexError(f"{chunks_path} has an unreadable record ({exc}); {_rebuild_hint(path)}") from exc


def _rebuild_hint(path: Path) -> str:
    return f"rebuild it with `spasmqa build --out {path}` (or `python scripts/build_index.py --out {path}`)"


def check_model(manifest: Manifest, embedder: Embedder, path: Path) -> None:
    """Refuse to answer with another model than the index was built with: by name, dimension and vectors."""
    if embedder.model_id != manifest.model_id:
        raise ModelMismatchError(
            f"index at {path} was built with model {manifest.model_id!r}, not {embedder.model_id!r}; load it "
            f"without model= or rebuild with `spasmqa build --out {path} --model {embedder.model_id}`"
        )
    current = embedder.fingerprint()
    if len(current) != len(manifest.fingerprint) or any(
        abs(a - b) > FINGERPRINT_TOLERANCE for a, b in zip(current, manifest.fingerprint)
    ):
        raise ModelMismatchError(
            f"model {embedder.model_id!r} now gives different vectors than when the index at {path} was built "
            f"(the model files changed); {_rebuild_hint(path)}"
        )


def check_corpus(manifest: Manifest, documents: tuple[Document, ...], path: Path) -> None:
    """Raise ``StaleIndexError`` naming every document changed, added or removed since the build."""
    built = {info.doc_id: (info.sha256, info.text_sha256) for info in manifest.documents}
    now = {doc.doc_id: (doc.sha256, sha256_text(doc.text)) for doc in documents}
    changed = tuple(sorted(doc_id for doc_id in built.keys() & now.keys() if built[doc_id] != now[doc_id]))
    added = tuple(sorted(now.keys() - built.keys()))
    removed = tuple(sorted(built.keys() - now.keys()))
    if changed or added or removed:
        parts = [f"{label}: {', '.join(ids)}" for label, ids in (("changed", changed), ("added", added), ("removed", removed)) if ids]
        raise StaleIndexError(
            f"the corpus at {manifest.corpus_dir} changed since the index at {path} was built ({'; '.join(parts)}); "
            f"rebuild with `spasmqa build --corpus {manifest.corpus_dir} --out {path}` or load(..., rebuild_if_stale=True)",
            changed=changed,
            added=added,
            removed=removed,
        )
