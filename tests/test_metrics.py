"""Tests for spasmqa.metrics: hand-computed cases, properties and a trec_eval cross-check."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Sequence
from typing import Any

import ir_measures
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ir_measures import AP, RR, R, Qrel, ScoredDoc, Success, nDCG

from spasmqa import metrics
from spasmqa.metrics import (
    Interval,
    PairedDifference,
    Separation,
    Span,
    average_precision_at,
    bootstrap_interval,
    covers,
    first_covering_rank,
    graded_ndcg_at,
    hit_at,
    ndcg_at,
    paired_bootstrap,
    passage_hit_at,
    recall_at,
    reciprocal_rank,
    threshold_separation,
    unique_in_order,
)

# No example database: the suite must not write files into the work tree, and no
# deadline: timing on a shared CI machine is not what these tests check.
PROPERTY = settings(database=None, deadline=None, max_examples=200)

RankedMetric = Callable[[Sequence[str], Collection[str], int], float]
RANKED_METRICS: list[RankedMetric] = [hit_at, recall_at, reciprocal_rank, ndcg_at, average_precision_at]


# --- unique_in_order -------------------------------------------------------------


def test_unique_in_order_keeps_first_occurrences() -> None:
    assert unique_in_order(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_unique_in_order_accepts_any_iterable() -> None:
    assert unique_in_order(iter(["x", "x"])) == ["x"]
    assert unique_in_order([]) == []


# --- hit_at ----------------------------------------------------------------------


def test_hit_at_hand_cases() -> None:
    ranked = ["x", "a", "y"]
    assert hit_at(ranked, {"a"}, 1) == 0.0
    assert hit_at(ranked, {"a"}, 2) == 1.0
    assert hit_at(ranked, {"a"}, 10) == 1.0  # k beyond the list


def test_hit_at_counts_duplicates_once() -> None:
    # Without dedup the top 2 would be [x, x]; after it they are [x, a].
    assert hit_at(["x", "x", "a"], {"a"}, 2) == 1.0


def test_hit_at_nothing_relevant_retrieved() -> None:
    assert hit_at(["x", "y"], {"a"}, 5) == 0.0
    assert hit_at([], {"a"}, 5) == 0.0


# --- recall_at -------------------------------------------------------------------


def test_recall_at_hand_cases() -> None:
    ranked = ["x", "a", "y", "b"]
    relevant = {"a", "b", "c"}
    assert recall_at(ranked, relevant, 1) == 0.0
    assert recall_at(ranked, relevant, 2) == pytest.approx(1 / 3)  # found {a} of 3
    assert recall_at(ranked, relevant, 4) == pytest.approx(2 / 3)  # found {a, b} of 3
    assert recall_at(ranked, relevant, 100) == pytest.approx(2 / 3)


def test_recall_at_dedups_ranking_first() -> None:
    # Top-2 unique of [a, a, b] is [a, b], which holds both relevant ids.
    assert recall_at(["a", "a", "b"], {"a", "b"}, 2) == 1.0


def test_recall_at_counts_repeated_relevant_ids_once() -> None:
    assert recall_at(["a"], ["a", "a"], 1) == 1.0


def test_recall_at_nothing_relevant_retrieved() -> None:
    assert recall_at(["x", "y"], {"a", "b"}, 2) == 0.0


# --- reciprocal_rank -------------------------------------------------------------


def test_reciprocal_rank_hand_cases() -> None:
    assert reciprocal_rank(["x", "y", "a", "b"], {"a", "b"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(["a"], {"a"}) == 1.0
    assert reciprocal_rank(["x", "y", "a"], {"a"}, k=2) == 0.0


def test_reciprocal_rank_default_cutoff_is_ten() -> None:
    ranked = [f"x{i}" for i in range(10)] + ["a"]  # a at rank 11
    assert reciprocal_rank(ranked, {"a"}) == 0.0
    assert reciprocal_rank(ranked, {"a"}, k=11) == pytest.approx(1 / 11)


def test_reciprocal_rank_dedups_ranking_first() -> None:
    # [x, x, a] dedups to [x, a]: a is at rank 2.
    assert reciprocal_rank(["x", "x", "a"], {"a"}) == 0.5


# --- ndcg_at ---------------------------------------------------------------------


def test_ndcg_at_hand_case_from_spec() -> None:
    # DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3)
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at(["x", "a", "y", "b"], {"a", "b"}, 4) == pytest.approx(expected)
    assert expected == pytest.approx(0.6509209298, abs=1e-9)


def test_ndcg_at_cutoff_applies_to_dcg_and_ideal() -> None:
    # k=2: DCG = 1/log2(3) (a at rank 2); IDCG over min(2, 2) = 1 + 1/log2(3)
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert ndcg_at(["x", "a", "y", "b"], {"a", "b"}, 2) == pytest.approx(expected)


def test_ndcg_at_ideal_uses_min_of_k_and_relevant_count() -> None:
    # 3 relevant, k=2: IDCG = 1 + 1/log2(3); DCG = 1 (a at rank 1)
    assert ndcg_at(["a", "x"], {"a", "b", "c"}, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    # k=1: IDCG = 1 and DCG = 1
    assert ndcg_at(["a", "x"], {"a", "b", "c"}, 1) == 1.0


def test_ndcg_at_dedups_ranking_first() -> None:
    assert ndcg_at(["a", "a", "b"], {"a", "b"}, 2) == 1.0


def test_ndcg_at_nothing_relevant_retrieved() -> None:
    assert ndcg_at(["x", "y"], {"a"}, 10) == 0.0


# --- graded_ndcg_at --------------------------------------------------------------


def test_graded_ndcg_at_hand_case() -> None:
    # DCG = 1/log2(3) + 3/log2(4); IDCG = 3 + 1/log2(3): grades sorted high to low
    expected = (1 / math.log2(3) + 3 / 2) / (3 + 1 / math.log2(3))
    assert graded_ndcg_at(["x", "a", "b"], {"a": 1, "b": 3}, 3) == pytest.approx(expected)
    assert expected == pytest.approx(0.5868827, abs=1e-6)


def test_graded_ndcg_at_cutoff_keeps_the_highest_grades_in_the_ideal() -> None:
    # k=1: IDCG = 3 (b alone); a at rank 1 gains 1
    assert graded_ndcg_at(["a", "b"], {"a": 1, "b": 3}, 1) == pytest.approx(1 / 3)


def test_graded_ndcg_at_gives_no_gain_to_grades_of_zero_or_less() -> None:
    assert graded_ndcg_at(["x", "y", "a"], {"a": 2, "x": 0, "y": -1}, 3) == pytest.approx(2 / 2 / math.log2(4))


def test_graded_ndcg_at_dedups_ranking_first() -> None:
    assert graded_ndcg_at(["b", "b", "a"], {"a": 1, "b": 2}, 2) == 1.0


def test_graded_ndcg_at_rejects_grades_without_a_positive_one() -> None:
    for grades in ({}, {"a": 0}):
        with pytest.raises(ValueError, match="no positive grade"):
            graded_ndcg_at(["a"], grades, 10)
    with pytest.raises(ValueError, match="k must be >= 1"):
        graded_ndcg_at(["a"], {"a": 1}, 0)


# --- average_precision_at --------------------------------------------------------


def test_average_precision_at_hand_cases() -> None:
    # relevant at ranks 2 and 4: precisions 1/2 and 2/4, over 2 relevant
    assert average_precision_at(["x", "a", "y", "b"], {"a", "b"}, 4) == pytest.approx(0.5)
    # cut at 2: b is not reached, but still counts in the denominator
    assert average_precision_at(["x", "a", "y", "b"], {"a", "b"}, 2) == pytest.approx(0.25)
    assert average_precision_at(["a"], {"a", "b", "c"}, 100) == pytest.approx(1 / 3)


def test_average_precision_at_dedups_ranking_first() -> None:
    assert average_precision_at(["a", "a", "b"], {"a", "b"}, 2) == 1.0


def test_average_precision_at_nothing_relevant_retrieved() -> None:
    assert average_precision_at(["x", "y"], {"a"}, 10) == 0.0


# --- argument errors for ranked metrics ------------------------------------------


@pytest.mark.parametrize("metric", RANKED_METRICS)
@pytest.mark.parametrize("k", [0, -1])
def test_ranked_metrics_reject_k_below_one(metric: RankedMetric, k: int) -> None:
    with pytest.raises(ValueError, match="k must be >= 1"):
        metric(["a"], {"a"}, k)


@pytest.mark.parametrize("metric", RANKED_METRICS)
def test_ranked_metrics_reject_empty_relevant(metric: RankedMetric) -> None:
    with pytest.raises(ValueError, match="relevant is empty"):
        metric(["a"], set(), 1)


@pytest.mark.parametrize("metric", RANKED_METRICS)
def test_ranked_metrics_reject_bare_string_relevant(metric: RankedMetric) -> None:
    with pytest.raises(ValueError, match="not one string"):
        metric(["ab"], "ab", 1)


# --- property tests for ranked metrics -------------------------------------------

doc_ids = st.sampled_from([f"d{i}" for i in range(12)])
rankings = st.lists(doc_ids, max_size=20)
relevant_sets = st.sets(doc_ids, min_size=1, max_size=6)
cutoffs = st.integers(min_value=1, max_value=25)


@PROPERTY
@given(ranked=rankings, relevant=relevant_sets, k=cutoffs)
def test_ranked_metrics_lie_in_unit_interval(
    ranked: list[str], relevant: set[str], k: int
) -> None:
    for metric in RANKED_METRICS:
        assert 0.0 <= metric(ranked, relevant, k) <= 1.0


@PROPERTY
@given(ranked=rankings, relevant=relevant_sets, k=cutoffs)
def test_graded_ndcg_with_grades_of_one_is_binary_ndcg(ranked: list[str], relevant: set[str], k: int) -> None:
    assert graded_ndcg_at(ranked, dict.fromkeys(relevant, 1), k) == pytest.approx(ndcg_at(ranked, relevant, k))


@PROPERTY
@given(ranked=rankings, relevant=relevant_sets, k=cutoffs)
def test_hit_and_recall_are_monotone_in_k(ranked: list[str], relevant: set[str], k: int) -> None:
    assert hit_at(ranked, relevant, k) <= hit_at(ranked, relevant, k + 1)
    assert recall_at(ranked, relevant, k) <= recall_at(ranked, relevant, k + 1)


@PROPERTY
@given(ranked=rankings, relevant=relevant_sets, k=cutoffs)
def test_metrics_ignore_repeats(ranked: list[str], relevant: set[str], k: int) -> None:
    doubled = [doc for doc in ranked for _ in range(2)]
    for metric in RANKED_METRICS:
        assert metric(doubled, relevant, k) == metric(ranked, relevant, k)


@PROPERTY
@given(relevant=relevant_sets, tail=rankings, k=cutoffs)
def test_ndcg_is_one_when_relevant_ranked_first(
    relevant: set[str], tail: list[str], k: int
) -> None:
    ranked = sorted(relevant) + [doc for doc in tail if doc not in relevant]
    assert ndcg_at(ranked, relevant, k) == 1.0
    if k >= len(relevant):
        assert average_precision_at(ranked, relevant, k) == 1.0
    assert hit_at(ranked, relevant, k) == 1.0
    assert reciprocal_rank(ranked, relevant, k) == 1.0


# --- cross-check against trec_eval via ir-measures -------------------------------


def _random_queries(count: int, seed: int) -> dict[str, tuple[list[str], dict[str, int]]]:
    rng = random.Random(seed)
    pool = [f"doc{i:02d}" for i in range(40)]
    queries = {}
    for q in range(count):
        ranked = rng.sample(pool, rng.randint(1, 25))
        relevant = rng.sample(pool, rng.randint(1, 6))
        judged_irrelevant = rng.sample([d for d in pool if d not in relevant], 5)
        labels = {d: 1 for d in relevant} | {d: 0 for d in judged_irrelevant}
        queries[f"q{q}"] = (ranked, labels)
    return queries


def test_matches_ir_measures_on_random_rankings() -> None:
    queries = _random_queries(50, seed=20240611)
    qrels = [Qrel(q, d, rel) for q, (_, labels) in queries.items() for d, rel in labels.items()]
    # Strictly decreasing scores, so trec_eval's tie-breaking cannot reorder the run.
    run = [
        ScoredDoc(q, d, float(-rank))
        for q, (ranked, _) in queries.items()
        for rank, d in enumerate(ranked, start=1)
    ]
    ours: dict[Any, Callable[[list[str], set[str]], float]] = {
        nDCG @ 10: lambda r, g: ndcg_at(r, g, 10),
        RR @ 10: lambda r, g: reciprocal_rank(r, g, 10),
        R @ 5: lambda r, g: recall_at(r, g, 5),
        Success @ 1: lambda r, g: hit_at(r, g, 1),
        Success @ 3: lambda r, g: hit_at(r, g, 3),
        Success @ 5: lambda r, g: hit_at(r, g, 5),
    }
    theirs = {(m.query_id, m.measure): m.value for m in ir_measures.iter_calc(ours, qrels, run)}
    assert len(theirs) == len(queries) * len(ours)
    # Guard against a vacuous check: the random data must exercise every metric.
    for measure in ours:
        assert len({theirs[(q, measure)] for q in queries}) >= 2, measure
    for q, (ranked, labels) in queries.items():
        relevant = {d for d, rel in labels.items() if rel > 0}
        for measure, ours_fn in ours.items():
            expected = theirs[(q, measure)]
            assert ours_fn(ranked, relevant) == pytest.approx(expected, abs=1e-9), (q, measure)


def _graded_queries(count: int, seed: int) -> dict[str, tuple[list[str], dict[str, int]]]:
    """Long rankings (past the cut of 100) over a large pool, with grades 0-3, as in BEIR qrels."""
    rng = random.Random(seed)
    pool = [f"doc{i:03d}" for i in range(300)]
    queries = {}
    for q in range(count):
        ranked = rng.sample(pool, rng.randint(1, 160))
        judged = rng.sample(pool, rng.randint(2, 30))
        labels = {d: rng.choice((0, 1, 1, 2, 3)) for d in judged}
        labels[judged[0]] = rng.randint(1, 3)  # at least one relevant document
        queries[f"q{q}"] = (ranked, labels)
    # by hand: graded relevant documents at the top, at the cut of 10 and just past 100, and one never retrieved
    queries["hand"] = ([f"x{i}" for i in range(120)], {"x0": 3, "x9": 1, "x10": 2, "x100": 1, "missing": 2, "x5": 0})
    return queries


def test_beir_metrics_match_ir_measures_on_graded_rankings() -> None:
    queries = _graded_queries(60, seed=20261201)
    qrels = [Qrel(q, d, rel) for q, (_, labels) in queries.items() for d, rel in labels.items()]
    run = [ScoredDoc(q, d, float(-rank)) for q, (ranked, _) in queries.items() for rank, d in enumerate(ranked, start=1)]
    # ir_measures' names of trec_eval's ndcg_cut_10, map_cut_100, recall_100, and recip_rank over the top 10
    ours: dict[Any, Callable[[list[str], dict[str, int]], float]] = {
        nDCG @ 10: lambda r, g: graded_ndcg_at(r, g, 10),
        AP @ 100: lambda r, g: average_precision_at(r, {d for d, rel in g.items() if rel > 0}, 100),
        R @ 100: lambda r, g: recall_at(r, {d for d, rel in g.items() if rel > 0}, 100),
        RR @ 10: lambda r, g: reciprocal_rank(r, {d for d, rel in g.items() if rel > 0}, 10),
    }
    theirs = {(m.query_id, m.measure): m.value for m in ir_measures.iter_calc(ours, qrels, run)}
    assert len(theirs) == len(queries) * len(ours)
    for measure in ours:
        assert len({theirs[(q, measure)] for q in queries}) >= 10, measure
    for q, (ranked, labels) in queries.items():
        for measure, ours_fn in ours.items():
            assert ours_fn(ranked, labels) == pytest.approx(theirs[(q, measure)], abs=1e-9), (q, measure)


# --- spans -----------------------------------------------------------------------


def test_span_length() -> None:
    assert Span("d", 3, 10).length == 7
    assert Span("d", 4, 4).length == 0


@pytest.mark.parametrize(("start", "end"), [(5, 4), (-1, 3)])
def test_span_rejects_bad_ranges(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="0 <= start <= end"):
        Span("d", start, end)


def test_covers_boundary_at_exactly_half() -> None:
    gold = Span("d", 10, 20)  # length 10, needs overlap >= 5
    assert covers(Span("d", 15, 30), gold)  # overlap [15, 20) = 5
    assert not covers(Span("d", 16, 30), gold)  # overlap [16, 20) = 4
    assert covers(Span("d", 0, 15), gold)  # overlap [10, 15) = 5
    assert not covers(Span("d", 0, 14), gold)  # overlap [10, 14) = 4


def test_covers_odd_length_gold() -> None:
    gold = Span("d", 0, 5)  # length 5, needs overlap >= 2.5, i.e. 3
    assert covers(Span("d", 2, 10), gold)  # overlap [2, 5) = 3
    assert not covers(Span("d", 3, 10), gold)  # overlap [3, 5) = 2


def test_covers_other_cases() -> None:
    gold = Span("d", 10, 20)
    assert covers(Span("d", 0, 100), gold)  # contains gold
    assert not covers(Span("other", 10, 20), gold)  # same range, other document
    assert not covers(Span("d", 20, 30), gold)  # touches only: half-open ranges
    # Short passage inside a long gold span: overlap 30 of 100 is under half.
    assert not covers(Span("d", 10, 40), Span("d", 0, 100))


def test_covers_rejects_empty_gold() -> None:
    with pytest.raises(ValueError, match="gold spans need end > start"):
        covers(Span("d", 0, 10), Span("d", 5, 5))


def test_passage_hit_and_first_covering_rank() -> None:
    gold = {Span("d1", 100, 200), Span("d2", 0, 50)}
    passages = [
        Span("d3", 100, 200),  # wrong document
        Span("d1", 0, 120),  # overlap 20 of 100
        Span("d2", 20, 80),  # overlap 30 of 50: covers the second gold span
        Span("d1", 100, 200),
    ]
    assert first_covering_rank(passages, gold) == 3
    assert passage_hit_at(passages, gold, 2) == 0.0
    assert passage_hit_at(passages, gold, 3) == 1.0
    assert passage_hit_at(passages, gold, 50) == 1.0


def test_passage_hit_with_no_cover() -> None:
    gold = [Span("d1", 0, 10)]
    assert first_covering_rank([Span("d2", 0, 10)], gold) is None
    assert first_covering_rank([], gold) is None
    assert passage_hit_at([Span("d2", 0, 10)], gold, 5) == 0.0


def test_passage_functions_reject_bad_arguments() -> None:
    passage = [Span("d", 0, 10)]
    with pytest.raises(ValueError, match="k must be >= 1"):
        passage_hit_at(passage, [Span("d", 0, 10)], 0)
    with pytest.raises(ValueError, match="gold is empty"):
        passage_hit_at(passage, [], 1)
    with pytest.raises(ValueError, match="gold is empty"):
        first_covering_rank(passage, [])
    with pytest.raises(ValueError, match="gold spans need end > start"):
        first_covering_rank([], [Span("d", 3, 3)])


# --- bootstrap_interval ----------------------------------------------------------


def _coin_flips(n: int, p: float, seed: int) -> list[float]:
    return [float(x) for x in np.random.default_rng(seed).binomial(1, p, size=n)]


def test_bootstrap_interval_contains_mean() -> None:
    values = _coin_flips(100, 0.6, seed=1)
    interval = bootstrap_interval(values)
    assert interval.mean == pytest.approx(sum(values) / len(values))
    assert interval.low < interval.mean < interval.high


def test_bootstrap_interval_is_deterministic_given_seed() -> None:
    values = np.random.default_rng(2).normal(size=50).tolist()
    assert bootstrap_interval(values, seed=7) == bootstrap_interval(values, seed=7)
    assert bootstrap_interval(values, seed=7) != bootstrap_interval(values, seed=8)


def test_bootstrap_interval_shrinks_with_more_data() -> None:
    small = bootstrap_interval(_coin_flips(20, 0.5, seed=3))
    large = bootstrap_interval(_coin_flips(2000, 0.5, seed=3))
    assert large.high - large.low < (small.high - small.low) / 4


def test_bootstrap_interval_width_matches_normal_approximation() -> None:
    # Mean of 400 fair coin flips: 95% half-width ~ 1.96 * sqrt(0.25 / 400) = 0.049.
    interval = bootstrap_interval([0.0, 1.0] * 200)
    assert interval.mean == 0.5
    assert interval.high - interval.low == pytest.approx(2 * 0.049, rel=0.1)


def test_bootstrap_interval_hand_case_two_values() -> None:
    # Resampled means of [0, 1]: 0 w.p. 1/4, 0.5 w.p. 1/2, 1 w.p. 1/4.
    # A 95% interval reaches both extremes; the 30th-70th percentiles are both 0.5.
    assert bootstrap_interval([0.0, 1.0]) == Interval(mean=0.5, low=0.0, high=1.0)
    assert bootstrap_interval([0.0, 1.0], confidence=0.4) == Interval(0.5, 0.5, 0.5)


def test_bootstrap_interval_degenerate_inputs() -> None:
    assert bootstrap_interval([0.25] * 30) == Interval(0.25, 0.25, 0.25)
    assert bootstrap_interval([3.0]) == Interval(3.0, 3.0, 3.0)


def test_bootstrap_result_does_not_depend_on_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    values = _coin_flips(30, 0.5, seed=4)
    whole = bootstrap_interval(values, resamples=1000)
    monkeypatch.setattr(metrics, "_MAX_DRAWS_PER_BLOCK", 30 * 7)  # blocks of 7 resamples
    assert bootstrap_interval(values, resamples=1000) == whole


def test_interval_to_dict() -> None:
    assert Interval(0.5, 0.25, 0.75).to_dict() == {"mean": 0.5, "low": 0.25, "high": 0.75}


@pytest.mark.parametrize(
    ("values", "kwargs", "message"),
    [
        ([], {}, "non-empty"),
        ([1.0, float("nan")], {}, "NaN or infinity"),
        ([1.0], {"confidence": 1.0}, "confidence"),
        ([1.0], {"confidence": 0.0}, "confidence"),
        ([1.0], {"resamples": 0}, "resamples"),
    ],
)
def test_bootstrap_interval_rejects_bad_arguments(
    values: list[float], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        bootstrap_interval(values, **kwargs)


# --- paired_bootstrap ------------------------------------------------------------


def test_paired_bootstrap_identical_systems() -> None:
    scores = _coin_flips(80, 0.5, seed=5)
    result = paired_bootstrap(scores, scores)
    assert result == PairedDifference(mean_difference=0.0, low=0.0, high=0.0, p_value=1.0)


def test_paired_bootstrap_clearly_better_system() -> None:
    better = _coin_flips(200, 0.8, seed=6)
    worse = _coin_flips(200, 0.4, seed=7)
    result = paired_bootstrap(better, worse)
    assert result.mean_difference == pytest.approx((sum(better) - sum(worse)) / 200)
    assert 0.0 < result.low < result.mean_difference < result.high
    assert result.p_value < 0.01
    flipped = paired_bootstrap(worse, better)
    assert flipped.high < 0.0
    assert flipped.mean_difference == pytest.approx(-result.mean_difference)
    assert flipped.p_value == result.p_value


def test_paired_bootstrap_uses_same_indices_for_both_systems() -> None:
    # Per-question scores vary wildly but a is always b + 0.01: every paired resample
    # has difference 0.01, whereas unpaired resampling would straddle zero.
    b = np.random.default_rng(8).normal(0.0, 1.0, size=200)
    result = paired_bootstrap((b + 0.01).tolist(), b.tolist())
    assert result.low == pytest.approx(0.01)
    assert result.high == pytest.approx(0.01)
    assert result.p_value == 0.0


def test_paired_bootstrap_p_value_hand_case() -> None:
    # Differences [1, 0], observed mean 0.5 > 0. Resampled means: 1 w.p. 1/4,
    # 0.5 w.p. 1/2, 0 w.p. 1/4; "at or below zero" has share 1/4, so p = 2 * 1/4 = 0.5.
    result = paired_bootstrap([1.0, 0.0], [0.0, 0.0])
    assert result.mean_difference == 0.5
    assert result.p_value == pytest.approx(0.5, abs=0.03)


def test_paired_bootstrap_zero_observed_difference_gives_p_one() -> None:
    result = paired_bootstrap([1.0, 0.0, 1.0], [0.0, 1.0, 1.0])
    assert result.mean_difference == 0.0
    assert result.p_value == 1.0
    assert result.low < 0.0 < result.high


def test_paired_bootstrap_is_deterministic_given_seed() -> None:
    a, b = _coin_flips(40, 0.6, seed=9), _coin_flips(40, 0.5, seed=10)
    assert paired_bootstrap(a, b, seed=3) == paired_bootstrap(a, b, seed=3)


def test_paired_bootstrap_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="same question order"):
        paired_bootstrap([1.0, 0.0], [1.0])


def test_paired_difference_to_dict() -> None:
    assert PairedDifference(0.1, 0.0, 0.2, 0.04).to_dict() == {
        "mean_difference": 0.1,
        "low": 0.0,
        "high": 0.2,
        "p_value": 0.04,
    }


# --- threshold_separation --------------------------------------------------------


def test_threshold_separation_perfectly_separable() -> None:
    result = threshold_separation([0.8, 0.9, 0.7], [0.1, 0.3, 0.2])
    # Best cut is the midpoint between the top negative 0.3 and the bottom positive 0.7.
    assert result == Separation(
        roc_auc=1.0, best_threshold=0.5, true_positive_rate=1.0, false_positive_rate=0.0
    )


def test_threshold_separation_overlapping_hand_count() -> None:
    positives = [0.9, 0.8, 0.4]
    negatives = [0.5, 0.3, 0.2, 0.85]
    # AUC pairs won: 0.9 beats 4, 0.8 beats 3 (0.5, 0.3, 0.2), 0.4 beats 2 -> 9 / 12.
    # Candidates and (TP of 3, FP of 4, balanced accuracy):
    #   0.2 (3, 4, .5)  0.25 (3, 3, .625)  0.35 (3, 2, .75)  0.45 (2, 2, .583)
    #   0.65 (2, 1, .708)  0.825 (1, 1, .542)  0.875 (1, 0, .667)  -> best 0.35
    result = threshold_separation(positives, negatives)
    assert result.roc_auc == 0.75
    assert result.best_threshold == pytest.approx(0.35)
    assert result.true_positive_rate == 1.0
    assert result.false_positive_rate == 0.5


def test_threshold_separation_ties_count_half_and_lowest_threshold_wins() -> None:
    positives = [0.9, 0.6, 0.4]
    negatives = [0.5, 0.3, 0.6]
    # AUC: 0.9 beats 3; 0.6 beats 2 and ties 1 (2.5); 0.4 beats 1 -> 6.5 / 9.
    # Balanced accuracy is 2/3 at 0.35 (TP 3, FP 2), 0.55 (TP 2, FP 1) and
    # 0.75 (TP 1, FP 0); the lowest of the tied thresholds is chosen.
    result = threshold_separation(positives, negatives)
    assert result.roc_auc == pytest.approx(6.5 / 9)
    assert result.best_threshold == pytest.approx(0.35)
    assert result.true_positive_rate == 1.0
    assert result.false_positive_rate == pytest.approx(2 / 3)


def test_threshold_separation_when_scores_do_not_separate() -> None:
    # Positives below negatives: nothing beats predicting everything positive.
    reversed_result = threshold_separation([0.1, 0.2], [0.8, 0.9])
    assert reversed_result == Separation(0.0, 0.1, 1.0, 1.0)
    assert threshold_separation([0.5], [0.5]) == Separation(0.5, 0.5, 1.0, 1.0)


def test_separation_to_dict() -> None:
    assert Separation(0.9, 0.5, 0.8, 0.1).to_dict() == {
        "roc_auc": 0.9,
        "best_threshold": 0.5,
        "true_positive_rate": 0.8,
        "false_positive_rate": 0.1,
    }


@pytest.mark.parametrize(
    ("positives", "negatives", "message"),
    [
        ([], [0.1], "positive_scores must be a non-empty"),
        ([0.1], [], "negative_scores must be a non-empty"),
        ([float("inf")], [0.1], "NaN or infinity"),
    ],
)
def test_threshold_separation_rejects_bad_arguments(
    positives: list[float], negatives: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        threshold_separation(positives, negatives)


scores = st.lists(st.integers(min_value=0, max_value=10).map(float), min_size=1, max_size=15)


@PROPERTY
@given(positives=scores, negatives=scores)
def test_threshold_separation_matches_brute_force(
    positives: list[float], negatives: list[float]
) -> None:
    pairs = [(p, n) for p in positives for n in negatives]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs)
    result = threshold_separation(positives, negatives)
    assert result.roc_auc == pytest.approx(wins / len(pairs))

    def rates(threshold: float) -> tuple[float, float]:
        tpr = sum(p >= threshold for p in positives) / len(positives)
        fpr = sum(n >= threshold for n in negatives) / len(negatives)
        return tpr, fpr

    assert (result.true_positive_rate, result.false_positive_rate) == rates(result.best_threshold)
    best = result.true_positive_rate - result.false_positive_rate
    every_cut = [x + 0.5 for x in range(-1, 11)]
    assert all(tpr - fpr <= best + 1e-12 for tpr, fpr in map(rates, every_cut))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=25),  # few distinct values: ties on both sides
    st.lists(st.integers(0, 6), min_size=1, max_size=25),
)
def test_roc_auc_is_scikit_learns(positive: list[int], negative: list[int]) -> None:
    from sklearn.metrics import roc_auc_score

    expected = roc_auc_score([1] * len(positive) + [0] * len(negative), positive + negative)
    assert metrics.threshold_separation(positive, negative).roc_auc == pytest.approx(expected, abs=1e-12)
