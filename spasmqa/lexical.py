"""Lexical retrieval: BM25 (bm25s) over the same chunks as the dense index, with English stemming."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class LexicalIndex:
    """BM25 scores of every chunk for a question; built in memory from the chunks' embedded texts.

    Stemming folds word forms together ("cramping", "cramps" -> "cramp") and English stop words are
    ignored. A question word that is not in the vocabulary is matched to vocabulary words one edit
    away (two for words of eight letters or more), so "musle" finds "muscle"; a question with no known
    or nearly known word scores every chunk 0.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s
        from bm25s.stopwords import STOPWORDS_EN

        self._stem_words = _english_stemmer().stemWords
        self._stopwords = frozenset(STOPWORDS_EN)
        self._bm25: Any = bm25s.BM25()
        self._bm25.index([self.tokens(text) for text in texts], show_progress=False)
        self._vocabulary = set(self._bm25.vocab_dict)
        self._near_cache: dict[str, list[str]] = {}
        self.size = len(texts)

    def tokens(self, text: str) -> list[str]:
        """Lowercased words of two or more characters, English stop words left out, stemmed.

        The same tokens as ``bm25s.tokenize(..., stopwords="en", stemmer=...)``, without its per-call
        setup (vocabulary maps, progress bars), which cost more than the search for a one-line question.
        """
        words = [word for word in _TOKEN.findall(text.lower()) if word not in self._stopwords]
        stems: list[str] = self._stem_words(words)
        return stems

    def terms(self, question: str) -> list[str]:
        """The question's stemmed words that the chunks contain, typos mapped to their nearest words."""
        terms = []
        for token in self.tokens(question):
            terms.extend([token] if token in self._vocabulary else self._near(token))
        return terms

    def _near(self, token: str) -> list[str]:
        if token not in self._near_cache:
            self._near_cache[token] = self._nearest_words(token)
        return self._near_cache[token]

    def _nearest_words(self, token: str) -> list[str]:
        if len(token) < MIN_FUZZY_LENGTH:
            return []
        allowed = 1 if len(token) < 8 else 2
        candidates = (word for word in self._vocabulary if abs(len(word) - len(token)) <= allowed)
        return sorted(word for word in candidates if edit_distance(token, word, allowed) <= allowed)

    def scores(self, question: str) -> NDArray[np.float32]:
        """The BM25 score of every chunk, in row order."""
        return self.scores_of(self.terms(question))

    def scores_of(self, terms: list[str]) -> NDArray[np.float32]:
        """The BM25 score of every chunk for already matched ``terms`` (see ``terms()``), in row order."""
        import numpy as np

        if not terms:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(terms), dtype=np.float32)


MIN_FUZZY_LENGTH = 4
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's (scikit-learn's) word pattern


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (Levenshtein plus adjacent swaps), or ``limit + 1`` once past it."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _english_stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")
