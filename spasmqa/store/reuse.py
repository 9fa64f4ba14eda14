"""The vectors of a build: those of chunks embedded now, and those to take from the index being replaced.

A store asks for the rows it writes. The FAISS store writes every row. The Milvus store, updating its
collections in place, asks only for the rows of documents that changed, so the vectors of unchanged
documents are never read back out of Milvus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from spasmqa.chunking import Chunk
from spasmqa.store.protocol import ChunkStore

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


@dataclass(frozen=True)
class BuildVectors:
    """Row i's vectors: embedded now when ``previous_rows[i]`` is None, else row ``previous_rows[i]`` of ``previous``.

    ``embedded`` holds the new rows' chunk vectors in the order of ``new_rows``; ``embedded_sentences`` their
    sentence vectors, chunk after chunk, in the order of each chunk's ``sentences``.
    """

    dimension: int
    chunks: Sequence[Chunk]
    previous: ChunkStore | None
    previous_rows: Sequence[int | None]
    embedded: NDArray[np.float32]
    embedded_sentences: NDArray[np.float32]

    @property
    def reused(self) -> int:
        return sum(row is not None for row in self.previous_rows)

    @property
    def sentence_count(self) -> int:
        return sum(len(chunk.sentences) for chunk in self.chunks)

    def chunk_vectors(self, rows: Sequence[int]) -> NDArray[np.float32]:
        """The chunk vectors of ``rows``, in that order (reused ones read from ``previous`` in one call)."""
        import numpy as np

        matrix = np.zeros((len(rows), self.dimension), np.float32)
        new, old = self._split(rows)
        if new:
            matrix[[i for i, _ in new]] = self.embedded[[self._new_position[row] for _, row in new]]
        if old:
            matrix[[i for i, _ in old]] = self._previous().chunk_vectors([self._old_row(row) for _, row in old])
        return matrix

    def sentence_vectors(self, rows: Sequence[int]) -> NDArray[np.float32]:
        """The sentence vectors of the chunks ``rows``, chunk after chunk, as one matrix."""
        import numpy as np

        per_chunk: list[NDArray[np.float32]] = [np.zeros((0, self.dimension), np.float32)] * len(rows)
        new, old = self._split(rows)
        for i, row in new:
            first = self._new_sentence_start[row]
            per_chunk[i] = self.embedded_sentences[first : first + len(self.chunks[row].sentences)]
        if old:
            for (i, _), matrix in zip(old, self._previous().sentence_vectors([self._old_row(row) for _, row in old])):
                per_chunk[i] = matrix
        return np.ascontiguousarray(np.vstack(per_chunk), dtype=np.float32) if rows else np.zeros((0, self.dimension), np.float32)

    def _split(self, rows: Sequence[int]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        new = [(i, row) for i, row in enumerate(rows) if self.previous_rows[row] is None]
        old = [(i, row) for i, row in enumerate(rows) if self.previous_rows[row] is not None]
        return new, old

    def _old_row(self, row: int) -> int:
        old = self.previous_rows[row]
        assert old is not None
        return old

    def _previous(self) -> ChunkStore:
        assert self.previous is not None, "rows to reuse come with the index they are reused from"
        return self.previous

    @cached_property
    def _new_position(self) -> dict[int, int]:
        new = [row for row, old in enumerate(self.previous_rows) if old is None]
        return {row: position for position, row in enumerate(new)}

    @cached_property
    def _new_sentence_start(self) -> dict[int, int]:
        starts, first = {}, 0
        for row, old in enumerate(self.previous_rows):
            if old is None:
                starts[row] = first
                first += len(self.chunks[row].sentences)
        return starts

