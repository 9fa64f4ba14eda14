"""Retrieval: fusing dense and lexical rankings, merging overlaps, collapsing near-duplicates, diversifying.

Everything here is a pure function over row numbers, scores and spans, so it is tested on hand-made data.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from spasmqa.errors import QueryError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

# Word 3-gram Jaccard similarity from which two passages count as the same text (Broder's
# near-duplicate measure; 0.8 is the customary cut-off, not fitted here).
NEAR_DUPLICATE_JACCARD = 0.8
_WORD = re.compile(r"\w+")
MODES = ("dense", "lexical", "hybrid")  # what Index.ask(mode=) ranks by
DEFAULT_MODE = "hybrid"


@dataclass(frozen=True)
class RetrievalSettings:
    """How rankings are fused, reranked and diversified; defaults chosen on the development question set.

    ``rrf_constant`` is the k of reciprocal rank fusion, 1/(k + rank); ``per_document_cap`` is how many
    passages of one document may come before passages of other documents (``None``: no cap);
    ``candidates`` is how many passages each retriever contributes before fusion. When an answer is
    reranked, the cross-encoder reads the first ``rerank_depth`` fused passages (with their "title —
    section" line when ``rerank_context``), and they are reordered by ``retrieval.rerank``: weighted
    reciprocal rank fusion of its order and the fused order, ``rerank_weight`` on its side (1: its order alone).
    """

    # scripts/tune_retrieval.py: rrf_constant 5 was best on the weaker question half; a cap of 3 scored
    # the same as no cap on both halves and brought more of the answering documents into the top 5. With
    # reranking, 5 still beat 20 and 60 (selection 0.890 vs 0.851 and 0.843), the cap changed no passage metric.
    rrf_constant: int = 5
    per_document_cap: int | None = 3
    candidates: int = 50
    # scripts/tune_rerank.py: weight 0.6 at depth 10 with the title line was best on the weaker question
    # half (0.889; the reranker's order alone: 0.849); depths 15-20 gained nothing and cost 1.5-2x.
    rerank_depth: int = 10
    rerank_weight: float = 0.6
    rerank_context: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.rrf_constant, int) or self.rrf_constant < 0:
            raise QueryError(f"rrf_constant must be a non-negative integer, got {self.rrf_constant!r}")
        if self.per_document_cap is not None and (not isinstance(self.per_document_cap, int) or self.per_document_cap < 1):
            raise QueryError(f"per_document_cap must be a positive integer or None, got {self.per_document_cap!r}")
        if not isinstance(self.candidates, int) or self.candidates < 1:
            raise QueryError(f"candidates must be a positive integer, got {self.candidates!r}")
        if isinstance(self.rerank_depth, bool) or not isinstance(self.rerank_depth, int) or self.rerank_depth < 1:
            raise QueryError(f"rerank_depth must be a positive integer, got {self.rerank_depth!r}")
        if not isinstance(self.rerank_weight, (int, float)) or not 0.0 <= self.rerank_weight <= 1.0:
            raise QueryError(f"rerank_weight must be a number from 0 to 1, got {self.rerank_weight!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def best_first(scores: Mapping[int, float]) -> list[int]:
    """Rows by descending score; among equal scores the lower row first, so rankings are reproducible."""
    # by row, then stably by score (stable also in reverse), so no key tuple per row
    return sorted(sorted(scores), key=scores.__getitem__, reverse=True)


def best_nonzero(scores: NDArray[np.float32], limit: int) -> dict[int, float]:
    """The ``limit`` rows of highest non-zero score in a score array, in ``best_first`` order (same ties)."""
    import numpy as np

    rows = np.flatnonzero(scores)
    rows = rows[np.lexsort((rows, -scores[rows]))][:limit]
    return dict(zip(rows.tolist(), scores[rows].tolist()))


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], constant: int) -> dict[int, float]:
    """Sum over rankings of 1 / (constant + rank), rank counted from 1 (Cormack et al., 2009)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (constant + rank)
    return fused


def rerank(order: Sequence[int], logits: Mapping[int, float], weight: float, constant: int) -> list[int]:
    """``order`` with its reranked rows (the keys of ``logits``, its first rows) reordered, the rest after them.

    The new order is a weighted reciprocal rank fusion of the reranker's ranking and the given one:
    ``weight / (constant + reranker rank) + (1 - weight) / (constant + rank in order)``; weight 1 is
    the reranker's order alone, ties broken by the given order.
    """
    position = {row: rank for rank, row in enumerate(order, start=1)}
    reranked = sorted(logits, key=position.__getitem__)
    by_reranker = sorted(reranked, key=logits.__getitem__, reverse=True)  # stable: ties keep the given order
    combined = {
        row: weight / (constant + rank) + (1.0 - weight) / (constant + position[row])
        for rank, row in enumerate(by_reranker, start=1)
    }
    first = sorted(reranked, key=combined.__getitem__, reverse=True)
    return first + [row for row in order if row not in logits]


def cap_per_document(rows: Iterable[int], document_of: Callable[[int], str], cap: int | None) -> Iterator[int]:
    """Reorder so no document has more than ``cap`` rows ahead of another document's next row.

    Rows over a document's cap move behind the others, in their original order, so nothing is dropped.
    Lazy: a row within its document's cap comes out as soon as it is read, so a reader that needs only
    the first few stops early.
    """
    if cap is None:
        yield from rows
        return
    seen: Counter[str] = Counter()
    later: list[int] = []
    for row in rows:
        document = document_of(row)
        seen[document] += 1
        if seen[document] <= cap:
            yield row
        else:
            later.append(row)
    yield from later


@dataclass(frozen=True)
class SpanGroup:
    """Passages merged or collapsed into one: ``lead`` is the best-ranked row, ``rows`` all of them."""

    lead: int
    rows: tuple[int, ...]
    start: int
    end: int
    duplicates: tuple[int, ...] = ()


def merge_overlapping(rows: Iterable[int], span_of: Callable[[int], tuple[str, int, int]]) -> list[SpanGroup]:
    """Group ranked rows whose spans overlap in the same document into one span, kept at the best rank.

    A row that bridges two groups joins them, so no two groups of one document ever overlap. Reads every
    row (a later one may widen an earlier group); ``single_spans`` is the lazy equivalent for rows that
    cannot overlap.
    """
    groups: dict[int, SpanGroup] = {}  # keyed by the order groups were opened in, i.e. by rank
    by_document: dict[str, list[int]] = {}
    opened = itertools.count()
    for row in rows:
        doc_id, start, end = span_of(row)
        slots = by_document.setdefault(doc_id, [])
        touching = [i for i in slots if start < groups[i].end and groups[i].start < end]
        if not touching:
            slots.append(next(opened))
            groups[slots[-1]] = SpanGroup(row, (row,), start, end)
            continue
        members = [groups.pop(i) for i in touching]
        groups[touching[0]] = SpanGroup(
            members[0].lead,
            tuple(r for g in members for r in g.rows) + (row,),
            min(start, *(g.start for g in members)),
            max(end, *(g.end for g in members)),
        )
        for i in touching[1:]:
            slots.remove(i)
    return [groups[i] for i in sorted(groups)]


def single_spans(rows: Iterable[int], span_of: Callable[[int], tuple[str, int, int]]) -> Iterator[SpanGroup]:
    """Each row as its own span: what ``merge_overlapping`` gives when no two spans overlap, lazily."""
    for row in rows:
        _, start, end = span_of(row)
        yield SpanGroup(row, (row,), start, end)


def shingles(text: str, size: int = 3) -> frozenset[tuple[str, ...]]:
    words = _WORD.findall(text.casefold())
    return frozenset(tuple(words[i : i + size]) for i in range(max(1, len(words) - size + 1)))


def jaccard(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> float:
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared) if a or b else 1.0


def near_duplicates(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> bool:
    """Whether two shingle sets are the same text: Jaccard >= NEAR_DUPLICATE_JACCARD.

    Jaccard is at most min/max of the sizes, so sets of very different sizes need no intersection.
    """
    if min(len(a), len(b)) < NEAR_DUPLICATE_JACCARD * max(len(a), len(b)):
        return False
    return jaccard(a, b) >= NEAR_DUPLICATE_JACCARD


def collapse_near_duplicates(
    groups: Iterable[SpanGroup],
    same_text: Callable[[SpanGroup, SpanGroup], bool],
    document_of: Callable[[int], str],
    limit: int,
) -> list[SpanGroup]:
    """The first ``limit`` groups, each folding in lower-ranked near-identical passages of other documents.

    ``same_text(kept, later)`` says whether a later group repeats a kept one (see ``near_duplicates``).
    Groups are read in rank order until ``limit`` are kept; a duplicate ranked below that is never shown.
    """
    kept: list[SpanGroup] = []
    for group in groups:
        for index, leader in enumerate(kept):
            if document_of(leader.lead) != document_of(group.lead) and same_text(leader, group):
                kept[index] = SpanGroup(leader.lead, leader.rows, leader.start, leader.end, (*leader.duplicates, group.lead))
                break
        else:
            if len(kept) == limit:
                break
            kept.append(group)
    return kept
