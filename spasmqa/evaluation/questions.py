"""Question sets: the schema, the bundled development and test sets, and their checks against the documents."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spasmqa import metrics
from spasmqa.corpus import Document, bundled_corpus_dir, load_corpus
from spasmqa.errors import EvaluationError


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
    for number, record in enumerate(read_jsonl(source), start=1):
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


def read_jsonl(path: Path) -> list[dict[str, Any]]:
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
