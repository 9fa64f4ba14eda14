"""The FAISS store: chunk records, chunk vectors and sentence vectors as files in the index directory.

``chunks.jsonl`` (line i describes row i), ``index.faiss`` (one normalised vector per chunk) and
``sentences.faiss`` (one vector per sentence of every chunk, in chunk order), written and read through
``store.directory`` and read whole into memory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING

from spasmqa._ranges import concatenated_ranges
from spasmqa.chunking import Chunk
from spasmqa.errors import MisalignedIndexError
from spasmqa.store.directory import write_directory
from spasmqa.store.manifest import CHUNKS_FILE, FAISS_FILE, SENTENCES_FILE, Manifest, chunk_record, rebuild_hint
from spasmqa.store.vectors import SearchIndexSpec, VectorIndex

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


@dataclass(frozen=True)
class FaissStore:
    """Row i of ``chunk_index`` is ``chunks[i]``; its sentences' vectors follow each other in ``sentence_index``."""

    path: Path
    manifest: Manifest
    chunks: tuple[Chunk, ...]
    chunk_index: VectorIndex = field(repr=False)
    sentence_index: VectorIndex = field(repr=False)

    def search(self, query_vectors: NDArray[np.float32], k: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        return self.chunk_index.search(query_vectors, k)

    def chunk_vectors(self, rows: Sequence[int]) -> NDArray[np.float32]:
        return self.chunk_index.vectors(list(rows))

    def sentence_vectors(self, rows: Sequence[int]) -> list[NDArray[np.float32]]:
        offsets = self._sentence_offsets
        return [self._sentence_matrix[offsets[row] : offsets[row + 1]] for row in rows]

    def best_sentence_score(self, query_vector: NDArray[np.float32], rows: Sequence[int]) -> float | None:
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
        return self.sentence_index.matrix()

    @cached_property
    def _sentence_offsets(self) -> NDArray[np.int64]:
        """Row i's sentences are sentence rows ``offsets[i]`` to ``offsets[i + 1]``."""
        import numpy as np

        return np.cumsum([0] + [len(chunk.sentences) for chunk in self.chunks], dtype=np.int64)


def write_faiss_store(
    target: Path,
    manifest: Manifest,
    chunks: list[Chunk],
    chunk_vectors: NDArray[np.float32],
    sentence_vectors: NDArray[np.float32],
    exact_search_limit: int | None,
) -> FaissStore:
    """Index the vectors and write the three files and the manifest (call inside ``directory.building``)."""
    chunk_index = VectorIndex.build(chunk_vectors, exact_search_limit)
    sentence_index = VectorIndex.build(sentence_vectors)
    manifest = write_directory(
        target,
        replace(manifest, search_index=chunk_index.spec),
        {
            CHUNKS_FILE: lambda handle: _write_chunks(handle, chunks),
            FAISS_FILE: lambda handle: chunk_index.save(handle.write),
            SENTENCES_FILE: lambda handle: sentence_index.save(handle.write),
        },
    )
    return FaissStore(target, manifest, tuple(chunks), chunk_index, sentence_index)


def read_faiss_store(path: Path, manifest: Manifest) -> FaissStore:
    """The store of a checked index directory; refuses files that disagree with each other or the manifest."""
    chunks = _read_chunks(path / CHUNKS_FILE, path)
    chunk_index = VectorIndex.load(path / FAISS_FILE, manifest.search_index)
    sentence_index = VectorIndex.load(path / SENTENCES_FILE, SearchIndexSpec())
    if not (len(chunks) == manifest.chunk_count == chunk_index.count) or chunk_index.dimension != manifest.dimension:
        raise MisalignedIndexError(
            f"{path} is inconsistent: {len(chunks)} chunk records, {chunk_index.count} vectors of dimension "
            f"{chunk_index.dimension}, manifest says {manifest.chunk_count} of dimension {manifest.dimension}; "
            f"{rebuild_hint(path)}"
        )
    sentences = sum(len(chunk.sentences) for chunk in chunks)
    if not (sentences == manifest.sentence_count == sentence_index.count) or sentence_index.dimension != manifest.dimension:
        raise MisalignedIndexError(
            f"{path} is inconsistent: its chunk records list {sentences} sentences, {SENTENCES_FILE} holds "
            f"{sentence_index.count} vectors, the manifest says {manifest.sentence_count}; {rebuild_hint(path)}"
        )
    return FaissStore(path, manifest, chunks, chunk_index, sentence_index)


def _write_chunks(handle: IO[bytes], chunks: list[Chunk]) -> None:
    for chunk in chunks:
        handle.write(chunk_record(chunk))


def _read_chunks(chunks_path: Path, path: Path) -> tuple[Chunk, ...]:
    try:
        with chunks_path.open(encoding="utf-8") as handle:
            return tuple(Chunk.from_dict(json.loads(line)) for line in handle)
    except (ValueError, TypeError) as exc:
        raise MisalignedIndexError(f"{chunks_path} has an unreadable record ({exc}); {rebuild_hint(path)}") from exc
