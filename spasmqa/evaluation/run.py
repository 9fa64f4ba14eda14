"""Running a question set through retrieval systems and scoring every answer with ``spasmqa.metrics``.

Labels name documents and quote answer text verbatim; they never name chunks, so re-chunking never
invalidates them. A passage answers a question when its span covers at least half of a gold quote's
span in the same document. Out-of-domain questions (no answering document) are scored by whether they
are declined.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from spasmqa import metrics
from spasmqa.answers import Index
from spasmqa.api import default_index
from spasmqa.results import Answer
from spasmqa.corpus import Document
from spasmqa.errors import EvaluationError
from spasmqa.metrics import PairedDifference, Separation
from spasmqa.retrieval import DEFAULT_MODE, RetrievalSettings
from spasmqa.evaluation.questions import Question, default_questions_path, gold_spans, load_questions


RETRIEVAL_DEPTH = 10
DOCUMENT_METRICS = ("doc_hit@1", "doc_hit@3", "doc_hit@5", "doc_recall@5", "doc_mrr@10", "doc_ndcg@10")
READ_BUDGET = 1000  # characters a reader reads before giving up: the answer must be in them
PASSAGE_METRICS = ("passage_hit@1", "passage_hit@3", "passage_hit@5", f"read@{READ_BUDGET}", "highlight_hit@1")
ABSTENTION_METRICS = ("answerable_refused", "ood_refused", "answered_passage_hit@3")
ALL_METRICS = (*DOCUMENT_METRICS, *PASSAGE_METRICS, *ABSTENTION_METRICS)
HEADLINE_METRICS = (
    "doc_mrr@10", "passage_hit@1", "passage_hit@3", f"read@{READ_BUDGET}", "answerable_refused", "ood_refused"
)
COMPARED_METRICS = ("doc_mrr@10", "passage_hit@1", "passage_hit@3", f"read@{READ_BUDGET}")



@dataclass(frozen=True)
class QuestionResult:
    """One question through one retrieval mode: what came back and how it scored.

    ``confidence`` is the answer's ``confidence`` (None: no abstention calibrated), ``reranker`` the
    cross-encoder that reordered it ("" for none).
    """

    qid: str
    system: str
    confidence: float | None
    returned: tuple[str, ...]
    scores: dict[str, float]
    reranker: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MetricSummary:
    """A metric's mean over questions with its bootstrap 95% interval."""

    metric: str
    mean: float
    low: float
    high: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KindSummary:
    """Mean metrics of one system over the questions of one kind."""

    kind: str
    system: str
    questions: int
    means: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SystemSummary:
    """Everything measured for one retrieval mode."""

    system: str
    metrics: tuple[MetricSummary, ...]
    separation: Separation | None
    answerable_confidence_median: float | None
    unanswerable_confidence_median: float | None

    def metric(self, name: str) -> MetricSummary:
        return next(m for m in self.metrics if m.metric == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "metrics": [m.to_dict() for m in self.metrics],
            "separation": self.separation.to_dict() if self.separation else None,
            "answerable_confidence_median": self.answerable_confidence_median,
            "unanswerable_confidence_median": self.unanswerable_confidence_median,
        }


@dataclass(frozen=True)
class Comparison:
    """A paired bootstrap of two systems on one metric over the same questions."""

    metric: str
    system_a: str
    system_b: str
    difference: PairedDifference

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "system_a": self.system_a, "system_b": self.system_b, **self.difference.to_dict()}


@dataclass(frozen=True)
class Failure:
    """An answerable question the reference system missed (no answering passage in its top 5)."""

    qid: str
    question: str
    expected: tuple[str, ...]
    returned: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvalReport:
    """The outcome of one evaluation run: every system on the same questions and chunks."""

    dataset: str
    index: str
    reference: str
    questions: int
    answerable: int
    unanswerable: int
    systems: tuple[SystemSummary, ...]
    per_kind: tuple[KindSummary, ...]
    comparisons: tuple[Comparison, ...]
    failures: tuple[Failure, ...]
    results: tuple[QuestionResult, ...]

    def system(self, name: str) -> SystemSummary:
        return next(s for s in self.systems if s.system == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "index": self.index,
            "reference": self.reference,
            "questions": self.questions,
            "answerable": self.answerable,
            "unanswerable": self.unanswerable,
            "systems": [s.to_dict() for s in self.systems],
            "per_kind": [k.to_dict() for k in self.per_kind],
            "comparisons": [c.to_dict() for c in self.comparisons],
            "failures": [f.to_dict() for f in self.failures],
            "results": [r.to_dict() for r in self.results],
        }




def score_answer(question: Question, answer: Answer, spans: Sequence[metrics.Span]) -> dict[str, float]:
    """Every metric of one question's answer: retrieval metrics if answerable, and whether it abstained."""
    if not question.answerable:
        return {"ood_refused": float(not answer.answerable)}
    ranking = [p.doc_id for p in answer]
    relevant = question.relevant_docs
    scores = {
        "doc_hit@1": metrics.hit_at(ranking, relevant, 1),
        "doc_hit@3": metrics.hit_at(ranking, relevant, 3),
        "doc_hit@5": metrics.hit_at(ranking, relevant, 5),
        "doc_recall@5": metrics.recall_at(ranking, relevant, 5),
        "doc_mrr@10": metrics.reciprocal_rank(ranking, relevant, 10),
        "doc_ndcg@10": metrics.ndcg_at(ranking, relevant, 10),
        "answerable_refused": float(not answer.answerable),
    }
    if spans:
        passages = [metrics.Span(p.doc_id, p.start, p.end) for p in answer]
        for k in (1, 3, 5):
            scores[f"passage_hit@{k}"] = metrics.passage_hit_at(passages, spans, k)
        scores[f"read@{READ_BUDGET}"] = metrics.read_hit(passages, spans, READ_BUDGET)
        scores["answered_passage_hit@3"] = scores["passage_hit@3"] * answer.answerable
        highlights = [metrics.Span(p.doc_id, h.start, h.end) for p in answer[:1] for h in p.highlights[:1]]
        scores["highlight_hit@1"] = float(any(_overlap(h, gold) for h in highlights for gold in spans))
    return scores


def _overlap(a: metrics.Span, b: metrics.Span) -> bool:
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end


@dataclass(frozen=True)
class System:
    """A retrieval configuration under evaluation: a mode of ``Index.ask``, reranked or not, and its settings."""

    name: str
    mode: str
    settings: RetrievalSettings
    rerank: bool = False


def default_systems() -> tuple[System, ...]:
    """Each step of the pipeline on its own, the fast path (``rerank=False``), then the library's default (the reference)."""
    plain = RetrievalSettings(per_document_cap=None)
    return (
        System("dense", "dense", plain),
        System("lexical", "lexical", plain),
        System("hybrid", "hybrid", plain),
        System("fast", DEFAULT_MODE, RetrievalSettings()),
        System("default", DEFAULT_MODE, RetrievalSettings(), rerank=True),
    )


Retriever = Callable[[Sequence[str], System], list[Answer]]


def evaluate(
    index: Index | None = None,
    questions: Sequence[Question] | None = None,
    *,
    systems: Sequence[System] | None = None,
    dataset: str = "",
) -> EvalReport:
    """Run every question through every system on ``index`` and summarise the metrics.

    Defaults: the bundled corpus's index and question set, and ``default_systems()``. Intervals are
    percentile bootstraps (95%, 10,000 resamples, fixed seed); every system is compared with the last
    one (the reference) by a paired bootstrap.

    Example:
        >>> report = spasmqa.evaluate()
        >>> report.system("default").metric("passage_hit@3").mean
    """
    index = index if index is not None else default_index()
    questions = tuple(questions) if questions is not None else load_questions()
    docs = {doc.doc_id: doc for doc in index.documents()}
    return run_evaluation(
        lambda texts, system: index.ask_many(
            texts, k=RETRIEVAL_DEPTH, mode=system.mode, rerank=system.rerank, settings=system.settings
        ),
        questions,
        docs,
        systems=tuple(systems) if systems is not None else default_systems(),
        dataset=dataset or str(default_questions_path()),
        index_name=str(index.path),
    )


def run_evaluation(
    retrieve: Retriever,
    questions: Sequence[Question],
    docs: dict[str, Document],
    *,
    systems: Sequence[System],
    dataset: str,
    index_name: str,
) -> EvalReport:
    """The evaluation loop over any retriever ``retrieve(question_texts, system) -> answers``."""
    if not questions or not any(q.answerable for q in questions):
        raise EvaluationError("the question set has no answerable question; add some with their answers")
    spans = {q.qid: gold_spans(q, docs) for q in questions}
    results: list[QuestionResult] = []
    answers: dict[tuple[str, str], Answer] = {}
    for system in systems:
        for question, answer in zip(questions, retrieve([q.text for q in questions], system)):
            answers[question.qid, system.name] = answer
            scores = score_answer(question, answer, spans[question.qid])
            chunk_ids = tuple(p.chunk_id for p in answer)
            results.append(QuestionResult(question.qid, system.name, answer.confidence, chunk_ids, scores, answer.reranker))
    names = [system.name for system in systems]
    reference = names[-1]
    return EvalReport(
        dataset=dataset,
        index=index_name,
        reference=reference,
        questions=len(questions),
        answerable=sum(q.answerable for q in questions),
        unanswerable=sum(not q.answerable for q in questions),
        systems=tuple(_summarise(name, questions, results) for name in names),
        per_kind=_per_kind(questions, results, names),
        comparisons=_comparisons(results, names, reference),
        failures=_failures(questions, results, answers, reference),
        results=tuple(results),
    )


def metric_names(results: Sequence[QuestionResult]) -> list[str]:
    present = {name for r in results for name in r.scores}
    return [name for name in ALL_METRICS if name in present]


def _summarise(name: str, questions: Sequence[Question], results: Sequence[QuestionResult]) -> SystemSummary:
    mine = [r for r in results if r.system == name]
    answerable = {q.qid for q in questions if q.answerable}
    summaries = []
    for metric in metric_names(mine):
        values = [r.scores[metric] for r in mine if metric in r.scores]
        interval = metrics.bootstrap_interval(values)
        summaries.append(MetricSummary(metric, interval.mean, interval.low, interval.high))
    positive = [r.confidence for r in mine if r.qid in answerable and r.confidence is not None]
    negative = [r.confidence for r in mine if r.qid not in answerable and r.confidence is not None]
    return SystemSummary(
        system=name,
        metrics=tuple(summaries),
        separation=metrics.threshold_separation(positive, negative) if positive and negative else None,
        answerable_confidence_median=statistics.median(positive) if positive else None,
        unanswerable_confidence_median=statistics.median(negative) if negative else None,
    )


def _group(question: Question) -> str:
    return question.kind if question.answerable else f"out-of-domain ({question.style or 'all'})"


def _per_kind(questions: Sequence[Question], results: Sequence[QuestionResult], names: Sequence[str]) -> tuple[KindSummary, ...]:
    summaries = []
    for group in sorted({_group(q) for q in questions}):
        qids = {q.qid for q in questions if _group(q) == group}
        for name in names:
            mine = [r for r in results if r.system == name and r.qid in qids]
            means = {
                metric: statistics.fmean(r.scores[metric] for r in mine if metric in r.scores)
                for metric in metric_names(mine)
            }
            summaries.append(KindSummary(group, name, len(qids), means))
    return tuple(summaries)


def _comparisons(results: Sequence[QuestionResult], names: Sequence[str], reference: str) -> tuple[Comparison, ...]:
    comparisons = []
    for other in (name for name in names if name != reference):
        for metric in COMPARED_METRICS:
            a = {r.qid: r.scores[metric] for r in results if r.system == reference and metric in r.scores}
            b = {r.qid: r.scores[metric] for r in results if r.system == other and metric in r.scores}
            shared = sorted(a.keys() & b.keys())
            if shared:
                difference = metrics.paired_bootstrap([a[q] for q in shared], [b[q] for q in shared])
                comparisons.append(Comparison(metric, reference, other, difference))
    return tuple(comparisons)


def _failures(
    questions: Sequence[Question],
    results: Sequence[QuestionResult],
    answers: dict[tuple[str, str], Answer],
    name: str,
) -> tuple[Failure, ...]:
    by_qid = {r.qid: r for r in results if r.system == name}
    failures = []
    for question in questions:
        scores = by_qid[question.qid].scores
        missed = scores.get("passage_hit@5", scores.get("doc_hit@5", 1.0)) == 0.0
        if question.answerable and missed:
            returned = tuple(
                f"{p.doc_id} › {p.section or '(no heading)'} ({p.score:.2f}): {' '.join(p.text.split())[:70]}…"
                for p in answers[question.qid, name][:3]
            )
            failures.append(Failure(question.qid, question.text, tuple(sorted(question.relevant_docs)), returned))
    return tuple(failures)
