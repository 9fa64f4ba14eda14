"""FAISS behind one small interface: vectors added once, searched, given back by row, saved and loaded.

Nothing else in spasmqa imports faiss. Chunk vectors live in an exact inner-product index up to
``EXACT_SEARCH_LIMIT`` rows and an inverted-file index above it; sentence vectors always in an exact one,
whose storage is also read as a matrix (``matrix()``) for the highlights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

# Above this many chunks exact search costs more than ~2 ms a query on 2 cores, and an IVF index with
# nlist = 4·sqrt(n) and nprobe = 16 kept recall@10 >= 0.99 at 10^5 and 10^6 vectors (scripts/bench_scale.py).
EXACT_SEARCH_LIMIT = 30_000
IVF_NPROBE = 16


def inverted_lists(count: int, exact_search_limit: int | None) -> tuple[int, int] | None:
    """(nlist, nprobe) of the inverted-file index for ``count`` vectors, or None when search stays exact.

    Every store follows this rule, so an index searches alike in FAISS and in Milvus."""
    if exact_search_limit is None or count <= exact_search_limit:
        return None
    nlist = 4 * math.isqrt(count)
    return nlist, min(IVF_NPROBE, nlist)


@dataclass(frozen=True)
class SearchIndexSpec:
    """Which FAISS index holds the chunk vectors, and its search parameters (saved in the manifest)."""

    kind: str = "IndexFlatIP"
    nlist: int | None = None
    nprobe: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class VectorIndex:
    """Normalised vectors by row, searched by inner product (a cosine)."""

    def __init__(self, faiss_index: Any, spec: SearchIndexSpec) -> None:
        self._index = faiss_index
        self.spec = spec
        if spec.kind == "IndexIVFFlat":
            faiss_index.nprobe = spec.nprobe
            faiss_index.make_direct_map()  # so vectors() can give rows back

    @classmethod
    def build(cls, vectors: NDArray[np.float32], exact_search_limit: int | None = None) -> VectorIndex:
        """Exact search up to ``exact_search_limit`` vectors (None: always exact), an inverted-file index above it."""
        import faiss

        count, dimension = vectors.shape
        lists = inverted_lists(count, exact_search_limit)
        if lists is None:
            exact = faiss.IndexFlatIP(dimension)
            exact.add(vectors)
            return cls(exact, SearchIndexSpec())
        nlist, nprobe = lists
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.train(vectors[:: max(1, count // (256 * nlist))])
        ivf.add(vectors)
        return cls(ivf, SearchIndexSpec("IndexIVFFlat", nlist, nprobe))

    @classmethod
    def load(cls, path: Path, spec: SearchIndexSpec) -> VectorIndex:
        import faiss

        return cls(faiss.read_index(str(path)), spec)

    def save(self, write: Callable[[bytes], Any]) -> None:
        """Stream the index's bytes to ``write`` (a file's ``write``)."""
        import faiss

        faiss.write_index(self._index, faiss.PyCallbackIOWriter(write))  # type: ignore[attr-defined]  # not in its stubs

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    def search(self, queries: NDArray[np.float32], k: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Scores and rows of the ``k`` best rows for each query, best first (an IVF index may pad with row -1)."""
        scores, rows = self._index.search(queries, min(k, self.count))
        return scores, rows

    def vectors(self, rows: list[int]) -> NDArray[np.float32]:
        import numpy as np

        if not rows:
            return np.zeros((0, self.dimension), np.float32)
        return np.vstack([self._index.reconstruct(row) for row in rows])

    def matrix(self) -> NDArray[np.float32]:
        """Every vector, as a view of an exact index's own storage (no second copy in memory)."""
        import faiss

        if self.spec.kind != "IndexFlatIP":
            raise TypeError(f"matrix() reads an exact index's storage, not an {self.spec.kind}")
        flat: NDArray[np.float32] = faiss.rev_swig_ptr(self._index.get_xb(), self.count * self.dimension)
        return flat.reshape(self.count, self.dimension)
