"""Answers: the ``Index`` that answers questions with an ``Answer`` of ``Passage``s (``spasmqa.results``).

A question goes through both retrievers (dense and BM25), their rankings are fused (or one is used
alone), overlapping passages of a document are merged, near-identical passages of different documents
are shown once, no document takes more than its share of the top places, each passage gets the
sentence that best answers the question highlighted, and the answer says whether the documents
answer the question at all.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from spasmqa.abstention import AnswerabilityModel, answer_evidence, declines, model_for
from spasmqa.chunking import Chunk
from spasmqa.corpus import Document, find_document, pages_of
from spasmqa.embedding import Embedder
from spasmqa.errors import CorpusError, QueryError
from spasmqa.store.manifest import Manifest, check_model
from spasmqa.store.protocol import ChunkStore
from spasmqa.lexical import LexicalIndex
from spasmqa.reranking import Reranker
from spasmqa.results import Answer, Highlight, Passage, SourceSpan
from spasmqa.retrieval import (
    DEFAULT_MODE,
    MODES,
    RetrievalSettings,
    SpanGroup,
    best_first,
    best_nonzero,
    cap_per_document,
    collapse_near_duplicates,
    merge_overlapping,
    near_duplicates,
    reciprocal_rank_fusion,
    rerank,
    shingles,
    single_spans,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

SAME_TEXT_PAIRS_REMEMBERED = 100_000  # about 10 MB; forgotten all at once when full


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

    def __init__(
        self, stored: ChunkStore, embedder: Embedder, documents: tuple[Document, ...] | None, reranker: Reranker
    ) -> None:
        self._stored = stored
        self._embedder = embedder
        self._reranker = reranker
        self._documents = documents
        self._model_checked = False
        self._lock = threading.Lock()
        self._lexical_cache: LexicalIndex | None = None
        self._shingle_sets: dict[int, frozenset[tuple[str, ...]]] = {}
        self._same_text_pairs: dict[tuple[int, int], bool] = {}

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
    def reranker(self) -> Reranker:
        return self._reranker

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        return self._stored.chunks

    def chunk_vectors(self) -> NDArray[np.float32]:
        """The normalised vector of every chunk, row i for ``chunks[i]`` (for maps and analysis)."""
        return self._stored.chunk_vectors(list(range(len(self.chunks))))

    def __repr__(self) -> str:
        manifest = self.manifest
        return (
            f"Index({str(self.path)!r}, documents={len(manifest.documents)}, chunks={manifest.chunk_count}, "
            f"model={manifest.model_id!r})"
        )

    def ask(
        self,
        question: str,
        *,
        k: int = 5,
        mode: str = DEFAULT_MODE,
        rerank: bool = True,
        settings: RetrievalSettings | None = None,
    ) -> Answer:
        """The ``k`` passages that best answer ``question``, best first (``k`` above the chunk count returns all).

        ``mode``: ``"hybrid"`` (default; dense and BM25 rankings fused), ``"dense"`` (embedding
        similarity) or ``"lexical"`` (BM25 over stemmed words, typos forgiven; only passages sharing a
        word with the question). With ``rerank`` (default) the index's cross-encoder reads the question
        with each of the first ``settings.rerank_depth`` passages and reorders them; ``rerank=False`` is
        the faster path without it. ``settings`` tunes fusion, reranking and diversity. Any text is
        accepted; the dense model reads only the first ``max_seq_length`` tokens (256 for the default
        model, about 1,000 characters) of a longer question.

        Example:
            >>> answer = index.ask("what helps a charley horse?", k=3)
            >>> answer.answerable, [(p.doc_id, p.section, p.start, p.end) for p in answer]
        """
        return self.ask_many([question], k=k, mode=mode, rerank=rerank, settings=settings)[0]

    def ask_many(
        self,
        questions: Sequence[str],
        *,
        k: int = 5,
        mode: str = DEFAULT_MODE,
        rerank: bool = True,
        settings: RetrievalSettings | None = None,
    ) -> list[Answer]:
        """``ask()`` for many questions at once, the same answers: each model sees them all together (in bounded runs).

        Example:
            >>> [a.answerable for a in index.ask_many(["night cramps", "eyelid twitch"], k=3)]
        """
        if isinstance(questions, str):
            raise QueryError("ask_many() takes a list of questions; for one question use ask()")
        texts = [_usable_question(question) for question in questions]
        _check_k(k)
        _check_mode(mode)
        if not isinstance(rerank, bool):
            raise QueryError(f"rerank must be True or False, got {rerank!r}")
        settings = settings if settings is not None else RetrievalSettings()
        self._ensure_model_checked()
        if not texts:
            return []
        queries = self._embedder.encode_queries(texts)
        depth = min(len(self.chunks), max(settings.candidates, k))
        scores, rows = self._stored.search(queries, depth)
        candidates = [
            self._candidates(text, queries[i], scores[i], rows[i], mode, settings) for i, text in enumerate(texts)
        ]
        logits = self._rerank_scores(candidates, settings) if rerank else [{} for _ in candidates]
        return [self._answer(c, scores, k, settings) for c, scores in zip(candidates, logits)]

    def _candidates(
        self,
        question: str,
        query: NDArray[np.float32],
        scores: NDArray[np.float32],
        rows: NDArray[np.int64],
        mode: str,
        settings: RetrievalSettings,
    ) -> _Candidates:
        dense = {row: score for row, score in zip(rows.tolist(), scores.tolist()) if row >= 0}  # IVF may pad with -1
        lexical_index = self._lexical_index()
        terms = lexical_index.terms(question)
        lexical_scores = lexical_index.scores_of(terms)
        lexical = best_nonzero(lexical_scores, len(dense))
        fusion = self._fusion(mode, dense, lexical, settings)
        matched_words = lexical_index.words_in(terms, int(lexical_scores.argmax())) if terms else 0
        return _Candidates(
            question, mode, query, dense, lexical_scores, bool(terms), matched_words, fusion, best_first(fusion)
        )

    def _rerank_scores(self, candidates: Sequence[_Candidates], settings: RetrievalSettings) -> list[dict[int, float]]:
        """The cross-encoder's logit for each question's first ``rerank_depth`` rows, all questions in one call."""
        wanted = [c.order[: settings.rerank_depth] for c in candidates]
        pairs = [(c.question, self._rerank_text(row, settings)) for c, rows in zip(candidates, wanted) for row in rows]
        flat = iter(self._reranker.score(pairs).tolist())
        return [{row: next(flat) for row in rows} for rows in wanted]

    def _rerank_text(self, row: int, settings: RetrievalSettings) -> str:
        chunk = self.chunks[row]
        return chunk.embedding_input if settings.rerank_context else chunk.text

    def _answer(self, candidates: _Candidates, logits: dict[int, float], k: int, settings: RetrievalSettings) -> Answer:
        query, dense, fusion = candidates.query, candidates.dense, candidates.fusion
        order = rerank(candidates.order, logits, settings.rerank_weight, settings.rrf_constant) if logits else candidates.order
        ranked = cap_per_document(order, self._doc_of, settings.per_document_cap)
        spans = merge_overlapping(ranked, self._span_of) if self._chunks_overlap else single_spans(ranked, self._span_of)
        groups = collapse_near_duplicates(spans, self._same_text, self._doc_of, k)
        cosines = self._cosines(query, [group.lead for group in groups], dense)
        passages = tuple(
            self._passage(
                rank, group, query, cosines[group.lead], float(candidates.lexical_scores[group.lead]), fusion[group.lead],
                logits.get(group.lead),
            )
            for rank, group in enumerate(groups, start=1)
        )
        best = max(dense.values(), default=0.0)
        best_sentence = self._stored.best_sentence_score(query, list(dense))
        best_sentence = best if best_sentence is None else best_sentence
        best_rerank_score = max(logits.values()) if logits else None
        evidence = answer_evidence((best + best_sentence) / 2, candidates.matched_words, best_rerank_score)
        model = self._answerability_model(bool(logits))
        # sharing no word with the documents is decisive, whatever the model would say
        confidence = None if model is None else model.confidence(evidence) if candidates.shares_words else 0.0
        answerable, reason = _judge(candidates.shares_words, confidence, model, bool(logits))
        return Answer(
            question=candidates.question,
            passages=passages,
            mode=candidates.mode,
            answerable=answerable,
            reason=reason,
            confidence=None if confidence is None else round(confidence, 6),
            best_similarity=round(best, 6),
            best_sentence_similarity=round(best_sentence, 6),
            answer_score=round(evidence["answer_score"], 6),
            shares_words=candidates.shares_words,
            matched_words=candidates.matched_words,
            reranker=self._reranker.reranker_id if logits else "",
            best_rerank_score=None if best_rerank_score is None else round(best_rerank_score, 6),
        )

    def _answerability_model(self, reranked: bool) -> AnswerabilityModel | None:
        """The calibrated model for this answer's evidence: for the reranker if reranked and calibrated, else the
        bi-encoder's (a cross-encoder without calibration has logits of unknown scale)."""
        models = self.manifest.answerability
        chosen = model_for(models, self._reranker.reranker_id) if reranked else None
        return chosen if chosen is not None else model_for(models, "")

    def _fusion(
        self, mode: str, dense: dict[int, float], lexical: dict[int, float], settings: RetrievalSettings
    ) -> dict[int, float]:
        if mode == "dense":
            return dense
        if mode == "lexical":
            return lexical
        return reciprocal_rank_fusion([best_first(dense), best_first(lexical)], settings.rrf_constant)

    def _ensure_model_checked(self) -> None:
        if not self._model_checked:
            with self._lock:
                if not self._model_checked:
                    check_model(self.manifest, self._embedder, self.path)
                    self._model_checked = True

    def _lexical_index(self) -> LexicalIndex:
        if self._lexical_cache is None:
            with self._lock:
                if self._lexical_cache is None:
                    self._lexical_cache = LexicalIndex([chunk.embedding_input for chunk in self.chunks])
        return self._lexical_cache

    @cached_property
    def _spans(self) -> tuple[tuple[str, int, int], ...]:
        """(document, start, end) of every chunk, by row."""
        return tuple((chunk.doc_id, chunk.start, chunk.end) for chunk in self.chunks)

    @cached_property
    def _chunks_overlap(self) -> bool:
        """Whether any two chunks of a document overlap (chunking with overlap); if not, nothing can merge."""
        spans = sorted(self._spans)
        return any(a[0] == b[0] and b[1] < a[2] for a, b in zip(spans, spans[1:]))

    def _doc_of(self, row: int) -> str:
        return self._spans[row][0]

    def _span_of(self, row: int) -> tuple[str, int, int]:
        return self._spans[row]

    def _same_text(self, kept: SpanGroup, later: SpanGroup) -> bool:
        """Whether two passages are near-identical; for single chunks the answer is remembered (it never changes)."""
        if len(kept.rows) > 1 or len(later.rows) > 1:
            return near_duplicates(self._shingles_of(kept), self._shingles_of(later))
        pair = (kept.lead, later.lead) if kept.lead < later.lead else (later.lead, kept.lead)
        same = self._same_text_pairs.get(pair)
        if same is None:
            if len(self._same_text_pairs) >= SAME_TEXT_PAIRS_REMEMBERED:
                self._same_text_pairs.clear()
            same = self._same_text_pairs[pair] = near_duplicates(self._shingles_of(kept), self._shingles_of(later))
        return same

    def _shingles_of(self, group: SpanGroup) -> frozenset[tuple[str, ...]]:
        if len(group.rows) > 1:
            return shingles(self._group_text(group))
        cached = self._shingle_sets.get(group.lead)
        if cached is None:
            cached = self._shingle_sets[group.lead] = shingles(self.chunks[group.lead].text)
        return cached

    def _group_text(self, group: SpanGroup) -> str:
        """The text of a merged span, stitched from its overlapping chunks (all exact document substrings)."""
        if len(group.rows) == 1:
            return self.chunks[group.lead].text
        chunks = sorted((self.chunks[row] for row in group.rows), key=lambda c: c.start)
        text, end = chunks[0].text, chunks[0].end
        for chunk in chunks[1:]:
            if chunk.end > end:
                text += chunk.text[end - chunk.start :]
                end = chunk.end
        return text

    def _cosines(self, query: NDArray[np.float32], rows: list[int], dense: dict[int, float]) -> dict[int, float]:
        missing = [row for row in rows if row not in dense]
        vectors = self._stored.chunk_vectors(missing)
        return {**dense, **{row: float(vector @ query) for row, vector in zip(missing, vectors)}}

    def _passage(
        self,
        rank: int,
        group: SpanGroup,
        query: NDArray[np.float32],
        cosine: float,
        lexical: float,
        fusion: float,
        rerank_score: float | None,
    ) -> Passage:
        chunk = self.chunks[group.lead]
        info = self.manifest.document(chunk.doc_id)
        return Passage(
            rank=rank,
            score=round(cosine, 6),
            text=self._group_text(group),
            doc_id=chunk.doc_id,
            title=info.title,
            source=info.source,
            section=chunk.section,
            start=group.start,
            end=group.end,
            chunk_id=chunk.chunk_id,
            lexical_score=round(lexical, 6),
            fusion_score=round(fusion, 6),
            rerank_score=None if rerank_score is None else round(rerank_score, 6),
            highlights=self._highlights(group, query),
            also_in=tuple(self._source_span(row) for row in group.duplicates),
            page=pages_of(info.page_starts, group.start, group.end),
        )

    def _highlights(self, group: SpanGroup, query: NDArray[np.float32]) -> tuple[Highlight, ...]:
        """The sentence of the passage closest to the question (its vector was stored at build time)."""
        best: tuple[float, int, int, Chunk] | None = None
        for row, vectors in zip(group.rows, self._stored.sentence_vectors(group.rows)):
            chunk = self.chunks[row]
            if not chunk.sentences:
                continue
            scores = vectors @ query
            top = int(scores.argmax())
            if best is None or float(scores[top]) > best[0]:
                best = (float(scores[top]), *chunk.sentences[top], chunk)
        if best is None:
            return ()
        score, start, end, chunk = best
        return (Highlight(start, end, chunk.text[start - chunk.start : end - chunk.start], round(score, 6)),)

    def _source_span(self, row: int) -> SourceSpan:
        chunk = self.chunks[row]
        info = self.manifest.document(chunk.doc_id)
        return SourceSpan(chunk.doc_id, info.title, info.source, chunk.section, chunk.start, chunk.end)

    def documents(self) -> tuple[Document, ...]:
        """The documents this index was built from, as checked unchanged when it was loaded."""
        if self._documents is None:
            raise CorpusError(
                f"the corpus folder {self.manifest.corpus_dir} of the index at {self.path} is not there, so its "
                "documents cannot be shown; put the corpus back or rebuild the index from where it is now"
            )
        return self._documents

    def get_document(self, doc_id: str) -> Document:
        """One document by id; ``DocumentNotFoundError`` (a ``KeyError``) names the ids there are."""
        return find_document(self.documents(), doc_id)


@dataclass(frozen=True)
class _Candidates:
    """One question's fused candidates, before reranking: what the answer is made from."""

    question: str
    mode: str
    query: NDArray[np.float32]
    dense: dict[int, float]
    lexical_scores: NDArray[np.float32]
    shares_words: bool
    matched_words: int
    fusion: dict[int, float]
    order: list[int]


def _judge(shares_words: bool, confidence: float | None, model: AnswerabilityModel | None, reranked: bool) -> tuple[bool, str]:
    """Whether the documents answer the question (``abstention.declines``), and why, in words."""
    if not shares_words:
        return False, "none of the question's words occur in these documents"
    if model is None or confidence is None:
        return True, "no abstention is calibrated for this model; passages are the closest ones"
    evidence = "" if model.reranker_id or not reranked else "; this reranker is not calibrated, so the bi-encoder's evidence alone"
    shown = f"confidence {confidence:.3f} that these passages answer it"
    if declines(shares_words, confidence, model.refuse_below):
        return False, f"{shown}, under the {model.refuse_below:.3f} needed{evidence}"
    return True, f"{shown} (refused under {model.refuse_below:.3f}{evidence})"


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
