"""Abstention: how confident an answer is that its passages answer the question, and when to say they do not.

``confidence`` is a logistic model's probability over evidence the answer already carries (the
cross-encoder's best score when the answer was reranked, the bi-encoder's answer score, the question
words found in the best lexical passage; see ``answer_evidence``), fitted with
cross-validation on the development question set by ``scripts/calibrate.py`` and stored per embedding
model and reranker in ``spasmqa/calibration.json``, from where every index copies it into its manifest.
The policy refuses only when the documents clearly do not cover the question: a question that shares no
word with the documents, or a confidence under ``refuse_below``, a cost-based cut (see ``REFUSE_BELOW``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
# Refusing a question the documents answer costs the person more than showing passages that turn out not to
# answer: counted twice as much, the expected cost is lowest when refusing below P(answers) = 1 / (1 + 2).
# (Held out on the 227 development questions, four times, a cut of 0.2, refuses 1.1% of answerable and 46% of
# near-topic questions; twice refuses 2.4% and 56%, both short of the 60% of near-topic ones aimed at.)
WRONG_REFUSAL_COST = 2.0
REFUSE_BELOW = round(1.0 / (1.0 + WRONG_REFUSAL_COST), 4)
RERANKED_FEATURES = ("best_rerank_score", "answer_score", "log_matched_words")
FAST_FEATURES = ("answer_score", "log_matched_words")


def answer_evidence(answer_score: float, matched_words: int, best_rerank_score: float | None = None) -> dict[str, float]:
    """The features an answerability model reads, by name, from what an answer carries.

    ``log_matched_words`` is there because both scores of a passage fall as a question grows: a long story
    with the question at its end embeds far from any passage, and the MS MARCO cross-encoder, trained on
    short queries, scores it like an unrelated one, while the words it shares with the best BM25 passage
    still say it is on topic. Counted on a log scale, since the first shared word says more than the tenth.
    """
    evidence = {"answer_score": answer_score, "log_matched_words": math.log1p(matched_words)}
    if best_rerank_score is not None:
        evidence["best_rerank_score"] = best_rerank_score
    return evidence


@dataclass(frozen=True)
class AnswerabilityModel:
    """A logistic model of P(the passages answer the question) over named evidence, and the refusal cut.

    ``reranker_id`` is the cross-encoder whose scores it reads ("" for answers that were not reranked).
    """

    reranker_id: str
    features: tuple[str, ...]
    coefficients: tuple[float, ...]
    intercept: float
    refuse_below: float = REFUSE_BELOW

    def confidence(self, evidence: Mapping[str, float]) -> float:
        """P(answers) for the evidence; every feature the model reads must be there."""
        logit = self.intercept + sum(w * evidence[name] for name, w in zip(self.features, self.coefficients))
        return 1.0 / (1.0 + math.exp(-logit)) if logit > -700 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> AnswerabilityModel:
        return cls(
            str(record["reranker_id"]),
            tuple(str(name) for name in record["features"]),
            tuple(float(w) for w in record["coefficients"]),
            float(record["intercept"]),
            float(record["refuse_below"]),
        )


def calibrated_models(model_id: str) -> tuple[AnswerabilityModel, ...]:
    """The answerability models calibrated for an embedding model (none: answers are never refused on confidence)."""
    calibration = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    entries = calibration.get("models", {}).get(model_id, {}).get("answerability", [])
    return tuple(AnswerabilityModel.from_dict(entry) for entry in entries)


def model_for(models: tuple[AnswerabilityModel, ...], reranker_id: str) -> AnswerabilityModel | None:
    """The model for answers reranked by ``reranker_id`` ("" for not reranked), or None if none was calibrated."""
    return next((m for m in models if m.reranker_id == reranker_id), None)


def declines(shares_words: bool, confidence: float | None, refuse_below: float | None) -> bool:
    """The refusal rule: no word shared with the documents, or a confidence under the cut (no model: never)."""
    if not shares_words:
        return True
    return confidence is not None and refuse_below is not None and confidence < refuse_below
