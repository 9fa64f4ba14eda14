"""Answers: the ``Index`` that answers questions, and the ``Answer`` and ``Passage`` it returns."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, overload

from spasmqa.chunking import Chunk
from spasmqa.corpus import Document
from spasmqa.embedding import Embedder
from spasmqa.errors import CorpusError, QueryError
from spasmqa.index import Manifest, StoredIndex, check_model
from spasmqa.lexical import LexicalIndex

MODES = ("dense", "lexical")
DEFAULT_MODE = "dense"


@dataclass(frozen=True)
class Passage:
    """One retrieved passage with its provenance: ``text == document.text[start:end]``.

    ``score`` is the cosine similarity between the question and the passage as embedded (with its title
    and section line), from -1 to 1; higher is closer.
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer(Sequence[Passage]):
    """The passages retrieved for a question, best first; iterate, index or ``len()`` it like a list."""

    question: str
    passages: tuple[Passage, ...]

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

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "passages": [passage.to_dict() for passage in self.passages]}


class Index:
    """A built index, ready to answer questions over its documents.

    Get one from ``spasmqa.build()`` or ``spasmqa.load()``.

    Concurrency contract: reads are concurrent, builds are exclusive. ``ask()`` may be called from many
    threads at once; the model and the lexical index load once, on first use, whichever thread comes
    first. Builds of one index directory run one at a time (a lock file beside it, across processes),
    and a build replaces the directory only when complete, so readers in other processes see the old
    index or the new one, never a mixture.

    Example:
        >>> index = spasmqa.load("my-index")
        >>> index.ask("why do my calves cramp at night?", k=3)[0].title
    """

    def __init__(self, stored: StoredIndex, embedder: Embedder, documents: tuple[Document, ...] | None) -> None:
        self._stored = stored
        self._embedder = embedder
        self._documents = documents
        self._model_checked = False
        self._lock = threading.Lock()
        self._lexical_cache: LexicalIndex | None = None

    @property
    def path(self) -> Path:
        return self._stored.path

    @property
    def manifest(self) -> Manifest:
        return self._stored.manifest

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        return self._stored.chunks

    def __repr__(self) -> str:
        manifest = self.manifest
        return (
            f"Index({str(self.path)!r}, documents={len(manifest.documents)}, chunks={manifest.chunk_count}, "
            f"model={manifest.model_id!r})"
        )

    def ask(self, question: str, *, k: int = 5, mode: str = DEFAULT_MODE) -> Answer:
        """The ``k`` passages that best answer ``question``, best first (``k`` above the chunk count returns all).

        ``mode`` is ``"dense"`` (embedding similarity; ``score`` is a cosine) or ``"lexical"`` (BM25 over
        stemmed words; ``score`` is the BM25 score, and only passages sharing a word with the question
        come back). Any text is accepted; the dense model reads only the first ``max_seq_length`` tokens
        (256 for the default model, about 1,000 characters) of a longer question.

        Example:
            >>> answer = index.ask("what helps a charley horse?", k=3)
            >>> [(p.doc_id, p.section, p.start, p.end) for p in answer]
        """
        question = _usable_question(question)
        _check_k(k)
        _check_mode(mode)
        ranked = self._dense(question, k) if mode == "dense" else self._lexical(question, k)
        return Answer(question, tuple(self._passage(rank, score, row) for rank, (score, row) in enumerate(ranked, 1)))

    def _dense(self, question: str, k: int) -> list[tuple[float, int]]:
        self._ensure_model_checked()
        scores, rows = self._stored.search(self._embedder.encode([question]), k)
        return _best_first(zip(scores[0].tolist(), rows[0].tolist()), k)

    def _lexical(self, question: str, k: int) -> list[tuple[float, int]]:
        scores = self._lexical_index().scores(question)
        return _best_first(((float(scores[row]), row) for row in scores.nonzero()[0].tolist()), k)

    def _lexical_index(self) -> LexicalIndex:
        if self._lexical_cache is None:
            with self._lock:
                if self._lexical_cache is None:
                    self._lexical_cache = LexicalIndex([chunk.embedding_input for chunk in self.chunks])
        return self._lexical_cache

    def _ensure_model_checked(self) -> None:
        if not self._model_checked:
            with self._lock:
                if not self._model_checked:
                    check_model(self.manifest, self._embedder, self.path)
                    self._model_checked = True

    def _passage(self, rank: int, score: float, row: int) -> Passage:
        chunk = self._stored.chunks[row]
        info = self.manifest.document(chunk.doc_id)
        return Passage(
            rank=rank,
            score=round(score, 6),
            text=chunk.text,
            doc_id=chunk.doc_id,
            title=info.title,
            source=info.source,
            section=chunk.section,
            start=chunk.start,
            end=chunk.end,
            chunk_id=chunk.chunk_id,
        )

    def documents(self) -> tuple[Document, ...]:
        """The documents this index was built from, as checked unchanged when it was loaded."""
        if self._documents is None:
            raise CorpusError(
                f"the corpus folder {self.manifest.corpus_dir} of the index at {self.path} is not there, so its "
                "documents cannot be shown; put the corpus back or rebuild the index from where it is now"
            )
        return self._documents

    def get_document(self, doc_id: str) -> Document:
        """One document by id; ``KeyError`` names the ids there are."""
        for document in self.documents():
            if document.doc_id == doc_id:
                return document
        raise KeyError(f"no document {doc_id!r}; the documents are {', '.join(d.doc_id for d in self.documents())}")


def _best_first(scored_rows: Iterable[tuple[float, int]], k: int) -> list[tuple[float, int]]:
    """Highest score first; among equal scores the lower row first, so rankings are reproducible."""
    return sorted(((score, row) for score, row in scored_rows if row >= 0), key=lambda item: (-item[0], item[1]))[:k]


def _check_mode(mode: object) -> None:
    if mode not in MODES:
        raise QueryError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")


def _usable_question(question: object) -> str:
    """The question as text the tokenizers accept: lone surrogates (from broken decoding) become U+FFFD."""
    if not isinstance(question, str):
        raise QueryError(f"the question must be a str, got {type(question).__name__}; pass the question as text")
    if not question.strip():
        raise QueryError("the question is empty; ask something in words, e.g. ask('what causes leg cramps?')")
    return question.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _check_k(k: object) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise QueryError(f"k must be a positive integer (how many passages to return), got {k!r}")
