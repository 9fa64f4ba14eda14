from __future__ import annotations

import json
from pathlib import Path

import pytest

import spasmqa
from spasmqa.abstention import REFUSE_BELOW
from spasmqa.errors import QueryError
from spasmqa.retrieval import RetrievalSettings
from tests.conftest import sentence_inner_products


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
    plain = spasmqa.ask("how do I stop a leg cramp?", k=4, mode="dense", rerank=False, settings=RetrievalSettings(per_document_cap=None))
    assert [p.score for p in plain] == sorted((p.score for p in plain), reverse=True)
    for passage in answer:
        document = spasmqa.get_document(passage.doc_id)
        assert document.text[passage.start : passage.end] == passage.text
        assert passage.title == document.title and passage.source == document.source
        assert passage.chunk_id == f"{passage.doc_id}:{passage.start}-{passage.end}"
        assert -1.0 <= passage.score <= 1.0


def test_answer_to_dict_is_json(index: spasmqa.Index) -> None:
    record = json.loads(json.dumps(spasmqa.ask("twitching eyelid", k=2).to_dict()))
    assert record["question"] == "twitching eyelid"
    assert set(record) == {
        "question", "mode", "answerable", "reason", "confidence", "best_similarity", "best_sentence_similarity",
        "answer_score", "shares_words", "matched_words", "reranker", "best_rerank_score", "notice", "passages",
    }
    assert set(record["passages"][0]) == {
        "rank", "score", "text", "doc_id", "title", "source", "section", "start", "end", "chunk_id",
        "lexical_score", "fusion_score", "rerank_score", "highlights", "also_in", "page",
    }
    assert set(record["passages"][0]["highlights"][0]) == {"start", "end", "text", "score"}


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
    plain = spasmqa.RetrievalSettings(per_document_cap=None)
    answer = index.ask("fasciculation", k=5, mode="lexical", rerank=False, settings=plain)
    # The section line is indexed with the text; "fasciculations" and "Fasciculation" stem alike.
    assert len(answer) == 5 and all("fasciculation" in f"{p.section} {p.text}".lower() for p in answer)
    assert all(p.lexical_score > 0 for p in answer)
    assert [p.lexical_score for p in answer] == sorted((p.lexical_score for p in answer), reverse=True)
    assert [p.chunk_id for p in index.ask("fasiculations", k=5, mode="lexical", rerank=False, settings=plain)] == [p.chunk_id for p in answer]
    assert len(index.ask("the and of it", k=5, mode="lexical")) == 0
    assert len(index.ask("zzxqv", k=5, mode="lexical")) == 0


@pytest.mark.parametrize("mode", ["hybrid-ish", "", None, "DENSE"])
def test_unknown_mode_is_refused(index: spasmqa.Index, mode: object) -> None:
    with pytest.raises(QueryError, match="mode must be one of 'dense', 'lexical'"):
        index.ask("cramps", mode=mode)  # type: ignore[arg-type]


# --- answer quality ---------------------------------------------------------------------------------


def test_every_passage_has_an_exact_highlight_inside_it(index: spasmqa.Index) -> None:
    for mode in ("dense", "lexical", "hybrid"):
        for passage in index.ask("what should I do when my calf cramps during a run?", k=5, mode=mode):
            assert len(passage.highlights) == 1
            highlight = passage.highlights[0]
            assert passage.start <= highlight.start < highlight.end <= passage.end
            assert index.get_document(passage.doc_id).text[highlight.start : highlight.end] == highlight.text
            assert passage.text[highlight.start - passage.start : highlight.end - passage.start] == highlight.text


def test_the_highlight_is_the_sentence_closest_to_the_question(index: spasmqa.Index) -> None:
    passage = index.ask("What is myoclonus?", k=1, mode="dense", rerank=False)[0]
    sentences = [passage.text[s - passage.start : e - passage.start] for s, e in index.chunks[
        next(i for i, c in enumerate(index.chunks) if c.chunk_id == passage.chunk_id)].sentences]
    vectors = index.embedder.encode(sentences)
    query = index.embedder.encode(["What is myoclonus?"])[0]
    assert passage.highlights[0].text == sentences[int((vectors @ query).argmax())]


def test_scores_are_cosines_whatever_the_mode(index: spasmqa.Index) -> None:
    question = "can dehydration cause cramps"
    by_mode = {mode: {p.chunk_id: p for p in index.ask(question, k=8, mode=mode)} for mode in ("dense", "lexical", "hybrid")}
    query = index.embedder.encode([question])[0]
    rows = {c.chunk_id: i for i, c in enumerate(index.chunks)}
    for mode, passages in by_mode.items():
        for chunk_id, passage in passages.items():
            vector = index._stored.chunk_vectors([rows[chunk_id]])[0]
            assert passage.score == pytest.approx(float(vector @ query), abs=1e-5), mode
    dense = by_mode["dense"]
    assert all(p.fusion_score == p.score for p in dense.values())
    assert all(p.fusion_score == p.lexical_score > 0 for p in by_mode["lexical"].values())


@pytest.mark.parametrize(
    "question",
    ["asdfgh jkl qwerty", "Warum bekomme ich nachts Wadenkrämpfe?", "hmm ok", "what?",
     "what is the capital of australia", "best pasta recipe with tomatoes"],
)
def test_questions_the_documents_do_not_answer_are_refused(index: spasmqa.Index, question: str) -> None:
    answer = index.ask(question)
    assert not answer.answerable and answer.reason
    assert len(answer) == 5  # still shown, as the closest passages


@pytest.mark.parametrize("question", ["why do my legs cramp at night?", "my eyelid keeps twitching", "charley horse"])
def test_questions_the_documents_answer_are_answered(index: spasmqa.Index, question: str) -> None:
    answer = index.ask(question)
    assert answer.answerable and answer.shares_words
    assert answer.confidence is not None and answer.confidence >= REFUSE_BELOW
    assert answer.answer_score == pytest.approx((answer.best_similarity + answer.best_sentence_similarity) / 2, abs=1e-6)
    assert answer.notice.startswith("General information from the listed sources, not medical advice")


def test_matched_words_are_counted_in_the_best_lexical_passage(index: spasmqa.Index) -> None:
    from spasmqa.lexical import LexicalIndex

    lexical = LexicalIndex([chunk.embedding_input for chunk in index.chunks])
    question = "why do my calves cramp at night after running, and is magnesium any use?"
    terms = lexical.terms(question)
    best = int(lexical.scores_of(terms).argmax())
    in_best = set(lexical.tokens(index.chunks[best].embedding_input))
    answer = index.ask(question)
    assert answer.matched_words == len(set(terms) & in_best) >= 2
    assert index.ask("zzzzqqq xxyyzz").matched_words == 0


def test_near_identical_passages_of_two_documents_come_back_once(tmp_path: Path) -> None:
    shared = "Drinking enough water before long runs prevents most calf cramps in hot weather, coaches say."
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text(f"Running tips\n\n{shared}\n\nShoes\n\nWear good shoes.", encoding="utf-8")
    (tmp_path / "corpus" / "b.txt").write_text(f"Summer advice\n\n{shared}\n\nSkin\n\nUse sunscreen.", encoding="utf-8")
    (tmp_path / "corpus" / "c.txt").write_text("Knitting\n\nCast on forty stitches with wool.", encoding="utf-8")
    index = spasmqa.build(tmp_path / "corpus", tmp_path / "index", settings=spasmqa.ChunkSettings(max_tokens=32))
    answer = index.ask("does water prevent calf cramps when running?", k=3, mode="dense")
    first = answer[0]
    assert first.text.count(shared) == 1 and len(first.also_in) == 1
    assert {first.doc_id, first.also_in[0].doc_id} == {"a", "b"}
    assert sum(shared in p.text for p in answer) == 1


def test_overlapping_chunks_come_back_as_one_span(tmp_path: Path) -> None:
    text = " ".join(f"Sentence {i} says that cramps and spasms differ in duration." for i in range(12))
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "long.txt").write_text(f"One section\n\n{text}", encoding="utf-8")
    settings = spasmqa.ChunkSettings(max_tokens=48, overlap_tokens=24, context="none")
    index = spasmqa.build(tmp_path / "corpus", tmp_path / "index", settings=settings)
    assert any(a.end > b.start for a, b in zip(index.chunks, index.chunks[1:]))
    answer = index.ask("cramps and spasms differ in duration", k=10, mode="dense")
    spans = sorted((p.start, p.end) for p in answer)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    document = index.get_document("long")
    assert all(document.text[p.start : p.end] == p.text for p in answer)


def test_best_sentence_similarity_is_the_best_sentence_of_the_candidate_passages(index: spasmqa.Index) -> None:
    question = "what is clonus"
    answer = index.ask(question, mode="dense")
    query = index.embedder.encode_queries([question])[0]
    candidates = sorted(range(len(index.chunks)), key=lambda row: -float(index.chunk_vectors()[row] @ query))
    candidates = candidates[: RetrievalSettings().candidates]
    sentences = sentence_inner_products(index, query)
    expected = max(score for row in candidates for score in sentences[row])
    assert answer.best_sentence_similarity == pytest.approx(expected, abs=1e-5)
    # a definition question: the chunk holding the definition is about more, its sentence is not
    assert answer.best_sentence_similarity > answer.best_similarity


# --- reranking ---------------------------------------------------------------------------------------


def test_reranked_answers_carry_the_cross_encoder_scores(index: spasmqa.Index) -> None:
    question = "my calf locked up in the middle of the night, what do I do?"
    settings = RetrievalSettings(rerank_weight=1.0)
    answer = index.ask(question, k=5, settings=settings)
    assert answer.reranker == "cross-encoder/ms-marco-MiniLM-L-12-v2"
    scores = [p.rerank_score for p in answer]
    assert all(score is not None for score in scores)
    # weight 1: the reranker's order alone (the per-document cap may move a passage back, never forward)
    assert answer[0].rerank_score == answer.best_rerank_score == max(scores)
    # the cross-encoder reads each passage under its "title — section" line, as it is embedded
    texts = [index.chunks[_row(index, p.chunk_id)].embedding_input for p in answer]
    expected = index.reranker.score([(question, text) for text in texts])
    assert scores == pytest.approx(expected.tolist(), abs=1e-5)


def test_the_fast_path_does_not_rerank(index: spasmqa.Index) -> None:
    answer = index.ask("charley horse", rerank=False)
    assert answer.reranker == "" and answer.best_rerank_score is None
    assert all(p.rerank_score is None for p in answer)
    fused = index.ask("charley horse", rerank=False, mode="hybrid")
    assert [p.fusion_score for p in fused] == sorted((p.fusion_score for p in fused), reverse=True)


def test_rerank_must_be_a_bool(index: spasmqa.Index) -> None:
    with pytest.raises(QueryError, match="rerank must be True or False"):
        index.ask("cramps", rerank="yes")  # type: ignore[arg-type]


def test_ask_many_reranks_across_questions_with_the_same_answers_as_ask(index: spasmqa.Index) -> None:
    questions = ["why does my eyelid twitch", "is magnesium good for cramps", "what is a charley horse"]
    many = index.ask_many(questions, k=4)
    for question, answer in zip(questions, many):
        assert answer.to_dict() == index.ask(question, k=4).to_dict()


def _row(index: spasmqa.Index, chunk_id: str) -> int:
    return next(i for i, chunk in enumerate(index.chunks) if chunk.chunk_id == chunk_id)


def test_an_uncalibrated_reranker_reorders_but_confidence_comes_from_the_bi_encoder(index: spasmqa.Index, tmp_path: Path) -> None:
    import shutil

    from spasmqa.reranking import bundled_reranker_folder

    folder = tmp_path / "another-cross-encoder"
    folder.mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        shutil.copy(bundled_reranker_folder() / name, folder / name)
    other = spasmqa.load(index.path, reranker=str(folder))
    question = "what helps a charley horse?"
    answer, fast = other.ask(question), index.ask(question, rerank=False)
    assert answer.reranker == str(folder.resolve()) and answer.best_rerank_score is not None
    assert answer.confidence == fast.confidence  # its logits' scale is unknown: the fast path's model judges
    assert "this reranker is not calibrated" in answer.reason
