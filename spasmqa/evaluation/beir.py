"""BEIR folders: their queries and qrels as questions, our set exported in that format, and scores as in the literature."""

from __future__ import annotations

import csv
import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from spasmqa import metrics
from spasmqa.answers import Index
from spasmqa.api import build
from spasmqa.results import Answer
from spasmqa.corpus import Document, load_corpus
from spasmqa.errors import EvaluationError
from spasmqa.evaluation.questions import GoldAnswer, Question, load_questions, read_jsonl
from spasmqa.evaluation.run import MetricSummary, QuestionResult, System, default_systems


# Documents ranked per query: map_cut_100 and recall_100 look this deep, as in the BEIR paper's tables.
BEIR_DEPTH = 100
# trec_eval's names (BEIR computes them with pytrec_eval). trec_eval's recip_rank has no cut, so the
# reciprocal rank within the first 10 documents (BEIR's MRR@10, ir_measures' RR@10) is named like
# ndcg_cut_10: recip_rank_cut_10.
BEIR_METRICS = ("ndcg_cut_10", "map_cut_100", "recall_100", "recip_rank_cut_10")


@dataclass(frozen=True)
class BeirSystemSummary:
    """One system's BEIR metrics, each a mean over the queries with its bootstrap 95% interval."""

    system: str
    metrics: tuple[MetricSummary, ...]

    def metric(self, name: str) -> MetricSummary:
        return next(m for m in self.metrics if m.metric == name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BeirReport:
    """Every system on a BEIR folder's queries, with documents ranked by their best passage.

    ``unindexed_documents`` are the documents that qrels name but the index lacks (records left out as
    empty or unreadable, or not in ``corpus.jsonl``); ``unindexed_labels`` counts the (query, document)
    labels naming them. They stay in the metrics as relevant documents never retrieved, as trec_eval counts them.
    ``results`` holds each query's scores and its ranked document ids.
    """

    dataset: str
    index: str
    queries: int
    passages_per_query: int
    systems: tuple[BeirSystemSummary, ...]
    unindexed_labels: int
    unindexed_documents: tuple[str, ...]
    results: tuple[QuestionResult, ...]

    def system(self, name: str) -> BeirSystemSummary:
        return next(s for s in self.systems if s.system == name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_beir_questions(folder: str | Path, split: str = "test") -> tuple[Question, ...]:
    """Queries and graded document labels of a BEIR folder (``queries.jsonl``, ``qrels/<split>.tsv``).

    A label's score becomes its ``GoldAnswer.grade``; labels scored 0 or less (judged not relevant) are
    dropped, and so are queries left without a label.
    """
    root = Path(folder)
    texts = {str(r["_id"]): str(r["text"]) for r in read_jsonl(root / "queries.jsonl")}
    grades: dict[str, dict[str, int]] = {}
    qrels = root / "qrels" / f"{split}.tsv"
    try:
        with qrels.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
    except OSError as exc:
        raise EvaluationError(f"cannot read {qrels} ({exc.strerror}); a BEIR folder needs qrels/{split}.tsv") from exc
    for row in rows[1:] if rows and not rows[0][-1].lstrip("-").isdigit() else rows:
        query_id, doc_id, grade = row[0], row[1], int(row[-1])
        if grade > 0:
            grades.setdefault(query_id, {})[doc_id] = grade
    missing = sorted(set(grades) - set(texts))
    if missing:
        raise EvaluationError(f"{qrels} labels queries missing from queries.jsonl: {', '.join(missing[:5])}")
    return tuple(
        Question(qid, texts[qid], "", "", tuple(GoldAnswer(doc_id, (), grade) for doc_id, grade in labels.items()))
        for qid, labels in grades.items()
    )


def export_beir(out_dir: str | Path, questions: Sequence[Question] | None = None, documents: Sequence[Document] | None = None) -> Path:
    """Write a question set and its corpus in BEIR format (answerable questions, graded document labels)."""
    out = Path(out_dir)
    docs = tuple(documents) if documents is not None else load_corpus()
    labelled = [q for q in (questions if questions is not None else load_questions(documents=docs)) if q.answerable]
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    _write_jsonl(out / "corpus.jsonl", [{"_id": d.doc_id, "title": d.title, "text": d.text} for d in docs])
    _write_jsonl(out / "queries.jsonl", [{"_id": q.qid, "text": q.text} for q in labelled])
    with (out / "qrels" / "test.tsv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["query-id", "corpus-id", "score"])
        writer.writerows([q.qid, doc_id, grade] for q in labelled for doc_id, grade in sorted(_grades(q).items()))
    return out


def _write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _grades(question: Question) -> dict[str, int]:
    return {answer.doc_id: answer.grade for answer in question.answers}


def evaluate_beir(
    folder: str | Path,
    *,
    index_dir: str | Path | None = None,
    model: str | None = None,
    systems: Sequence[System] | None = None,
    strict: bool = False,
) -> BeirReport:
    """Build an index of a BEIR folder's corpus (in a temporary directory unless given) and evaluate it.

    Records of ``corpus.jsonl`` that cannot be documents (empty, unreadable) are left out with a
    ``SkippedDocumentsWarning``, or with ``strict=True`` refused with a ``CorpusError``. See
    ``evaluate_beir_index`` for how documents are ranked and scored.
    """
    questions = load_beir_questions(folder)
    with tempfile.TemporaryDirectory(prefix="spasmqa-beir-") as scratch:
        index = build(folder, index_dir if index_dir is not None else Path(scratch) / "index", model=model, strict=strict)
        return evaluate_beir_index(index, questions, systems=systems, dataset=str(folder))


def evaluate_beir_index(
    index: Index, questions: Sequence[Question], *, systems: Sequence[System] | None = None, dataset: str = ""
) -> BeirReport:
    """Score every system's document ranking on labelled queries with the BEIR metrics, as in the literature.

    Each query asks for ``BEIR_DEPTH`` passages times the mean chunks per document (so that about
    ``BEIR_DEPTH`` documents are reached), at least ``BEIR_DEPTH``, at most every chunk. A document ranks
    where its best passage does; one whose passage was folded into a near-identical better one
    (``Passage.also_in``) ranks right behind that passage's document. The first ``BEIR_DEPTH`` documents
    are scored with trec_eval's measures: ``ndcg_cut_10`` with each label's grade as its gain,
    ``map_cut_100``, ``recall_100``, and ``recip_rank_cut_10``, trec_eval's recip_rank over the first 10
    documents (BEIR's MRR@10). Defaults: ``default_systems()``.
    """
    if not questions:
        raise EvaluationError("there are no labelled queries; a BEIR folder needs qrels with a positive score")
    systems = tuple(systems) if systems is not None else default_systems()
    passages = _beir_passages(index)
    results = []
    for system in systems:
        texts = [q.text for q in questions]
        answers = index.ask_many(texts, k=passages, mode=system.mode, rerank=system.rerank, settings=system.settings)
        for question, answer in zip(questions, answers):
            ranking = _document_ranking(answer)
            scores = score_beir(question, ranking)
            results.append(QuestionResult(question.qid, system.name, answer.confidence, ranking, scores, answer.reranker))
    indexed = {document.doc_id for document in index.manifest.documents}
    unindexed = [doc_id for q in questions for doc_id in _grades(q) if doc_id not in indexed]
    return BeirReport(
        dataset=dataset,
        index=str(index.path),
        queries=len(questions),
        passages_per_query=passages,
        systems=tuple(_beir_summary(system.name, results) for system in systems),
        unindexed_labels=len(unindexed),
        unindexed_documents=tuple(sorted(set(unindexed))),
        results=tuple(results),
    )


def score_beir(question: Question, ranking: Sequence[str]) -> dict[str, float]:
    """The BEIR metrics (``BEIR_METRICS``) of one query's ranked document ids; see ``evaluate_beir_index``."""
    grades = _grades(question)
    relevant = {doc_id for doc_id, grade in grades.items() if grade > 0}
    return {
        "ndcg_cut_10": metrics.graded_ndcg_at(ranking, grades, 10),
        "map_cut_100": metrics.average_precision_at(ranking, relevant, BEIR_DEPTH),
        "recall_100": metrics.recall_at(ranking, relevant, BEIR_DEPTH),
        "recip_rank_cut_10": metrics.reciprocal_rank(ranking, relevant, 10),
    }


def _beir_passages(index: Index) -> int:
    chunks = index.manifest.chunk_count
    return min(chunks, max(BEIR_DEPTH, math.ceil(BEIR_DEPTH * chunks / len(index.manifest.documents))))


def _document_ranking(answer: Answer) -> tuple[str, ...]:
    ranked = metrics.unique_in_order(doc_id for p in answer for doc_id in (p.doc_id, *(s.doc_id for s in p.also_in)))
    return tuple(ranked[:BEIR_DEPTH])


def _beir_summary(name: str, results: Sequence[QuestionResult]) -> BeirSystemSummary:
    mine = [r for r in results if r.system == name]
    summaries = []
    for metric in BEIR_METRICS:
        interval = metrics.bootstrap_interval([r.scores[metric] for r in mine])
        summaries.append(MetricSummary(metric, interval.mean, interval.low, interval.high))
    return BeirSystemSummary(name, tuple(summaries))
