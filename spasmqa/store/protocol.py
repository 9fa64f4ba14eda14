"""What ``Index`` needs from storage, whichever store holds the index (``store.stores`` opens one).

An index is a manifest plus chunk records, one vector per chunk and one per sentence of every chunk.
Row i is ``chunks[i]`` in every store. The chunk texts are in the process because BM25 runs there
(``lexical``): its typo matching and the words it matched are evidence the abstention models were
calibrated on, so a store's own full-text search would change the answers (see the README).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from spasmqa.chunking import Chunk
from spasmqa.store.manifest import Manifest

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class ChunkStore(Protocol):
    """An index opened for reading: its directory, manifest, chunk records and the searches over them."""

    @property
    def path(self) -> Path:
        """The index directory (it holds the manifest, and for a FAISS store the files too)."""
        ...

    @property
    def manifest(self) -> Manifest: ...

    @property
    def chunks(self) -> tuple[Chunk, ...]: ...

    def search(self, query_vectors: NDArray[np.float32], k: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Scores and rows of the ``k`` nearest chunks for each query, best first (-1 pads a short list)."""
        ...

    def chunk_vectors(self, rows: Sequence[int]) -> NDArray[np.float32]:
        """The vectors of chunks ``rows``, in that order."""
        ...

    def sentence_vectors(self, rows: Sequence[int]) -> list[NDArray[np.float32]]:
        """For each chunk of ``rows``, the vectors of its sentences in the order of ``chunks[row].sentences``."""
        ...

    def best_sentence_score(self, query_vector: NDArray[np.float32], rows: Sequence[int]) -> float | None:
        """The highest inner product of the query with any sentence of the chunks ``rows`` (None: no sentences)."""
        ...
