"""Evaluation: labelled question sets (``questions``) run through retrieval systems and scored (``run``),
printed (``report``), used to choose settings (``tuning``) and to calibrate abstention (``calibration``),
and BEIR folders scored as in the literature (``beir``)."""

from spasmqa.evaluation.beir import (
    BEIR_METRICS,
    BeirReport,
    evaluate_beir,
    evaluate_beir_index,
    export_beir,
    load_beir_questions,
    score_beir,
)
from spasmqa.evaluation.calibration import Calibration, RefusalRates, ReliabilityBin, calibrate_abstention, reliability_bins
from spasmqa.evaluation.questions import (
    GoldAnswer,
    Question,
    bundled_question_sets,
    default_questions_path,
    gold_spans,
    held_out_questions_path,
    load_questions,
)
from spasmqa.evaluation.report import format_report, format_side_by_side
from spasmqa.evaluation.run import EvalReport, QuestionResult, System, default_systems, evaluate, score_answer
from spasmqa.evaluation.tuning import Trial, compare_chunk_settings, compare_systems, question_halves, selection_score

__all__ = [
    "BEIR_METRICS", "BeirReport", "Calibration", "EvalReport", "GoldAnswer", "Question", "QuestionResult",
    "RefusalRates", "ReliabilityBin", "System", "Trial", "bundled_question_sets", "calibrate_abstention",
    "compare_chunk_settings", "compare_systems", "default_questions_path", "default_systems", "evaluate",
    "evaluate_beir", "evaluate_beir_index", "export_beir", "format_report", "format_side_by_side", "gold_spans",
    "held_out_questions_path", "load_beir_questions", "load_questions", "question_halves", "reliability_bins",
    "score_answer", "score_beir", "selection_score",
]
