from __future__ import annotations

import json

import pytest

import spasmqa
from spasmqa.errors import QueryError


@pytest.mark.parametrize(
    ("question", "doc_id"),
    [
        ("What is myoclonus?", "twitch-or-cramp-why"),
        ("Can Botox injections help with severe spasms?", "auger-cramps-vs-spasms"),
        ("what are smooth muscle spasms, like menstrual cramps", "nextpain-spasms-vs-twitches"),
        ("does smoking make muscles twitch", "mff-twitching-and-spasm"),
        ("can drinking alcohol cause magnesium deficiency", "southwest-spasms-cramps-twitches"),
    ],
)
def test_plain_questions_find_their_document_first(index: spasmqa.Index, question: str, doc_id: str) -> None:
    assert spasmqa.ask(question, k=5)[0].doc_id == doc_id


def test_answer_is_a_ranked_sequence_of_passages_with_provenance(index: spasmqa.Index) -> None:
    answer = spasmqa.ask("how do I stop a leg cramp?", k=4)
    assert answer.question == "how do I stop a leg cramp?"
    assert len(answer) == 4 and list(answer) == list(answer.passages) and answer[0] is answer.passages[0]
    assert [p.rank for p in answer] == [1, 2, 3, 4]
    assert [p.score for p in answer] == sorted((p.score for p in answer), reverse=True)
    for passage in answer:
        document = spasmqa.get_document(passage.doc_id)
        assert document.text[passage.start : passage.end] == passage.text
        assert passage.title == document.title and passage.source == document.source
        assert passage.chunk_id == f"{passage.doc_id}:{passage.start}-{passage.end}"
        assert -1.0 <= passage.score <= 1.0


def test_answer_to_dict_is_json(index: spasmqa.Index) -> None:
    record = json.loads(json.dumps(spasmqa.ask("twitching eyelid", k=2).to_dict()))
    assert record["question"] == "twitching eyelid"
    assert set(record["passages"][0]) == {
        "rank", "score", "text", "doc_id", "title", "source", "section", "start", "end", "chunk_id",
    }


def test_k_larger_than_the_index_returns_every_chunk(index: spasmqa.Index) -> None:
    answer = index.ask("cramps", k=10_000)
    assert len(answer) == len(index.chunks)
    assert len({p.chunk_id for p in answer}) == len(index.chunks)


@pytest.mark.parametrize("question", [None, 42, b"bytes", "", "   \n\t"])
def test_unusable_questions_are_refused(index: spasmqa.Index, question: object) -> None:
    with pytest.raises(QueryError):
        index.ask(question)  # type: ignore[arg-type]


@pytest.mark.parametrize("k", [0, -1, 2.5, "3", True, None])
def test_unusable_k_is_refused(index: spasmqa.Index, k: object) -> None:
    with pytest.raises(QueryError, match="k must be a positive integer"):
        index.ask("cramps", k=k)  # type: ignore[arg-type]


def test_documents_and_get_document() -> None:
    docs = spasmqa.documents()
    assert len(docs) == 5
    assert spasmqa.get_document(docs[2].doc_id) == docs[2]
    with pytest.raises(KeyError, match="the documents are"):
        spasmqa.get_document("nope")


def test_index_documents_come_from_its_corpus(index: spasmqa.Index) -> None:
    assert index.documents() == spasmqa.documents()
    assert index.get_document("twitch-or-cramp-why").title.startswith("Do Your Muscles")


def test_lexical_mode_matches_word_forms_and_only_returns_matches(index: spasmqa.Index) -> None:
    answer = index.ask("fasciculation", k=5, mode="lexical")
    # The section line is indexed with the text; "fasciculations" and "Fasciculation" stem alike.
    assert len(answer) == 5 and all("fasciculation" in f"{p.section} {p.text}".lower() for p in answer)
    assert all(p.score > 0 for p in answer)
    assert [p.score for p in answer] == sorted((p.score for p in answer), reverse=True)
    assert len(index.ask("the and of it", k=5, mode="lexical")) == 0
    assert len(index.ask("zzxqv", k=5, mode="lexical")) == 0


@pytest.mark.parametrize("mode", ["hybrid-ish", "", None, "DENSE"])
def test_unknown_mode_is_refused(index: spasmqa.Index, mode: object) -> None:
    with pytest.raises(QueryError, match="mode must be one of 'dense', 'lexical'"):
        index.ask("cramps", mode=mode)  # type: ignore[arg-type]
