"""Fusion, diversity, merging and near-duplicate collapsing on hand-made data whose answers are known."""

from __future__ import annotations

import pytest

from spasmqa.errors import QueryError
from spasmqa.retrieval import (
    RetrievalSettings,
    SpanGroup,
    best_first,
    best_nonzero,
    cap_per_document,
    collapse_near_duplicates,
    jaccard,
    merge_overlapping,
    near_duplicates,
    reciprocal_rank_fusion,
    rerank,
    shingles,
    single_spans,
)


def test_reciprocal_rank_fusion_by_hand() -> None:
    # row 7: 1/(10+1) + 1/(10+2); row 3: 1/(10+2); row 5: 1/(10+1)
    fused = reciprocal_rank_fusion([[7, 3], [5, 7]], constant=10)
    assert fused == pytest.approx({7: 1 / 11 + 1 / 12, 3: 1 / 12, 5: 1 / 11})
    assert best_first(fused) == [7, 5, 3]


def test_rerank_alone_orders_the_reranked_rows_by_logit_and_keeps_the_rest_behind() -> None:
    order = [4, 2, 9, 7, 1]
    # rows 4, 2, 9 were reranked; 9 scores highest, 4 and 2 tie (the given order breaks the tie)
    assert rerank(order, {4: 0.5, 2: 0.5, 9: 3.0}, weight=1.0, constant=5) == [9, 4, 2, 7, 1]


def test_rerank_weight_mixes_the_reranker_rank_with_the_given_rank_by_hand() -> None:
    order = [4, 2, 9]
    logits = {4: -1.0, 2: 0.0, 9: 2.0}  # reranker ranks 9, 2, 4
    # weight 0.6, constant 5: row 4: 0.6/8 + 0.4/6 = 0.14167; row 2: 0.6/7 + 0.4/7 = 0.14286; row 9: 0.6/6 + 0.4/8 = 0.15
    assert rerank(order, logits, weight=0.6, constant=5) == [9, 2, 4]
    # weight 0.3: row 4: 0.3/8 + 0.7/6 = 0.15417; row 2: 0.3/7 + 0.7/7 = 0.14286; row 9: 0.3/6 + 0.7/8 = 0.1375
    assert rerank(order, logits, weight=0.3, constant=5) == [4, 2, 9]
    assert rerank(order, logits, weight=0.0, constant=5) == order


def test_best_first_breaks_ties_by_row() -> None:
    assert best_first({9: 1.0, 2: 1.0, 5: 2.0}) == [5, 2, 9]


def test_best_nonzero_is_best_first_of_the_nonzero_scores() -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    for _ in range(200):
        scores = rng.choice([0.0, 0.5, 1.0, 2.0], size=30).astype(np.float32)
        nonzero = {row: float(score) for row, score in enumerate(scores) if score}
        expected = best_first(nonzero)[:10]
        assert list(best_nonzero(scores, 10).items()) == [(row, nonzero[row]) for row in expected]


def test_cap_per_document_moves_extras_back_without_dropping() -> None:
    docs = {1: "a", 2: "a", 3: "a", 4: "b", 5: "a", 6: "c"}
    assert list(cap_per_document([1, 2, 3, 4, 5, 6], docs.__getitem__, 2)) == [1, 2, 4, 6, 3, 5]
    assert list(cap_per_document([1, 2, 3], docs.__getitem__, None)) == [1, 2, 3]


def test_cap_per_document_reads_only_as_far_as_asked() -> None:
    rows = iter([1, 2, 3, 4, 5, 6])
    capped = cap_per_document(rows, {1: "a", 2: "a", 3: "a", 4: "b", 5: "a", 6: "c"}.__getitem__, 2)
    assert [next(capped), next(capped), next(capped)] == [1, 2, 4]
    assert list(rows) == [5, 6]  # row 3 was read and held back; 5 and 6 were not needed yet


def test_merge_overlapping_spans_of_one_document() -> None:
    spans = {1: ("a", 0, 100), 2: ("b", 0, 100), 3: ("a", 90, 200), 4: ("a", 200, 300)}
    groups = merge_overlapping([1, 2, 3, 4], spans.__getitem__)
    assert groups == [SpanGroup(1, (1, 3), 0, 200), SpanGroup(2, (2,), 0, 100), SpanGroup(4, (4,), 200, 300)]


def test_a_row_bridging_two_groups_joins_them() -> None:
    spans = {1: ("a", 0, 100), 2: ("a", 200, 300), 3: ("a", 90, 210)}
    assert merge_overlapping([1, 2, 3], spans.__getitem__) == [SpanGroup(1, (1, 2, 3), 0, 300)]


def test_single_spans_are_what_merging_gives_disjoint_spans() -> None:
    spans = {1: ("a", 0, 100), 2: ("b", 0, 100), 3: ("a", 100, 200), 4: ("a", 300, 400)}
    assert list(single_spans([4, 1, 3, 2], spans.__getitem__)) == merge_overlapping([4, 1, 3, 2], spans.__getitem__)


def test_near_duplicates_of_other_documents_collapse_into_the_best() -> None:
    base = "Drink plenty of water and stretch your calves before running to avoid cramps at night."
    texts = {1: base, 2: base.replace("night", "night time"), 3: base, 4: "Magnesium is a mineral found in nuts."}
    docs = {1: "a", 2: "b", 3: "a", 4: "c"}
    groups = [SpanGroup(row, (row,), 0, 10) for row in (1, 2, 3, 4)]
    def same_text(a: SpanGroup, b: SpanGroup) -> bool:
        return near_duplicates(shingles(texts[a.lead]), shingles(texts[b.lead]))

    kept = collapse_near_duplicates(groups, same_text, docs.__getitem__, limit=5)
    # 2 (another document) folds into 1; 3 is the same document, so it is not a cross-source duplicate
    assert [(g.lead, g.duplicates) for g in kept] == [(1, (2,)), (3, ()), (4, ())]
    assert [g.lead for g in collapse_near_duplicates(groups, same_text, docs.__getitem__, limit=2)] == [1, 3]


def test_shingle_jaccard() -> None:
    assert jaccard(shingles("a b c d"), shingles("a b c d")) == 1.0
    # {abc, bcd} vs {abc, bce}: 1 shared of 3
    assert jaccard(shingles("a b c d"), shingles("a b c e")) == pytest.approx(1 / 3)
    assert near_duplicates(shingles("a b c d e f"), shingles("a b c d e f"))
    assert not near_duplicates(shingles("a b c d e"), shingles("a b c d e f g h i j"))  # sizes rule it out


@pytest.mark.parametrize(
    "kwargs",
    [{"rrf_constant": -1}, {"per_document_cap": 0}, {"candidates": 0}, {"rrf_constant": 1.5}, {"rerank_depth": 0},
     {"rerank_depth": True}, {"rerank_weight": 1.5}, {"rerank_weight": -0.1}, {"rerank_weight": "1"}],
)
def test_invalid_retrieval_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(QueryError):
        RetrievalSettings(**kwargs)  # type: ignore[arg-type]


def test_concatenated_ranges() -> None:
    import numpy as np

    from spasmqa._ranges import concatenated_ranges

    assert concatenated_ranges(np.array([10, 3, 7]), np.array([2, 3, 0])).tolist() == [10, 11, 3, 4, 5]
    assert concatenated_ranges(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == []
