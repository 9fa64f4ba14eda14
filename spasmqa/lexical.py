"""Lexical retrieval: BM25 (bm25s) over the same chunks as the dense index, with English stemming."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class LexicalIndex:
    """BM25 scores of every chunk for a question; built in memory from the chunks' embedded texts.

    Stemming folds word forms together ("cramping", "cramps" -> "cramp") and English stop words are
    ignored, so a question made only of stop words or unknown words scores every chunk 0.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        self._stemmer = _english_stemmer()
        self._bm25: Any = bm25s.BM25()
        self._bm25.index(self._tokenize(texts), show_progress=False)
        self._vocabulary = set(self._bm25.vocab_dict)
        self.size = len(texts)

    def _tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        import bm25s

        tokens: list[list[str]] = bm25s.tokenize(
            list(texts), stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )
        return tokens

    def scores(self, question: str) -> NDArray[np.float32]:
        """The BM25 score of every chunk, in row order."""
        import numpy as np

        known = [token for token in self._tokenize([question])[0] if token in self._vocabulary]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)


def _english_stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")
