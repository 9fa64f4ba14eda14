"""The one pipeline from a corpus folder to an index: read, chunk, embed what is new, write to a store."""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from spasmqa._version import __version__
from spasmqa.abstention import calibrated_models
from spasmqa.chunking import Chunk, ChunkSettings, check_provenance, chunk_document
from spasmqa.corpus import Corpus, Document, SkippedFile, bundled_corpus_dir, warn_skipped
from spasmqa.embedding import Embedder
from spasmqa.errors import ChunkingError, IndexWriteError, ModelMismatchError, SpasmqaError
from spasmqa.store.directory import building, previous_manifest
from spasmqa.store.manifest import DocumentInfo, Manifest, StoreInfo, check_model
from spasmqa.store.protocol import ChunkStore
from spasmqa.store.reuse import BuildVectors
from spasmqa.store.stores import open_store, write_store
from spasmqa.store.vectors import EXACT_SEARCH_LIMIT

logger = logging.getLogger(__name__)


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
    store: str
    embedded: int
    reused: int
    files: int  # document files read (a BEIR corpus is one)
    skipped: tuple[SkippedFile, ...]

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["path"] = str(self.path)
        return record


def build_index(
    corpus_dir: str | Path | None,
    corpus: Corpus,
    index_dir: str | Path,
    *,
    embedder: Embedder,
    settings: ChunkSettings,
    store: StoreInfo = StoreInfo(),
    progress: bool = False,
    exact_search_limit: int = EXACT_SEARCH_LIMIT,
) -> tuple[ChunkStore, BuildSummary, tuple[Document, ...]]:
    """Chunk, embed and index ``corpus``, read from ``corpus_dir`` (``None``: the bundled corpus), into ``index_dir`` and ``store``.

    Up to ``exact_search_limit`` chunks the search is exact; above it an IVF index. Rebuilding an index
    built with the same model and chunk settings embeds only the chunks whose text is new: the others'
    vectors are taken from the index being replaced. Returns the index, the build's figures and the
    documents it was built from. Builds of one directory are exclusive, and a crash at any moment leaves
    the previous index loadable (``store.directory``). A directory that is not an index is never overwritten.
    """
    target = Path(index_dir).expanduser().resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with building(target):
            return _build(corpus_dir, corpus, target, embedder, settings, store, progress, exact_search_limit)
    except OSError as exc:
        raise IndexWriteError(
            f"cannot write the index at {target} ({exc.strerror or exc}); pass a writable index directory "
            "(index_dir= or --out), or set SPASMQA_HOME to a folder you can write to"
        ) from exc


def _build(
    corpus_dir: str | Path | None,
    corpus: Corpus,
    target: Path,
    embedder: Embedder,
    settings: ChunkSettings,
    store: StoreInfo,
    progress: bool,
    exact_search_limit: int,
) -> tuple[ChunkStore, BuildSummary, tuple[Document, ...]]:
    started = time.perf_counter()
    warn_skipped(corpus.skipped)
    documents = corpus.documents
    previous = _reusable(target, embedder, settings)
    chunks = chunk_corpus(documents, settings, embedder, _unchanged_chunks(documents, previous))
    embedding_started = time.perf_counter()
    vectors = _embed(chunks, documents, embedder, previous, progress)
    reused = vectors.reused
    embedded = len(chunks) - reused
    chunks_per_second = embedded / max(time.perf_counter() - embedding_started, 1e-9)
    manifest = Manifest(
        model_id=embedder.model_id,
        dimension=embedder.dimension,
        max_seq_length=embedder.max_seq_length,
        fingerprint=tuple(embedder.fingerprint()),
        chunking=settings,
        corpus_dir=str(_documents_dir(corpus_dir).resolve()),
        documents=tuple(DocumentInfo.of(doc) for doc in documents),
        chunk_count=len(chunks),
        sentence_count=vectors.sentence_count,
        answerability=calibrated_models(embedder.model_id),
        store=store,
        skipped=corpus.skipped,
        files={},
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        build_seconds=0.0,
    )
    written = write_store(
        target, replace(manifest, build_seconds=round(time.perf_counter() - started, 3)), chunks, vectors,
        exact_search_limit,
    )
    tokens = [chunk.token_count for chunk in chunks]
    summary = BuildSummary(
        target, embedder.model_id, len(documents), len(chunks), min(tokens), statistics.median(tokens), max(tokens),
        round(time.perf_counter() - started, 3), round(chunks_per_second, 1), written.manifest.search_index.kind,
        store.spec, embedded, reused, corpus.files, corpus.skipped,
    )
    return written, summary, documents


def _reusable(target: Path, embedder: Embedder, settings: ChunkSettings) -> ChunkStore | None:
    """The index being replaced, if its vectors can be reused: same model and chunking, and readable."""
    previous = previous_manifest(target)
    if previous is None or previous.model_id != embedder.model_id or previous.chunking != settings:
        return None
    try:
        check_model(previous, embedder, target)  # the model's files may have changed since: its vectors too
        return open_store(target)
    except ModelMismatchError:
        return None
    except SpasmqaError as exc:
        logger.warning("embedding every chunk again: the index at %s cannot be reused (%s)", target, exc)
        return None


def _unchanged_chunks(documents: tuple[Document, ...], previous: ChunkStore | None) -> dict[str, list[Chunk]]:
    """The replaced index's chunks of each document that is byte for byte what it was (text, title, source).

    Chunking counts every token of every document, the largest cost of a rebuild after embedding; a
    document the same as before, chunked by the same spasmqa with the same settings and model
    (``_reusable`` checks the last two), gets the same chunks.
    """
    if previous is None or previous.manifest.spasmqa_version != __version__:
        return {}
    before = {info.doc_id: info for info in previous.manifest.documents}
    same = {doc.doc_id for doc in documents if before.get(doc.doc_id) == DocumentInfo.of(doc)}
    known: dict[str, list[Chunk]] = {}
    for chunk in previous.chunks:
        if chunk.doc_id in same:
            known.setdefault(chunk.doc_id, []).append(chunk)
    return known


def _embed(
    chunks: list[Chunk],
    documents: tuple[Document, ...],
    embedder: Embedder,
    previous: ChunkStore | None,
    progress: bool,
) -> BuildVectors:
    """Embed the chunks (and their sentences) that the replaced index does not have; the store reads the rest.

    A chunk is reused when the replaced index has one with the same embedded text and the same
    sentences at the same places in it: then its chunk vector and its sentence vectors are the same.
    """
    import numpy as np

    known = {} if previous is None else {_content_key(chunk): row for row, chunk in enumerate(previous.chunks)}
    previous_rows = [known.get(_content_key(chunk)) for chunk in chunks]
    new = [chunks[i] for i, row in enumerate(previous_rows) if row is None]
    empty = np.zeros((0, embedder.dimension), np.float32)
    embedded = embedder.encode([chunk.embedding_input for chunk in new], progress=progress) if new else empty
    texts = {doc.doc_id: doc.text for doc in documents}
    sentences = [texts[chunk.doc_id][s:e] for chunk in new for s, e in chunk.sentences]
    embedded_sentences = embedder.encode(sentences, progress=progress) if sentences else empty
    return BuildVectors(embedder.dimension, chunks, previous, previous_rows, np.asarray(embedded, np.float32),
                        np.asarray(embedded_sentences, np.float32))


def _content_key(chunk: Chunk) -> tuple[str, tuple[tuple[int, int], ...]]:
    """What a chunk's vectors depend on: its embedded text and its sentences' places in it."""
    return chunk.embedding_input, tuple((s - chunk.start, e - chunk.start) for s, e in chunk.sentences)


def _documents_dir(corpus_dir: str | Path | None) -> Path:
    return Path(corpus_dir) if corpus_dir is not None else bundled_corpus_dir()


def chunk_corpus(
    documents: tuple[Document, ...],
    settings: ChunkSettings,
    embedder: Embedder,
    known: dict[str, list[Chunk]] | None = None,
) -> list[Chunk]:
    """Every document's chunks in corpus order, each checked against its document's text.

    ``known`` maps documents to chunks already made for them, with these settings, this model and this
    spasmqa, from exactly the same text and title (``_unchanged_chunks``): those are not made again.
    """
    if settings.max_tokens > embedder.max_seq_length:
        raise ChunkingError(
            f"max_tokens={settings.max_tokens} is more than model {embedder.model_id} reads "
            f"({embedder.max_seq_length} tokens); lower max_tokens"
        )
    known = known or {}
    chunks: list[Chunk] = []
    for document in documents:
        document_chunks = known.get(document.doc_id) or chunk_document(
            document, settings, embedder.count_tokens, embedder.special_tokens
        )
        check_provenance(document, document_chunks)
        chunks.extend(document_chunks)
    return chunks
