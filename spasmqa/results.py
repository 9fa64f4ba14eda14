"""The results of a question: an ``Answer`` of ``Passage``s, each with its exact place in its document."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, overload

from spasmqa.display import answer_html, answer_text, passage_html, passage_text
from spasmqa.retrieval import DEFAULT_MODE

NOTICE = (
    "General information from the listed sources, not medical advice; see a doctor for severe, persistent "
    "or unusual symptoms."
)


@dataclass(frozen=True)
class Highlight:
    """A sentence inside a passage that best answers the question: ``text == document.text[start:end]``."""

    start: int
    end: int
    text: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SourceSpan:
    """Where else a near-identical passage appears."""

    doc_id: str
    title: str
    source: str
    section: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Passage:
    """One retrieved passage with its provenance: ``text == document.text[start:end]``.

    ``score`` is the cosine similarity between the question and the passage as embedded (with its title
    and section line), from -1 to 1, whatever the mode: it compares across questions and modes.
    ``lexical_score`` is the passage's BM25 score (0 when it shares no word with the question) and
    ``fusion_score`` what the mode ranked by (the cosine, the BM25 score, or the reciprocal-rank-fusion
    score), ``rerank_score`` the cross-encoder's logit for it (None when not reranked, or ranked below
    the reranking depth). ``highlights`` are the answering sentence(s); ``also_in`` lists near-identical passages of
    other documents that were folded into this one. ``page`` is the first and last page of the passage in a
    document with pages (a PDF), None in one without.
    """

    rank: int
    score: float
    text: str
    doc_id: str
    title: str
    source: str
    section: str
    start: int
    end: int
    chunk_id: str
    lexical_score: float = 0.0
    fusion_score: float = 0.0
    rerank_score: float | None = None
    highlights: tuple[Highlight, ...] = ()
    also_in: tuple[SourceSpan, ...] = ()
    page: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __repr__(self) -> str:
        return f"Passage(rank={self.rank}, score={self.score:.3f}, {self.chunk_id!r}, section={self.section!r})"

    def __str__(self) -> str:
        return passage_text(self)

    def _repr_html_(self) -> str:
        return passage_html(self)


@dataclass(frozen=True)
class Answer(Sequence[Passage]):
    """The passages retrieved for a question, best first; iterate, index or ``len()`` it like a list.

    ``confidence`` is a calibrated probability that the passages answer the question (None when no
    abstention is calibrated for the index's model); ``answerable`` is False when the documents clearly
    do not cover the question (no word in common, or a confidence under the calibrated cut, see
    ``spasmqa.abstention``): the passages are then only the closest ones, not answers, and ``reason``
    says why. The evidence behind it: ``best_rerank_score``, the cross-encoder's highest score over the
    reranked passages (``reranker`` names it; None and "" when not reranked); ``best_similarity``, the
    highest cosine between the question and any passage; ``best_sentence_similarity``, the highest cosine
    between the question and any sentence of the candidate passages; ``answer_score``, the mean of
    those two cosines; ``shares_words``, whether any of the question's words (or near
    misspellings) occur in the documents; and ``matched_words``, how many distinct ones the passage
    with the highest BM25 score contains. ``notice`` is the same fixed line on every answer.
    """

    question: str
    passages: tuple[Passage, ...]
    mode: str = DEFAULT_MODE
    answerable: bool = True
    reason: str = ""
    confidence: float | None = None
    best_similarity: float = 0.0
    best_sentence_similarity: float = 0.0
    answer_score: float = 0.0
    shares_words: bool = True
    matched_words: int = 0
    reranker: str = ""
    best_rerank_score: float | None = None
    notice: str = NOTICE

    @overload
    def __getitem__(self, index: int) -> Passage: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Passage]: ...
    def __getitem__(self, index: int | slice) -> Passage | Sequence[Passage]:
        return self.passages[index]

    def __len__(self) -> int:
        return len(self.passages)

    def __iter__(self) -> Iterator[Passage]:
        return iter(self.passages)

    def __repr__(self) -> str:
        shown = ", ".join(p.chunk_id for p in self.passages)
        return f"Answer({self.question!r}, answerable={self.answerable}, passages=[{shown}])"

    def __str__(self) -> str:
        return answer_text(self)

    def _repr_html_(self) -> str:
        return answer_html(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "mode": self.mode,
            "answerable": self.answerable,
            "reason": self.reason,
            "confidence": self.confidence,
            "best_similarity": self.best_similarity,
            "best_sentence_similarity": self.best_sentence_similarity,
            "answer_score": self.answer_score,
            "shares_words": self.shares_words,
            "matched_words": self.matched_words,
            "reranker": self.reranker,
            "best_rerank_score": self.best_rerank_score,
            "notice": self.notice,
            "passages": [passage.to_dict() for passage in self.passages],
        }
