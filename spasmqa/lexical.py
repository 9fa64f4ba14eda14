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
        """Vocabulary words within one edit of ``token`` (two from eight letters), in alphabetical order.

        Edits are insertions, deletions, substitutions and swaps of two neighbours (optimal string alignment).
        """
        from symspellpy import Verbosity

        if len(token) < MIN_FUZZY_LENGTH:
            return []
        allowed = 1 if len(token) < LONG_WORD else 2
        return sorted(s.term for s in self._spelling.lookup(token, Verbosity.ALL, max_edit_distance=allowed))

    @cached_property
    def _spelling(self) -> Any:
        """SymSpell over the vocabulary, built on the first unknown word: a misspelt word's own deletions find
        every word within its edits without comparing it to the whole vocabulary (symmetric deletion)."""
        from symspellpy import SymSpell

        # prefix_length as long as any word: deletions of whole words, so nothing is missed for long ones
        spelling = SymSpell(max_dictionary_edit_distance=2, prefix_length=64)
        for word in sorted(self._vocabulary):
            spelling.create_dictionary_entry(word, 1)
        return spelling

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
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's (scikit-learn's) word pattern


def _english_stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")
