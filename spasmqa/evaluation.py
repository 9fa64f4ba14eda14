"""Evaluation: a labelled question set run through every retrieval mode and scored with ``spasmqa.metrics``.

Labels name documents and quote answer text verbatim; they never name chunks, so re-chunking never
invalidates them. A passage answers a question when its span covers at least half of a gold quote's
span in the same document. Out-of-domain questions (no answering document) are scored only by how
well the top retrieval score tells them apart from answerable ones.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from spasmqa import metrics
from spasmqa.abstention import FAST_FEATURES, REFUSE_BELOW, RERANKED_FEATURES, AnswerabilityModel, answer_evidence, declines
from spasmqa.answers import DEFAULT_MODE, Answer, Index
from spasmqa.chunking import ChunkSettings
from spasmqa.corpus import Document, bundled_corpus_dir, load_corpus
from spasmqa.errors import EvaluationError
from spasmqa.index import BuildSummary
from spasmqa.metrics import PairedDifference, Separation
from spasmqa.retrieval import RetrievalSettings

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
class GoldAnswer:
    """A document that answers a question, with verbatim quotes of the answering text (may be empty).

    ``grade`` is how relevant the document is, the gain of graded nDCG (BEIR qrels' score; 1 in the bundled set).
    """

    doc_id: str
    quotes: tuple[str, ...]
    grade: int = 1


@dataclass(frozen=True)
class Question:
    """A labelled question; no answers means out of domain (nothing in the corpus answers it)."""

    qid: str
    text: str
    kind: str
    style: str
    answers: tuple[GoldAnswer, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.answers)

    @property
    def relevant_docs(self) -> frozenset[str]:
        return frozenset(answer.doc_id for answer in self.answers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.qid,
            "question": self.text,
            "kind": self.kind,
            "style": self.style,
            "answers": [{"doc_id": a.doc_id, "quotes": list(a.quotes)} for a in self.answers],
        }


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


def default_questions_path() -> Path:
    """The development question set: every setting and calibration is chosen on it."""
    return bundled_corpus_dir() / "eval" / "questions.jsonl"


def held_out_questions_path() -> Path:
    """The held-out test set, written in other voices and never tuned on: it only reports."""
    return bundled_corpus_dir() / "eval" / "test_questions.jsonl"


def bundled_question_sets() -> dict[str, Path]:
    return {"development": default_questions_path(), "test": held_out_questions_path()}


def load_questions(path: str | Path | None = None, documents: Sequence[Document] | None = None) -> tuple[Question, ...]:
    """Read a question set (JSON Lines) and check it against the documents (default: the bundled corpus).

    Each line: ``{"id", "question", "kind", "style", "answers": [{"doc_id", "quotes": [...]}]}``. Ids
    must be unique, documents must exist, and every quote must be a verbatim substring of its
    document's cleaned text.
    """
    source = Path(path) if path is not None else default_questions_path()
    docs = {doc.doc_id: doc for doc in (documents if documents is not None else load_corpus())}
    questions = []
    for number, record in enumerate(_read_jsonl(source), start=1):
        try:
            question = _question(record)
        except (KeyError, TypeError) as exc:
            raise EvaluationError(f"{source} line {number} is not a question record ({exc}); see load_questions()") from exc
        _check_labels(question, docs, f"{source} line {number}")
        questions.append(question)
    ids = [q.qid for q in questions]
    duplicates = sorted({qid for qid in ids if ids.count(qid) > 1})
    if duplicates:
        raise EvaluationError(f"{source} repeats question ids {', '.join(duplicates)}; make every id unique")
    return tuple(questions)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except OSError as exc:
        raise EvaluationError(f"cannot read {path} ({exc.strerror}); pass an existing file") from exc
    except ValueError as exc:
        raise EvaluationError(f"{path} is not JSON Lines ({exc}); write one JSON object per line") from exc


def _question(record: dict[str, Any]) -> Question:
    answers = tuple(GoldAnswer(str(a["doc_id"]), tuple(a.get("quotes", ()))) for a in record["answers"])
    return Question(str(record["id"]), str(record["question"]), record.get("kind", ""), record.get("style", ""), answers)


def _check_labels(question: Question, docs: dict[str, Document], where: str) -> None:
    for answer in question.answers:
        if answer.doc_id not in docs:
            raise EvaluationError(f"{where}: unknown document {answer.doc_id!r}; the documents are {', '.join(docs)}")
        for quote in answer.quotes:
            if not quote or quote not in docs[answer.doc_id].text:
                raise EvaluationError(
                    f"{where}: quote {quote[:60]!r} is not verbatim in {answer.doc_id}; copy it from the "
                    "document's cleaned text (spasmqa.get_document(...).text)"
                )


def gold_spans(question: Question, docs: dict[str, Document]) -> list[metrics.Span]:
    """Every occurrence of every gold quote, as document spans."""
    spans = []
    for answer in question.answers:
        text = docs[answer.doc_id].text
        for quote in answer.quotes:
            start = text.find(quote)
            while start >= 0:
                spans.append(metrics.Span(answer.doc_id, start, start + len(quote)))
                start = text.find(quote, start + 1)
    return spans


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
    from spasmqa.api import default_index

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


def _metric_names(results: Sequence[QuestionResult]) -> list[str]:
    present = {name for r in results for name in r.scores}
    return [name for name in ALL_METRICS if name in present]


def _summarise(name: str, questions: Sequence[Question], results: Sequence[QuestionResult]) -> SystemSummary:
    mine = [r for r in results if r.system == name]
    answerable = {q.qid for q in questions if q.answerable}
    summaries = []
    for metric in _metric_names(mine):
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
                for metric in _metric_names(mine)
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


# --- choosing chunk settings ----------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One configuration's figures on the whole question set and on its two halves."""

    name: str
    means: dict[str, float]
    half_a: float
    half_b: float

    @property
    def rank_key(self) -> tuple[float, float]:
        """Sort key, best first: a setting is only as good as its weaker half (ties: the sum of both)."""
        return -min(self.half_a, self.half_b), -(self.half_a + self.half_b)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def selection_score(
    report: EvalReport, system: str, qids: frozenset[str] | None = None, *, by: Sequence[str] = ("passage_hit@3", "doc_mrr@10")
) -> float:
    """What settings are chosen by: the mean over answerable questions of the mean of the metrics ``by``
    (chunking and fusion: passage Hit@3 and document MRR@10)."""
    rows = [r for r in report.results if r.system == system and by[0] in r.scores and (qids is None or r.qid in qids)]
    return statistics.fmean(statistics.fmean(r.scores[metric] for metric in by) for r in rows)


def question_halves(questions: Sequence[Question]) -> tuple[frozenset[str], frozenset[str]]:
    """Odd- and even-numbered questions, so a choice made on one half can be checked on the other."""
    first = frozenset(q.qid for i, q in enumerate(questions) if i % 2 == 0)
    return first, frozenset(q.qid for q in questions) - first


def _trial(report: EvalReport, name: str, halves: tuple[frozenset[str], frozenset[str]]) -> Trial:
    means = {m.metric: m.mean for m in report.system(name).metrics}
    return Trial(name, means, selection_score(report, name, halves[0]), selection_score(report, name, halves[1]))


def compare_systems(systems: Sequence[System], index: Index | None = None, questions: Sequence[Question] | None = None) -> tuple[Trial, ...]:
    """Evaluate retrieval configurations on one index and the same questions, whole and by halves."""
    report = evaluate(index, questions, systems=systems)
    halves = question_halves(questions if questions is not None else load_questions())
    return tuple(_trial(report, system.name, halves) for system in systems)


DENSE_ONLY = System("dense", "dense", RetrievalSettings(per_document_cap=None))


def compare_chunk_settings(
    candidates: Sequence[ChunkSettings], *, corpus_dir: str | Path | None = None, questions: Sequence[Question] | None = None,
    system: System = DENSE_ONLY,
) -> tuple[tuple[ChunkSettings, BuildSummary, Trial], ...]:
    """Build one index per candidate (one model load for all) and evaluate each on the same questions."""
    from spasmqa.embedding import Embedder
    from spasmqa.index import build_index
    from spasmqa.reranking import Reranker

    embedder = Embedder()
    documents = load_corpus(corpus_dir)
    questions = tuple(questions) if questions is not None else load_questions(documents=documents)
    halves = question_halves(questions)
    trials = []
    with tempfile.TemporaryDirectory(prefix="spasmqa-chunking-") as scratch:
        for number, candidate in enumerate(candidates):
            stored, summary, _ = build_index(corpus_dir, Path(scratch) / str(number), embedder=embedder, settings=candidate)
            report = evaluate(Index(stored, embedder, documents, Reranker()), questions, systems=(system,))
            trials.append((candidate, summary, _trial(report, system.name, halves)))
    return tuple(trials)


# --- BEIR format -----------------------------------------------------------------------------------


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
    texts = {str(r["_id"]): str(r["text"]) for r in _read_jsonl(root / "queries.jsonl")}
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
    from spasmqa.api import build

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


def _format_beir(report: BeirReport) -> str:
    lines = [
        f"{report.queries} queries from {report.dataset}, documents ranked by their best passage "
        f"({report.passages_per_query} passages per query)",
        f"index {report.index}",
        "",
        _table(["system", *BEIR_METRICS], [[s.system, *(f"{s.metric(n).mean:.3f}" for n in BEIR_METRICS)] for s in report.systems]),
        "",
        "bootstrap 95% intervals",
        _table(["system", *BEIR_METRICS], [[s.system, *(_interval(s.metric(n)) for n in BEIR_METRICS)] for s in report.systems]),
        "",
        "qrels naming a document not in the index (left out as empty or unreadable, or not in corpus.jsonl), "
        f"counted as relevant and never retrieved: labels {report.unindexed_labels}, "
        f"documents {len(report.unindexed_documents)}" + "".join(f"\n  {doc_id}" for doc_id in report.unindexed_documents),
    ]
    return "\n".join(lines)


# --- the printed report ---------------------------------------------------------------------------


def format_report(report: EvalReport | BeirReport) -> str:
    """The report as plain-text tables: systems by metrics, intervals, comparisons, kinds, scores, failures.

    A BEIR report has its own tables: systems by the BEIR metrics, their intervals, and unindexed qrels.
    """
    if isinstance(report, BeirReport):
        return _format_beir(report)
    names = _metric_names(report.results)
    document_names = [n for n in names if n.startswith("doc_")]
    other_names = [n for n in names if not n.startswith("doc_")]
    lines = [
        f"{report.questions} questions ({report.answerable} answerable, {report.unanswerable} out of domain) "
        f"from {report.dataset}",
        f"index {report.index}",
        "",
        _table(["system", *document_names], [[s.system, *(f"{s.metric(n).mean:.3f}" for n in document_names)] for s in report.systems]),
    ]
    if other_names:
        lines += ["", _table(["system", *other_names], [[s.system, *(f"{s.metric(n).mean:.3f}" for n in other_names)] for s in report.systems])]
    lines += [
        "",
        "headline metrics with bootstrap 95% intervals",
        _table(
            ["system", *(n for n in HEADLINE_METRICS if n in names)],
            [
                [s.system, *(_interval(s.metric(n)) for n in HEADLINE_METRICS if n in names)]
                for s in report.systems
            ],
        ),
    ]
    if report.comparisons:
        lines += ["", "paired bootstrap (difference a - b, 95% interval, two-sided p)"]
        lines += [
            f"  {c.metric:<14} {c.system_a} - {c.system_b}: {c.difference.mean_difference:+.3f} "
            f"[{c.difference.low:+.3f}, {c.difference.high:+.3f}]  p={c.difference.p_value:.3f}"
            for c in report.comparisons
        ]
    if report.per_kind and report.per_kind[0].kind:
        lines += ["", _per_kind_table(report)]
    reference = report.system(report.reference)
    if reference.separation and reference.unanswerable_confidence_median is not None:
        # The reference system's confidence (what abstention judges).
        separation = reference.separation
        lines += ["", "confidence (abstention evidence): answerable vs out-of-domain questions"]
        lines.append(
            _table(
                ["median answerable", "median ood", "ROC AUC", "best threshold", "TPR", "FPR"],
                [[
                    f"{reference.answerable_confidence_median:.3f}",
                    f"{reference.unanswerable_confidence_median:.3f}",
                    f"{separation.roc_auc:.3f}",
                    f"{separation.best_threshold:.3f}",
                    f"{separation.true_positive_rate:.3f}",
                    f"{separation.false_positive_rate:.3f}",
                ]],
            )
        )
    lines += ["", f"failures of {report.reference} (no answering passage in the top 5): {len(report.failures)}"]
    for failure in report.failures:
        lines.append(f"  {failure.qid} {failure.question!r}  expected {', '.join(failure.expected)}")
        lines += [f"      got {item}" for item in failure.returned]
    return "\n".join(lines)


def format_side_by_side(reports: dict[str, EvalReport]) -> str:
    """Headline metrics of every system on several question sets (same systems in each), one row per system and set."""
    first = next(iter(reports.values()))
    names = [n for n in HEADLINE_METRICS if n in _metric_names(first.results)]
    rows = [
        [system.system, label, *(f"{report.system(system.system).metric(n).mean:.3f}" for n in names)]
        for system in first.systems
        for label, report in reports.items()
    ]
    sizes = ", ".join(f"{label}: {r.answerable} answerable + {r.unanswerable} out of domain" for label, r in reports.items())
    return f"side by side ({sizes})\n" + _table(["system", "questions", *names], rows)


def _interval(summary: MetricSummary) -> str:
    return f"{summary.mean:.3f} [{summary.low:.3f}, {summary.high:.3f}]"


def _per_kind_table(report: EvalReport) -> str:
    systems = [s.system for s in report.systems]
    metric = "passage_hit@3" if "passage_hit@3" in _metric_names(report.results) else "doc_hit@3"
    rows = []
    for kind in sorted({k.kind for k in report.per_kind}):
        entries = {k.system: k for k in report.per_kind if k.kind == kind}
        shown = "ood_refused" if kind.startswith("out-of-domain") else metric
        rows.append([kind, str(entries[systems[0]].questions), *(f"{entries[s].means.get(shown, 0.0):.3f}" for s in systems)])
    return f"by question kind: {metric} (answerable kinds), share refused (out of domain)\n" + _table(["kind", "n", *systems], rows)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def render(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([render(header), render(["-" * w for w in widths]), *(render(row) for row in rows)])


# --- calibrating abstention -------------------------------------------------------------------------

CALIBRATION_FOLDS = 5
CALIBRATION_REPEATS = 20
RELIABILITY_BINS = 10


@dataclass(frozen=True)
class RefusalRates:
    """Shares of questions refused, by what they are: answerable, and out of domain by ``style``."""

    answerable: float
    out_of_domain: float
    by_style: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReliabilityBin:
    """Out-of-fold predictions in ``[low, high)``: their mean and the share of those questions that were answerable."""

    low: float
    high: float
    questions: int
    predicted: float
    observed: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Calibration:
    """An answerability model fitted on a question set, with what it does there and on held-out questions.

    ``held_out`` are the refusal rates of cross-validation (``folds`` folds, ``repeats`` shuffles): each
    question judged by a model fitted without it, averaged over repeats; ``held_out_worst`` the least
    favourable repeat of each rate. ``reliability`` bins those out-of-fold confidences against what
    the questions were (a reliability diagram); ``brier`` is their mean squared error.
    """

    embedding_model_id: str
    model: AnswerabilityModel
    questions: int
    in_sample: RefusalRates
    held_out: RefusalRates
    held_out_worst: RefusalRates
    folds: int
    repeats: int
    brier: float
    roc_auc: float
    reliability: tuple[ReliabilityBin, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Evidence:
    answerable: bool
    style: str
    shares_words: bool
    features: tuple[float, ...]


def calibrate_abstention(
    index: Index | None = None,
    questions: Sequence[Question] | None = None,
    *,
    reranked: bool = True,
    folds: int = CALIBRATION_FOLDS,
    repeats: int = CALIBRATION_REPEATS,
    seed: int = 0,
) -> Calibration:
    """Fit the answerability model (logistic regression) for answers reranked by the index's reranker, or not.

    Features: ``abstention.RERANKED_FEATURES`` or ``FAST_FEATURES``, from each question's answer
    (``abstention.answer_evidence``).
    Questions sharing no word with the documents are refused by rule and take no part in the fit. The
    refusal cut is ``abstention.REFUSE_BELOW`` (from the cost of a wrong refusal), not fitted.
    """
    from spasmqa.api import default_index

    index = index if index is not None else default_index()
    questions = tuple(questions) if questions is not None else load_questions()
    names = RERANKED_FEATURES if reranked else FAST_FEATURES
    answers = index.ask_many([q.text for q in questions], k=1, rerank=reranked)
    evidence = [
        _Evidence(q.answerable, q.style, a.shares_words, _features(a, names)) for q, a in zip(questions, answers)
    ]
    fitted = [e for e in evidence if e.shares_words]
    if len({e.answerable for e in fitted}) < 2:
        raise EvaluationError("calibrating abstention needs answerable and out-of-domain questions in the set")
    model = _fit(fitted, names, index.reranker.reranker_id if reranked else "")
    out_of_fold = _cross_validated(evidence, names, folds, repeats, seed)
    per_repeat = [_rates(evidence, predictions) for predictions in out_of_fold]
    flat = [(p, e.answerable) for predictions in out_of_fold for p, e in zip(predictions, evidence) if e.shares_words]
    return Calibration(
        embedding_model_id=index.manifest.model_id,
        model=model,
        questions=len(questions),
        in_sample=_rates(evidence, [model.confidence(dict(zip(names, e.features))) for e in evidence]),
        held_out=_mean_rates(per_repeat),
        held_out_worst=_worst_rates(per_repeat),
        folds=folds,
        repeats=repeats,
        brier=round(statistics.fmean((p - float(y)) ** 2 for p, y in flat), 4),
        roc_auc=round(metrics.threshold_separation([p for p, y in flat if y], [p for p, y in flat if not y]).roc_auc, 4),
        reliability=reliability_bins(flat),
    )


def _features(answer: Answer, names: tuple[str, ...]) -> tuple[float, ...]:
    found = answer_evidence(answer.answer_score, answer.matched_words, answer.best_rerank_score)
    return tuple(found[name] for name in names)


def _fit(evidence: Sequence[_Evidence], names: tuple[str, ...], reranker_id: str) -> AnswerabilityModel:
    """Logistic regression on standardised features (scikit-learn's default L2 penalty), stated on raw features."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.array([e.features for e in evidence], dtype=np.float64)
    y = np.array([e.answerable for e in evidence])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-12
    fitted = LogisticRegression().fit((x - mean) / scale, y)
    weights = fitted.coef_[0] / scale
    intercept = float(fitted.intercept_[0] - (weights * mean).sum())
    return AnswerabilityModel(reranker_id, names, tuple(round(float(w), 6) for w in weights), round(intercept, 6))


def _cross_validated(
    evidence: Sequence[_Evidence], names: tuple[str, ...], folds: int, repeats: int, seed: int
) -> list[list[float]]:
    """Per repeat, every question's confidence from a model fitted on the other folds (0 for no shared word)."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    fitted = [i for i, e in enumerate(evidence) if e.shares_words]
    labels = [evidence[i].answerable for i in fitted]
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    runs: list[list[float]] = []
    for number, (train, test) in enumerate(splitter.split(fitted, labels)):
        if number % folds == 0:
            runs.append([0.0] * len(evidence))
        model = _fit([evidence[fitted[i]] for i in train], names, "")
        for i in test:
            runs[-1][fitted[i]] = model.confidence(dict(zip(names, evidence[fitted[i]].features)))
    return runs


def _rates(evidence: Sequence[_Evidence], confidences: Sequence[float]) -> RefusalRates:
    refused = [declines(e.shares_words, c, REFUSE_BELOW) for e, c in zip(evidence, confidences)]

    def share(keep: Callable[[_Evidence], bool]) -> float:
        chosen = [r for r, e in zip(refused, evidence) if keep(e)]
        return round(statistics.fmean(chosen), 4) if chosen else 0.0

    styles = sorted({e.style for e in evidence if not e.answerable})
    return RefusalRates(
        share(lambda e: e.answerable),
        share(lambda e: not e.answerable),
        {style: share(lambda e, style=style: not e.answerable and e.style == style) for style in styles},  # type: ignore[misc]
    )


def _mean_rates(rates: Sequence[RefusalRates]) -> RefusalRates:
    return RefusalRates(
        round(statistics.fmean(r.answerable for r in rates), 4),
        round(statistics.fmean(r.out_of_domain for r in rates), 4),
        {style: round(statistics.fmean(r.by_style[style] for r in rates), 4) for style in rates[0].by_style},
    )


def _worst_rates(rates: Sequence[RefusalRates]) -> RefusalRates:
    """The least favourable repeat of each rate: most answerable refused, fewest out-of-domain refused."""
    return RefusalRates(
        max(r.answerable for r in rates),
        min(r.out_of_domain for r in rates),
        {style: min(r.by_style[style] for r in rates) for style in rates[0].by_style},
    )


def reliability_bins(predictions: Sequence[tuple[float, bool]]) -> tuple[ReliabilityBin, ...]:
    """(predicted confidence, answerable) pairs in ``RELIABILITY_BINS`` equal bins of the prediction: a reliability diagram."""
    bins = []
    for number in range(RELIABILITY_BINS):
        low, high = number / RELIABILITY_BINS, (number + 1) / RELIABILITY_BINS
        inside = [(p, y) for p, y in predictions if low <= p < high or (high == 1.0 and p == 1.0)]
        if inside:
            bins.append(ReliabilityBin(
                low, high, len(inside),
                round(statistics.fmean(p for p, _ in inside), 4),
                round(statistics.fmean(float(y) for _, y in inside), 4),
            ))
    return tuple(bins)
