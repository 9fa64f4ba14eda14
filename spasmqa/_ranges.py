"""One array helper shared by the stages that read ranges of a flat array (sentences of chunks, postings of terms)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


def concatenated_ranges(starts: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.int64]:
    """The positions of every range ``starts[i] .. starts[i] + lengths[i] - 1``, range after range, in one array.

    Example: starts [10, 3], lengths [2, 3] -> [10, 11, 3, 4, 5].
    """
    import numpy as np

    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    # each position is its range's start plus its offset within the range
    positions: NDArray[np.int64] = np.repeat(starts - ends + lengths, lengths) + np.arange(total)
    return positions
