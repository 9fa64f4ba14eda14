"""An index directory read into memory: manifest, chunk records, chunk vectors and sentence vectors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from spasmqa._ranges import concatenated_ranges
from spasmqa.chunking import Chunk
from spasmqa.store.manifest import Manifest
from spasmqa.store.vectors import VectorIndex

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


@dataclass(frozen=True)
class StoredIndex:
    """Row i of ``chunk_vectors`` is ``chunks[i]``; its sentences' vectors follow each other in ``sentence_vectors``."""

    path: Path
    manifest: Manifest
    chunks: tuple[Chunk, ...]
    chunk_index: VectorIndex = field(repr=False)
    sentence_index: VectorIndex = field(repr=False)

    def search(self, query_vectors: NDArray[np.float32], k: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Scores and row numbers of the ``k`` nearest chunks for each query, best first."""
        return self.chunk_index.search(query_vectors, k)

    def chunk_vectors(self, rows: list[int]) -> NDArray[np.float32]:
        return self.chunk_index.vectors(rows)

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
        return self.sentence_index.matrix()

    @cached_property
    def _sentence_offsets(self) -> NDArray[np.int64]:
        """Row i's sentences are sentence rows ``offsets[i]`` to ``offsets[i + 1]``."""
        import numpy as np

        return np.cumsum([0] + [len(chunk.sentences) for chunk in self.chunks], dtype=np.int64)
