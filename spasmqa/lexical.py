"""Lexical retrieval: BM25 (bm25s) over the same chunks as the dense index, with English stemming."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from spasmqa._ranges import concatenated_ranges

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
        self._term_ids: dict[str, int] = self._bm25.vocab_dict
        self._vocabulary = set(self._term_ids)
        # bm25s keeps every term's BM25 score in every chunk as a sparse column matrix (its index format)
        matrix = self._bm25.scores
        self._term_starts, self._chunk_rows, self._term_scores = matrix["indptr"], matrix["indices"], matrix["data"]
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
        """Vocabulary words within one edit of ``token`` (two from eight letters), in alphabetical order."""
        if len(token) < MIN_FUZZY_LENGTH:
            return []
        allowed = _allowed_edits(token)
        candidates = {word for variant in _deletions(token, allowed) for word in self._words_by_deletion.get(variant, ())}
        return sorted(
            word for word in candidates if abs(len(word) - len(token)) <= allowed and edit_distance(token, word, allowed) <= allowed
        )

    @cached_property
    def _words_by_deletion(self) -> dict[str, list[str]]:
        """Vocabulary words under every string left by deleting up to as many letters as they may be edits away.

        Two words within d edits (insertions, deletions, substitutions, adjacent swaps) both reduce to one
        string by at most d deletions each, so a misspelt word's own deletions find every candidate without
        comparing it to the whole vocabulary (the symmetric-deletion lookup of SymSpell). Built on the
        first unknown word.
        """
        words: dict[str, list[str]] = {}
        for word in sorted(self._vocabulary):
            # a word of LONG_WORD - 2 letters can be two edits from a long word
            for variant in _deletions(word, 2 if len(word) >= LONG_WORD - 2 else 1):
                words.setdefault(variant, []).append(word)
        return words

    def scores(self, question: str) -> NDArray[np.float32]:
        """The BM25 score of every chunk, in row order."""
        return self.scores_of(self.terms(question))

    def words_in(self, terms: list[str], row: int) -> int:
        """How many distinct ``terms`` (matched ones, see ``terms()``) chunk ``row`` contains."""
        starts = self._term_starts
        ids = [self._term_ids[term] for term in set(terms)]
        return sum(bool((self._chunk_rows[starts[i] : starts[i + 1]] == row).any()) for i in ids)

    def scores_of(self, terms: list[str]) -> NDArray[np.float32]:
        """The BM25 score of every chunk for already matched ``terms`` (see ``terms()``), in row order."""
        import numpy as np

        if not terms:
            return np.zeros(self.size, dtype=np.float32)
        # the same sum as bm25s.BM25.get_scores, in one pass over the terms' columns
        ids = np.array([self._term_ids[term] for term in terms])
        starts = self._term_starts[ids]
        positions = concatenated_ranges(starts, self._term_starts[ids + 1] - starts)
        scores = np.bincount(self._chunk_rows[positions], weights=self._term_scores[positions], minlength=self.size)
        return scores.astype(np.float32)


MIN_FUZZY_LENGTH = 4
LONG_WORD = 8  # from this length a word may be two edits away, below it one


def _allowed_edits(token: str) -> int:
    return 1 if len(token) < LONG_WORD else 2


def _deletions(word: str, depth: int) -> set[str]:
    """``word`` and every string made from it by deleting up to ``depth`` letters."""
    variants = frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        variants = variants | frontier
    return variants
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's (scikit-learn's) word pattern


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (Levenshtein plus adjacent swaps), or ``limit + 1`` once past it."""
    # A shared beginning or end costs nothing, so only the differing middles need the quadratic table.
    shared = 0
    while shared < min(len(a), len(b)) and a[shared] == b[shared]:
        shared += 1
    a, b = a[shared:], b[shared:]
    while a and b and a[-1] == b[-1]:
        a, b = a[:-1], b[:-1]
    if abs(len(a) - len(b)) > limit:
        return limit + 1
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
    return min(previous[-1], limit + 1)


def _english_stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")
