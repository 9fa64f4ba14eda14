"""The one pipeline from a corpus folder to an index directory: read, chunk, embed, index, write."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from spasmqa.abstention import calibrated_models
from spasmqa.chunking import Chunk, ChunkSettings, check_provenance, chunk_document
from spasmqa.corpus import Document, bundled_corpus_dir, load_corpus
from spasmqa.embedding import Embedder
from spasmqa.errors import ChunkingError, IndexWriteError
from spasmqa.store.directory import building, write_index
from spasmqa.store.manifest import DocumentInfo, Manifest
from spasmqa.store.stored import StoredIndex
from spasmqa.store.vectors import EXACT_SEARCH_LIMIT, VectorIndex


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

    Up to ``exact_search_limit`` chunks the search is exact; above it an IVF index (``store.vectors``).
    Returns the index, the build's figures and the documents it was built from. Builds of one directory
    are exclusive, and a crash at any moment leaves the previous index loadable (``store.directory``).
    A directory that is not an index is never overwritten.
    """
    target = Path(index_dir).expanduser().resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with building(target):
            return _build(corpus_dir, target, embedder, settings, progress, exact_search_limit)
    except OSError as exc:
        raise IndexWriteError(
            f"cannot write the index at {target} ({exc.strerror or exc}); pass a writable index directory "
            "(index_dir= or --out), or set SPASMQA_HOME to a folder you can write to"
        ) from exc


def _build(
    corpus_dir: str | Path | None,
    target: Path,
    embedder: Embedder,
    settings: ChunkSettings,
    progress: bool,
    exact_search_limit: int,
) -> tuple[StoredIndex, BuildSummary, tuple[Document, ...]]:
    started = time.perf_counter()
    documents = load_corpus(corpus_dir)
    chunks = chunk_corpus(documents, settings, embedder)
    embedding_started = time.perf_counter()
    vectors = embedder.encode([chunk.embedding_input for chunk in chunks], progress=progress)
    chunks_per_second = len(chunks) / max(time.perf_counter() - embedding_started, 1e-9)
    chunk_index = VectorIndex.build(vectors, exact_search_limit)
    texts = {doc.doc_id: doc.text for doc in documents}
    sentences = [texts[chunk.doc_id][s:e] for chunk in chunks for s, e in chunk.sentences]
    sentence_index = VectorIndex.build(embedder.encode(sentences, progress=progress))
    seconds = round(time.perf_counter() - started, 3)
    manifest = Manifest(
        model_id=embedder.model_id,
        dimension=int(vectors.shape[1]),
        max_seq_length=embedder.max_seq_length,
        fingerprint=tuple(embedder.fingerprint()),
        chunking=settings,
        corpus_dir=str(_documents_dir(corpus_dir).resolve()),
        documents=tuple(DocumentInfo.of(doc) for doc in documents),
        chunk_count=len(chunks),
        sentence_count=len(sentences),
        answerability=calibrated_models(embedder.model_id),
        search_index=chunk_index.spec,
        files={},
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        build_seconds=seconds,
    )
    stored = write_index(target, manifest, chunks, chunk_index, sentence_index)
    tokens = [chunk.token_count for chunk in chunks]
    summary = BuildSummary(
        target, embedder.model_id, len(documents), len(chunks), min(tokens), statistics.median(tokens), max(tokens),
        seconds, round(chunks_per_second, 1), chunk_index.spec.kind,
    )
    return stored, summary, documents


def _documents_dir(corpus_dir: str | Path | None) -> Path:
    return Path(corpus_dir) if corpus_dir is not None else bundled_corpus_dir()


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
