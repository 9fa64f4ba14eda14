"""Evaluation: a labelled question set run through every retrieval mode and scored with ``spasmqa.metrics``.

Labels name documents and quote answer text verbatim; they never name chunks, so re-chunking never
invalidates them. A passage answers a question when its span covers at least half of a gold quote's
span in the same document. Out-of-domain questions (no answering document) are scored only by how
well the top retrieval score tells them apart from answerable ones.
"""

from __future__ import annotations

import csv
import json
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from spasmqa import metrics
from spasmqa.answers import DEFAULT_MODE, MODES, Answer, Index
from spasmqa.chunking import ChunkSettings
from spasmqa.corpus import Document, bundled_corpus_dir, load_corpus
from spasmqa.errors import EvaluationError
from spasmqa.metrics import PairedDifference, Separation

RETRIEVAL_DEPTH = 10
DOCUMENT_METRICS = ("doc_hit@1", "doc_hit@3", "doc_hit@5", "doc_recall@5", "doc_mrr@10", "doc_ndcg@10")
PASSAGE_METRICS = ("passage_hit@1", "passage_hit@3", "passage_hit@5")
HEADLINE_METRICS = ("doc_hit@1", "doc_mrr@10", "passage_hit@3")
COMPARED_METRICS = ("doc_mrr@10", "passage_hit@3")


@dataclass(frozen=True)
class GoldAnswer:
    """A document that answers a question, with verbatim quotes of the answering text (may be empty)."""

    doc_id: str
    quotes: tuple[str, ...]


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
    """One question through one retrieval mode: what came back and how it scored."""

    qid: str
    system: str
    top_score: float
    returned: tuple[str, ...]
    scores: dict[str, float]

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
    answerable_top_median: float
    unanswerable_top_median: float | None

    def metric(self, name: str) -> MetricSummary:
        return next(m for m in self.metrics if m.metric == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "metrics": [m.to_dict() for m in self.metrics],
            "separation": self.separation.to_dict() if self.separation else None,
            "answerable_top_median": self.answerable_top_median,
            "unanswerable_top_median": self.unanswerable_top_median,
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
    return bundled_corpus_dir() / "eval" / "questions.jsonl"


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
    """Every metric of one answerable question's answer."""
    ranking = [p.doc_id for p in answer]
    relevant = question.relevant_docs
    scores = {
        "doc_hit@1": metrics.hit_at(ranking, relevant, 1),
        "doc_hit@3": metrics.hit_at(ranking, relevant, 3),
        "doc_hit@5": metrics.hit_at(ranking, relevant, 5),
        "doc_recall@5": metrics.recall_at(ranking, relevant, 5),
        "doc_mrr@10": metrics.reciprocal_rank(ranking, relevant, 10),
        "doc_ndcg@10": metrics.ndcg_at(ranking, relevant, 10),
    }
    if spans:
        passages = [metrics.Span(p.doc_id, p.start, p.end) for p in answer]
        for k in (1, 3, 5):
            scores[f"passage_hit@{k}"] = metrics.passage_hit_at(passages, spans, k)
    return scores


Retriever = Callable[[str, str], Answer]


def evaluate(
    index: Index | None = None,
    questions: Sequence[Question] | None = None,
    *,
    modes: Sequence[str] = MODES,
    dataset: str = "",
) -> EvalReport:
    """Run every question through every retrieval mode of ``index`` and summarise the metrics.

    Defaults: the bundled corpus's index and question set. Intervals are percentile bootstraps (95%,
    10,000 resamples, fixed seed); each mode is compared with the default mode by a paired bootstrap.

    Example:
        >>> report = spasmqa.evaluate()
        >>> report.system("dense").metric("doc_mrr@10").mean
    """
    from spasmqa.api import default_index

    index = index if index is not None else default_index()
    questions = tuple(questions) if questions is not None else load_questions()
    docs = {doc.doc_id: doc for doc in index.documents()}
    return run_evaluation(
        lambda text, mode: index.ask(text, k=RETRIEVAL_DEPTH, mode=mode),
        questions,
        docs,
        modes=modes,
        dataset=dataset or str(default_questions_path()),
        index_name=str(index.path),
    )


def run_evaluation(
    retrieve: Retriever,
    questions: Sequence[Question],
    docs: dict[str, Document],
    *,
    modes: Sequence[str],
    dataset: str,
    index_name: str,
) -> EvalReport:
    """The evaluation loop over any retriever ``retrieve(question_text, mode) -> Answer``."""
    if not questions:
        raise EvaluationError("the question set is empty; pass questions with at least one answerable one")
    spans = {q.qid: gold_spans(q, docs) for q in questions}
    results: list[QuestionResult] = []
    answers: dict[tuple[str, str], Answer] = {}
    for mode in modes:
        for question in questions:
            answer = retrieve(question.text, mode)
            answers[question.qid, mode] = answer
            scores = score_answer(question, answer, spans[question.qid]) if question.answerable else {}
            top = answer[0].score if len(answer) else 0.0
            results.append(QuestionResult(question.qid, mode, top, tuple(p.chunk_id for p in answer), scores))
    systems = tuple(_summarise(mode, questions, results) for mode in modes)
    reference = DEFAULT_MODE if DEFAULT_MODE in modes else modes[0]
    return EvalReport(
        dataset=dataset,
        index=index_name,
        reference=reference,
        questions=len(questions),
        answerable=sum(q.answerable for q in questions),
        unanswerable=sum(not q.answerable for q in questions),
        systems=systems,
        per_kind=_per_kind(questions, results, modes),
        comparisons=_comparisons(results, modes, reference),
        failures=_failures(questions, results, answers, reference),
        results=tuple(results),
    )


def _metric_names(results: Sequence[QuestionResult]) -> list[str]:
    present = {name for r in results for name in r.scores}
    return [name for name in (*DOCUMENT_METRICS, *PASSAGE_METRICS) if name in present]


def _summarise(mode: str, questions: Sequence[Question], results: Sequence[QuestionResult]) -> SystemSummary:
    mine = [r for r in results if r.system == mode]
    answerable = {q.qid for q in questions if q.answerable}
    summaries = []
    for name in _metric_names(mine):
        values = [r.scores[name] for r in mine if name in r.scores]
        interval = metrics.bootstrap_interval(values)
        summaries.append(MetricSummary(name, interval.mean, interval.low, interval.high))
    positive = [r.top_score for r in mine if r.qid in answerable]
    negative = [r.top_score for r in mine if r.qid not in answerable]
    return SystemSummary(
        system=mode,
        metrics=tuple(summaries),
        separation=metrics.threshold_separation(positive, negative) if positive and negative else None,
        answerable_top_median=statistics.median(positive),
        unanswerable_top_median=statistics.median(negative) if negative else None,
    )


def _per_kind(questions: Sequence[Question], results: Sequence[QuestionResult], modes: Sequence[str]) -> tuple[KindSummary, ...]:
    kinds = sorted({q.kind for q in questions if q.answerable})
    summaries = []
    for kind in kinds:
        qids = {q.qid for q in questions if q.kind == kind and q.answerable}
        for mode in modes:
            mine = [r for r in results if r.system == mode and r.qid in qids]
            means = {
                name: statistics.fmean(r.scores[name] for r in mine if name in r.scores)
                for name in _metric_names(mine)
            }
            summaries.append(KindSummary(kind, mode, len(qids), means))
    return tuple(summaries)


def _comparisons(results: Sequence[QuestionResult], modes: Sequence[str], reference: str) -> tuple[Comparison, ...]:
    comparisons = []
    for other in (m for m in modes if m != reference):
        for name in COMPARED_METRICS:
            a = {r.qid: r.scores[name] for r in results if r.system == reference and name in r.scores}
            b = {r.qid: r.scores[name] for r in results if r.system == other and name in r.scores}
            shared = sorted(a.keys() & b.keys())
            if shared:
                difference = metrics.paired_bootstrap([a[q] for q in shared], [b[q] for q in shared])
                comparisons.append(Comparison(name, reference, other, difference))
    return tuple(comparisons)


def _failures(
    questions: Sequence[Question],
    results: Sequence[QuestionResult],
    answers: dict[tuple[str, str], Answer],
    mode: str,
) -> tuple[Failure, ...]:
    by_qid = {r.qid: r for r in results if r.system == mode}
    failures = []
    for question in questions:
        scores = by_qid[question.qid].scores
        missed = scores.get("passage_hit@5", scores.get("doc_hit@5", 1.0)) == 0.0
        if question.answerable and missed:
            returned = tuple(
                f"{p.doc_id} › {p.section or '(no heading)'} ({p.score:.2f}): {p.text[:70]!r}"
                for p in answers[question.qid, mode][:3]
            )
            failures.append(Failure(question.qid, question.text, tuple(sorted(question.relevant_docs)), returned))
    return tuple(failures)


# --- choosing chunk settings ----------------------------------------------------------------------


@dataclass(frozen=True)
class SettingsTrial:
    """One chunking configuration's figures on the whole question set and on its two halves."""

    settings: ChunkSettings
    chunks: int
    median_tokens: float
    means: dict[str, float]
    half_a: float
    half_b: float

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "settings": self.settings.to_dict()}


def selection_score(report: EvalReport, system: str, qids: frozenset[str] | None = None) -> float:
    """What chunk settings are chosen by: the mean of passage Hit@3 and document MRR@10 of answerable questions."""
    rows = [r for r in report.results if r.system == system and r.scores and (qids is None or r.qid in qids)]
    return statistics.fmean((r.scores["passage_hit@3"] + r.scores["doc_mrr@10"]) / 2 for r in rows)


def compare_chunk_settings(
    candidates: Sequence[ChunkSettings], *, corpus_dir: str | Path | None = None, questions: Sequence[Question] | None = None,
    system: str = DEFAULT_MODE,
) -> tuple[SettingsTrial, ...]:
    """Build one index per candidate (one model load for all) and evaluate each on the same questions.

    ``half_a``/``half_b`` are the selection score on the odd- and even-numbered questions, so a choice
    made on one half can be checked on the other.
    """
    from spasmqa.embedding import Embedder
    from spasmqa.index import build_index

    embedder = Embedder()
    documents = load_corpus(corpus_dir)
    questions = tuple(questions) if questions is not None else load_questions(documents=documents)
    half = frozenset(q.qid for i, q in enumerate(questions) if i % 2 == 0)
    other = frozenset(q.qid for q in questions) - half
    trials = []
    with tempfile.TemporaryDirectory(prefix="spasmqa-chunking-") as scratch:
        for number, candidate in enumerate(candidates):
            stored, summary = build_index(corpus_dir, Path(scratch) / str(number), embedder=embedder, settings=candidate)
            report = evaluate(Index(stored, embedder, documents), questions, modes=(system,))
            means = {m.metric: m.mean for m in report.system(system).metrics}
            trials.append(
                SettingsTrial(
                    candidate, summary.chunks, summary.tokens_median, means,
                    selection_score(report, system, half), selection_score(report, system, other),
                )
            )
    return tuple(trials)


# --- BEIR format -----------------------------------------------------------------------------------


def load_beir_questions(folder: str | Path, split: str = "test") -> tuple[Question, ...]:
    """Queries and document-level labels of a BEIR folder (``queries.jsonl``, ``qrels/<split>.tsv``).

    Only queries with a positive label are kept; a label's grade is treated as relevant/not relevant.
    """
    root = Path(folder)
    texts = {str(r["_id"]): str(r["text"]) for r in _read_jsonl(root / "queries.jsonl")}
    relevant: dict[str, list[str]] = {}
    qrels = root / "qrels" / f"{split}.tsv"
    try:
        with qrels.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
    except OSError as exc:
        raise EvaluationError(f"cannot read {qrels} ({exc.strerror}); a BEIR folder needs qrels/{split}.tsv") from exc
    for row in rows[1:] if rows and not rows[0][-1].lstrip("-").isdigit() else rows:
        query_id, doc_id, grade = row[0], row[1], int(row[-1])
        if grade > 0:
            relevant.setdefault(query_id, []).append(doc_id)
    missing = sorted(set(relevant) - set(texts))
    if missing:
        raise EvaluationError(f"{qrels} labels queries missing from queries.jsonl: {', '.join(missing[:5])}")
    return tuple(
        Question(qid, texts[qid], "", "", tuple(GoldAnswer(doc_id, ()) for doc_id in doc_ids))
        for qid, doc_ids in relevant.items()
    )


def export_beir(out_dir: str | Path, questions: Sequence[Question] | None = None, documents: Sequence[Document] | None = None) -> Path:
    """Write a question set and its corpus in BEIR format (answerable questions, document-level labels)."""
    out = Path(out_dir)
    docs = tuple(documents) if documents is not None else load_corpus()
    labelled = [q for q in (questions if questions is not None else load_questions(documents=docs)) if q.answerable]
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    _write_jsonl(out / "corpus.jsonl", [{"_id": d.doc_id, "title": d.title, "text": d.text} for d in docs])
    _write_jsonl(out / "queries.jsonl", [{"_id": q.qid, "text": q.text} for q in labelled])
    with (out / "qrels" / "test.tsv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["query-id", "corpus-id", "score"])
        writer.writerows([q.qid, doc_id, 1] for q in labelled for doc_id in sorted(q.relevant_docs))
    return out


def _write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def evaluate_beir(
    folder: str | Path, *, index_dir: str | Path | None = None, model: str | None = None, modes: Sequence[str] = MODES
) -> EvalReport:
    """Build an index of a BEIR folder's corpus (in a temporary directory unless given) and evaluate it."""
    from spasmqa.api import build

    questions = load_beir_questions(folder)
    with tempfile.TemporaryDirectory(prefix="spasmqa-beir-") as scratch:
        index = build(folder, index_dir if index_dir is not None else Path(scratch) / "index", model=model)
        docs = {doc.doc_id: doc for doc in index.documents()}
        unknown = sorted({a.doc_id for q in questions for a in q.answers} - docs.keys())
        if unknown:
            raise EvaluationError(f"qrels of {folder} name documents missing from corpus.jsonl: {', '.join(unknown[:5])}")
        return run_evaluation(
            lambda text, mode: index.ask(text, k=RETRIEVAL_DEPTH, mode=mode),
            questions,
            docs,
            modes=modes,
            dataset=str(folder),
            index_name=str(index.path),
        )


# --- the printed report ---------------------------------------------------------------------------


def format_report(report: EvalReport) -> str:
    """The report as plain-text tables: systems by metrics, intervals, comparisons, kinds, scores, failures."""
    names = _metric_names(report.results)
    lines = [
        f"{report.questions} questions ({report.answerable} answerable, {report.unanswerable} out of domain) "
        f"from {report.dataset}",
        f"index {report.index}",
        "",
        _table(["system", *names], [[s.system, *(f"{s.metric(n).mean:.3f}" for n in names)] for s in report.systems]),
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
    if any(s.separation for s in report.systems):
        lines += ["", "top score: answerable vs out-of-domain questions"]
        lines.append(
            _table(
                ["system", "median answerable", "median ood", "ROC AUC", "best threshold", "TPR", "FPR"],
                [
                    [
                        s.system,
                        f"{s.answerable_top_median:.3f}",
                        f"{s.unanswerable_top_median:.3f}",
                        f"{s.separation.roc_auc:.3f}",
                        f"{s.separation.best_threshold:.3f}",
                        f"{s.separation.true_positive_rate:.3f}",
                        f"{s.separation.false_positive_rate:.3f}",
                    ]
                    for s in report.systems
                    if s.separation and s.unanswerable_top_median is not None
                ],
            )
        )
    lines += ["", f"failures of {report.reference} (no answering passage in the top 5): {len(report.failures)}"]
    for failure in report.failures:
        lines.append(f"  {failure.qid} {failure.question!r}  expected {', '.join(failure.expected)}")
        lines += [f"      got {item}" for item in failure.returned]
    return "\n".join(lines)


def _interval(summary: MetricSummary) -> str:
    return f"{summary.mean:.3f} [{summary.low:.3f}, {summary.high:.3f}]"


def _per_kind_table(report: EvalReport) -> str:
    systems = [s.system for s in report.systems]
    metric = "passage_hit@3" if "passage_hit@3" in _metric_names(report.results) else "doc_hit@3"
    kinds = sorted({k.kind for k in report.per_kind})
    rows = []
    for kind in kinds:
        entries = {k.system: k for k in report.per_kind if k.kind == kind}
        first = entries[systems[0]]
        rows.append([kind, str(first.questions), *(f"{entries[s].means.get(metric, 0.0):.3f}" for s in systems)])
    return f"{metric} by question kind\n" + _table(["kind", "n", *systems], rows)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def render(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([render(header), render(["-" * w for w in widths]), *(render(row) for row in rows)])
