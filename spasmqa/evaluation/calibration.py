"""Calibrating abstention: the answerability model fitted with cross-validation, its refusal rates and reliability."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from spasmqa import metrics
from spasmqa.abstention import FAST_FEATURES, REFUSE_BELOW, RERANKED_FEATURES, AnswerabilityModel, answer_evidence, declines
from spasmqa.answers import Index
from spasmqa.api import default_index
from spasmqa.results import Answer
from spasmqa.errors import EvaluationError
from spasmqa.evaluation.questions import Question, load_questions


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
