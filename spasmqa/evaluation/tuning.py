"""Choosing settings: one selection score, question halves, and chunk settings compared on rebuilt indexes."""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from spasmqa.answers import Index
from spasmqa.api import build_with_summary
from spasmqa.chunking import ChunkSettings
from spasmqa.corpus import load_corpus
from spasmqa.build import BuildSummary
from spasmqa.retrieval import RetrievalSettings
from spasmqa.evaluation.questions import Question, load_questions
from spasmqa.evaluation.run import EvalReport, System, evaluate


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
    """Build one index per candidate (``api.build``) and evaluate each on the same questions."""
    documents = load_corpus(corpus_dir)
    questions = tuple(questions) if questions is not None else load_questions(documents=documents)
    halves = question_halves(questions)
    trials = []
    with tempfile.TemporaryDirectory(prefix="spasmqa-chunking-") as scratch:
        for number, candidate in enumerate(candidates):
            index, summary = build_with_summary(corpus_dir, Path(scratch) / str(number), settings=candidate)
            report = evaluate(index, questions, systems=(system,))
            trials.append((candidate, summary, _trial(report, system.name, halves)))
    return tuple(trials)
