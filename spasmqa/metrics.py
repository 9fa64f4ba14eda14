"""Pure retrieval-evaluation metrics over ranked ids, passage spans and per-question scores.

Every function here takes rankings as given: ties between equal retrieval scores are
broken by whoever produced the ranking, never here, so a metric depends only on order.
Relevance is binary: an id is relevant if it is in the ``relevant`` collection; only
``graded_ndcg_at`` takes a grade per id.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

# Caps the size of one block of bootstrap indices so memory stays flat for large inputs.
_MAX_DRAWS_PER_BLOCK = 2_000_000


def unique_in_order(ids: Iterable[str]) -> list[str]:
    """Return ``ids`` with repeats dropped, keeping each id at its first position."""
    return list(dict.fromkeys(ids))


def hit_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Return 1.0 if any relevant id is among the first ``k`` unique ranked ids, else 0.0."""
    gold = _relevant_set(relevant)
    return 1.0 if any(doc in gold for doc in _top_k(ranked, k)) else 0.0


def recall_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Return the fraction of relevant ids found among the first ``k`` unique ranked ids."""
    gold = _relevant_set(relevant)
    found = sum(1 for doc in _top_k(ranked, k) if doc in gold)
    return found / len(gold)


def reciprocal_rank(ranked: Sequence[str], relevant: Collection[str], k: int = 10) -> float:
    """Return 1/rank of the first relevant id among the first ``k`` unique ranked ids, or 0.0."""
    gold = _relevant_set(relevant)
    for rank, doc in enumerate(_top_k(ranked, k), start=1):
        if doc in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Return binary-gain nDCG@k as trec_eval's ndcg_cut computes it.

    DCG sums 1/log2(rank + 1) over relevant ids among the first ``k`` unique ranked ids;
    the ideal DCG places min(k, len(relevant)) relevant ids at ranks 1, 2, ...
    """
    return graded_ndcg_at(ranked, dict.fromkeys(_relevant_set(relevant), 1.0), k)


def graded_ndcg_at(ranked: Sequence[str], grades: Mapping[str, float], k: int) -> float:
    """Return nDCG@k with each id's grade as its gain, as trec_eval's ndcg_cut (and so BEIR) computes it.

    DCG sums grade/log2(rank + 1) over the first ``k`` unique ranked ids, ids without a positive grade
    gaining nothing; the ideal DCG places the ``k`` highest grades at ranks 1, 2, ... With every grade
    1 this is ``ndcg_at``.
    """
    gains = {doc: grade for doc, grade in grades.items() if grade > 0}
    if not gains:
        raise ValueError(
            "grades has no positive grade; nDCG is undefined without a relevant id, "
            "so leave such questions out of the average"
        )
    dcg = sum(gains.get(doc, 0.0) * _discount(rank) for rank, doc in enumerate(_top_k(ranked, k), start=1))
    best = sorted(gains.values(), reverse=True)[:k]
    return dcg / sum(gain * _discount(rank) for rank, gain in enumerate(best, start=1))


def average_precision_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Return average precision over the first ``k`` unique ranked ids, as trec_eval's map_cut computes it.

    Precision at the rank of each relevant id among the first ``k``, summed and divided by the number
    of all relevant ids, retrieved or not, so a ranking cannot score well by stopping early.
    """
    gold = _relevant_set(relevant)
    found, total = 0, 0.0
    for rank, doc in enumerate(_top_k(ranked, k), start=1):
        if doc in gold:
            found += 1
            total += found / rank
    return total / len(gold)


@dataclass(frozen=True)
class Span:
    """A half-open character range ``[start, end)`` inside one document."""

    doc_id: str
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(
                f"Span needs 0 <= start <= end; got start={self.start}, end={self.end}"
            )

    @property
    def length(self) -> int:
        """Number of characters in the span."""
        return self.end - self.start


def covers(passage: Span, gold: Span) -> bool:
    """Return True if ``passage`` is in gold's document and overlaps at least half of ``gold``."""
    _check_gold_span(gold)
    if passage.doc_id != gold.doc_id:
        return False
    overlap = max(0, min(passage.end, gold.end) - max(passage.start, gold.start))
    # Integer comparison so "exactly half" of an odd-length span is decided exactly.
    return 2 * overlap >= gold.length


def passage_hit_at(passages: Sequence[Span], gold: Collection[Span], k: int) -> float:
    """Return 1.0 if any of the first ``k`` passages covers any gold span, else 0.0."""
    _check_k(k)
    return 0.0 if first_covering_rank(passages[:k], gold) is None else 1.0


def read_hit(passages: Sequence[Span], gold: Collection[Span], characters: int) -> float:
    """Return 1.0 if a reader who reads the passages in order and stops after ``characters`` characters
    has read enough of some passage to cover a gold span, else 0.0.

    Each passage is cut to what is left of the budget (its first characters) before ``covers`` is applied.
    """
    if characters < 1:
        raise ValueError(f"characters must be >= 1, got {characters}")
    left = characters
    read = []
    for passage in passages:
        if left <= 0:
            break
        read.append(Span(passage.doc_id, passage.start, min(passage.end, passage.start + left)))
        left -= passage.length
    return 0.0 if first_covering_rank(read, gold) is None else 1.0


def first_covering_rank(passages: Sequence[Span], gold: Collection[Span]) -> int | None:
    """Return the 1-based rank of the first passage covering any gold span, or None."""
    if not gold:
        raise ValueError("gold is empty; pass at least one gold span")
    for span in gold:
        _check_gold_span(span)
    for rank, passage in enumerate(passages, start=1):
        if any(covers(passage, span) for span in gold):
            return rank
    return None


@dataclass(frozen=True)
class Interval:
    """A sample mean with a bootstrap confidence interval around it."""

    mean: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        """Return the fields as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class PairedDifference:
    """Mean of per-question differences ``a - b`` with its bootstrap interval and p-value."""

    mean_difference: float
    low: float
    high: float
    p_value: float

    def to_dict(self) -> dict[str, float]:
        """Return the fields as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class Separation:
    """How well a score threshold separates positives from negatives."""

    roc_auc: float
    best_threshold: float
    true_positive_rate: float
    false_positive_rate: float

    def to_dict(self) -> dict[str, float]:
        """Return the fields as a plain dict."""
        return asdict(self)


def bootstrap_interval(
    values: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Return the mean of ``values`` with a percentile-bootstrap confidence interval.

    The same ``seed`` always gives the same interval.
    """
    _check_bootstrap_args(confidence, resamples)
    array = _finite_array(values, "values")
    means = _bootstrap_means(array, resamples, seed)
    low, high = _percentile_bounds(means, confidence)
    return Interval(mean=float(array.mean()), low=low, high=high)


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> PairedDifference:
    """Compare two systems scored on the same questions with a paired bootstrap.

    Each resample draws one set of question indices and uses it for both systems, so
    the statistic is the resampled mean of the per-question differences ``a - b``.
    The interval is the percentile interval of those resampled means. ``p_value`` is
    two-sided: the share of resampled mean differences that are zero or on the
    opposite side of zero from the observed mean difference, times two, capped at 1.
    An observed difference of exactly zero gives 1.0; a result of 0.0 means no resample
    crossed zero, i.e. p < 2 / resamples.
    """
    _check_bootstrap_args(confidence, resamples)
    first = _finite_array(a, "a")
    second = _finite_array(b, "b")
    if first.shape != second.shape:
        raise ValueError(
            f"a and b have {first.size} and {second.size} values; pass one score per "
            "question for both systems, in the same question order"
        )
    differences = first - second
    means = _bootstrap_means(differences, resamples, seed)
    low, high = _percentile_bounds(means, confidence)
    observed = float(differences.mean())
    return PairedDifference(
        mean_difference=observed, low=low, high=high, p_value=_two_sided_p(means, observed)
    )


def threshold_separation(
    positive_scores: Sequence[float], negative_scores: Sequence[float]
) -> Separation:
    """Measure how well predicting positive for ``score >= threshold`` separates two groups.

    ``roc_auc`` is the probability that a random positive scores above a random
    negative, ties counting half. ``best_threshold`` maximises balanced accuracy
    (mean of true-positive and true-negative rates). Candidates are the lowest score
    (everything positive) and the midpoints between neighbouring distinct scores; among
    equally good candidates the lowest threshold wins. The rates are those at that threshold.
    """
    import numpy as np

    positives = np.sort(_finite_array(positive_scores, "positive_scores"))
    negatives = np.sort(_finite_array(negative_scores, "negative_scores"))
    distinct = np.unique(np.concatenate([positives, negatives]))
    candidates = np.concatenate([distinct[:1], (distinct[:-1] + distinct[1:]) / 2])
    true_positives = _count_at_or_above(positives, candidates)
    false_positives = _count_at_or_above(negatives, candidates)
    # Balanced accuracy scaled by 2 * n_pos * n_neg stays an integer, so ties are exact;
    # argmax then returns the first maximum, i.e. the lowest threshold among ties.
    scaled = true_positives * negatives.size - false_positives * positives.size
    best = int(np.argmax(scaled))
    return Separation(
        roc_auc=_roc_auc(positives, negatives),
        best_threshold=float(candidates[best]),
        true_positive_rate=int(true_positives[best]) / positives.size,
        false_positive_rate=int(false_positives[best]) / negatives.size,
    )


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1; got k={k}")


def _top_k(ranked: Sequence[str], k: int) -> list[str]:
    _check_k(k)
    return unique_in_order(ranked)[:k]


def _relevant_set(relevant: Collection[str]) -> frozenset[str]:
    if isinstance(relevant, str):
        raise ValueError("relevant must be a collection of ids, not one string; wrap it in a set")
    if not relevant:
        raise ValueError(
            "relevant is empty; these metrics are undefined without a relevant id, "
            "so leave such questions out of the average"
        )
    return frozenset(relevant)


def _check_gold_span(gold: Span) -> None:
    if gold.length == 0:
        raise ValueError(f"gold span {gold} is empty; gold spans need end > start")


def _discount(rank: int) -> float:
    return 1.0 / math.log2(rank + 1)


def _finite_array(values: Sequence[float], name: str) -> NDArray[np.float64]:
    import numpy as np

    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty flat sequence of numbers")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinity; drop or fix those values")
    return array


def _bootstrap_means(
    values: NDArray[np.float64], resamples: int, seed: int
) -> NDArray[np.float64]:
    import numpy as np

    rng = np.random.default_rng(seed)
    n = values.size
    rows = max(1, _MAX_DRAWS_PER_BLOCK // n)
    blocks = [
        values[rng.integers(0, n, size=(min(rows, resamples - done), n))].mean(axis=1)
        for done in range(0, resamples, rows)
    ]
    return np.concatenate(blocks)


def _check_bootstrap_args(confidence: float, resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1; got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1; got {resamples}")


def _percentile_bounds(means: NDArray[np.float64], confidence: float) -> tuple[float, float]:
    import numpy as np

    tail = (1.0 - confidence) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def _two_sided_p(means: NDArray[np.float64], observed: float) -> float:
    if observed == 0.0:
        return 1.0
    crossed = means <= 0.0 if observed > 0.0 else means >= 0.0
    return min(1.0, 2.0 * float(crossed.mean()))


def _count_at_or_above(
    sorted_scores: NDArray[np.float64], thresholds: NDArray[np.float64]
) -> NDArray[np.intp]:
    import numpy as np

    return sorted_scores.size - np.searchsorted(sorted_scores, thresholds, side="left")


def _roc_auc(
    sorted_positives: NDArray[np.float64], sorted_negatives: NDArray[np.float64]
) -> float:
    import numpy as np

    below = np.searchsorted(sorted_negatives, sorted_positives, side="left")
    at_or_below = np.searchsorted(sorted_negatives, sorted_positives, side="right")
    # Counts are integers or half-integers, so the sum is exact before the one division.
    wins = float(np.sum(below + 0.5 * (at_or_below - below)))
    return wins / (sorted_positives.size * sorted_negatives.size)
