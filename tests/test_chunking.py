from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spasmqa
from spasmqa.chunking import (
    MIN_TEXT_BUDGET,
    Chunk,
    ChunkSettings,
    chunk_document,
    context_line,
    parse_blocks,
    split_sentences,
)
from spasmqa.cleaning import clean_text
from spasmqa.corpus import Document
from spasmqa.errors import ChunkingError


def count_words(texts: Sequence[str]) -> list[int]:
    return [len(text.split()) for text in texts]


def make_doc(text: str, title: str = "A Title") -> Document:
    return Document(doc_id="doc", title=title, source="doc.txt", text=text, sha256="0" * 64)


# --- the real corpus, chunked with the real tokenizer -------------------------------------------


def test_every_chunk_is_its_exact_span(index: spasmqa.Index, docs_by_id: dict[str, Document]) -> None:
    assert len(index.chunks) > 50
    for chunk in index.chunks:
        assert docs_by_id[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text


def test_no_chunk_over_the_token_limit(index: spasmqa.Index) -> None:
    limit = index.manifest.chunking.max_tokens
    assert limit <= index.embedder.max_seq_length
    recounted = index.embedder.count_tokens([chunk.embedding_input for chunk in index.chunks])
    for chunk, tokens in zip(index.chunks, recounted):
        assert chunk.token_count == tokens + index.embedder.special_tokens <= limit


def test_chunk_ids_are_unique_and_made_of_document_and_offsets(index: spasmqa.Index) -> None:
    ids = [chunk.chunk_id for chunk in index.chunks]
    assert len(set(ids)) == len(ids)
    assert all(c.chunk_id == f"{c.doc_id}:{c.start}-{c.end}" for c in index.chunks)


def test_chunks_know_their_section_and_never_cross_a_heading(
    index: spasmqa.Index, docs_by_id: dict[str, Document]
) -> None:
    for doc_id, doc in docs_by_id.items():
        headings = [b for b in parse_blocks(doc.text) if b.kind == "heading"]
        for chunk in (c for c in index.chunks if c.doc_id == doc_id):
            previous = [h for h in headings if h.end <= chunk.start]
            assert chunk.section == (previous[-1].section if previous else "")
            assert not any(chunk.start < h.start < chunk.end for h in headings)


def test_sections_of_a_real_article(index: spasmqa.Index) -> None:
    sections = {c.section for c in index.chunks if c.doc_id == "twitch-or-cramp-why"}
    assert {"What Is Myoclonus?", "Treating Muscle Twitches and Spasms"} <= sections
    myoclonus = [c for c in index.chunks if c.section == "What Is Myoclonus?"]
    assert all(c.context.endswith("— What Is Myoclonus?") for c in myoclonus)


def test_all_body_text_is_covered(index: spasmqa.Index, docs_by_id: dict[str, Document]) -> None:
    for doc_id, doc in docs_by_id.items():
        covered = bytearray(len(doc.text))
        for chunk in (c for c in index.chunks if c.doc_id == doc_id):
            covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
        for block in parse_blocks(doc.text):
            if block.kind != "heading":
                uncovered = [i for i in range(block.start, block.end) if not covered[i] and not doc.text[i].isspace()]
                assert not uncovered, doc.text[block.start : block.end]


def test_chunking_is_deterministic(index: spasmqa.Index, corpus_docs: tuple[Document, ...]) -> None:
    settings_ = index.manifest.chunking
    again = [
        c
        for doc in corpus_docs
        for c in chunk_document(doc, settings_, index.embedder.count_tokens, index.embedder.special_tokens)
    ]
    assert again == list(index.chunks)


# --- structure ---------------------------------------------------------------------------------


def test_parse_blocks_reads_headings_lists_and_wrapped_paragraphs() -> None:
    text = (
        "Title Line\n\nIntro sentence here.\nCauses\n- one.\n- two.\n"
        "A paragraph that is hard\nwrapped over two lines.\n## Markdown heading\nBody text.\n"
        "Here are some things:\nNot a heading either"
    )
    blocks = [(b.kind, text[b.start : b.end], b.section) for b in parse_blocks(text)]
    assert blocks == [
        ("heading", "Title Line", "Title Line"),
        ("paragraph", "Intro sentence here.", "Title Line"),
        ("heading", "Causes", "Causes"),
        ("list_item", "- one.", "Causes"),
        ("list_item", "- two.", "Causes"),
        ("paragraph", "A paragraph that is hard\nwrapped over two lines.", "Causes"),
        ("heading", "## Markdown heading", "Markdown heading"),
        ("paragraph", "Body text.", "Markdown heading"),
        ("paragraph", "Here are some things:", "Markdown heading"),
        ("paragraph", "Not a heading either", "Markdown heading"),
    ]


def test_split_sentences_keeps_abbreviations_and_offsets() -> None:
    text = "Dr. Piccione says so. It is e.g. common vs. rare! Is it? “Yes,” she said. 3 more."
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == [
        "Dr. Piccione says so.",
        "It is e.g. common vs. rare!",
        "Is it?",
        "“Yes,” she said.",
        "3 more.",
    ]


def test_context_modes() -> None:
    assert context_line(ChunkSettings(context="title+section"), "T", "S") == "T — S"
    assert context_line(ChunkSettings(context="title+section"), "T", "") == "T"
    assert context_line(ChunkSettings(context="title+section"), "T", "T") == "T"
    assert context_line(ChunkSettings(context="section"), "T", "S") == "S"
    assert context_line(ChunkSettings(context="none"), "T", "S") == ""


@pytest.mark.parametrize(
    "kwargs",
    [{"max_tokens": 8}, {"overlap_tokens": -1}, {"max_tokens": 64, "overlap_tokens": 40}, {"context": "all"}],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ChunkingError):
        ChunkSettings(**kwargs)  # type: ignore[arg-type]


def test_settings_above_the_model_window_are_refused(index: spasmqa.Index, tmp_path: object) -> None:
    with pytest.raises(ChunkingError, match="lower max_tokens"):
        spasmqa.build(index_dir=str(tmp_path), settings=ChunkSettings(max_tokens=index.embedder.max_seq_length + 1))


def test_a_word_longer_than_a_chunk_fails_loudly() -> None:
    doc = make_doc("Short intro.\n\n" + "x" * 50)
    with pytest.raises(ChunkingError, match="single word"):
        chunk_document(doc, ChunkSettings(max_tokens=32, overlap_tokens=0), lambda ts: [len(t) for t in ts])


def test_overlap_repeats_trailing_sentences_only_when_asked() -> None:
    text = " ".join(f"Sentence number {i} has five words." for i in range(40))
    doc = make_doc(text)
    plain = chunk_document(doc, ChunkSettings(max_tokens=40, overlap_tokens=0, context="none"), count_words)
    overlapped = chunk_document(doc, ChunkSettings(max_tokens=40, overlap_tokens=12, context="none"), count_words)
    assert all(a.end < b.start for a, b in zip(plain, plain[1:]))
    assert all(b.start < a.end < b.end for a, b in zip(overlapped, overlapped[1:]))


def test_chunks_prefer_to_end_with_a_paragraph() -> None:
    text = "\n".join(" ".join(f"Para {p} sentence {s} is here." for s in range(3)) for p in range(6))
    chunks = chunk_document(make_doc(text), ChunkSettings(max_tokens=40, overlap_tokens=0, context="none"), count_words)
    line_ends = {m.start() for m in re.finditer("\n", text)} | {len(text)}
    assert all(c.end in line_ends for c in chunks)


# --- properties over generated texts ------------------------------------------------------------

WORD = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=8)
SENTENCE = st.builds(lambda words, end: " ".join(words) + end, st.lists(WORD, min_size=1, max_size=12), st.sampled_from([".", "!", "?", ""]))
LINE = st.one_of(
    st.builds(" ".join, st.lists(SENTENCE, min_size=1, max_size=6)),
    st.builds(lambda s: "- " + s, SENTENCE),
    st.builds(lambda s: "# " + s, SENTENCE),
    st.just(""),
)
RAW_TEXT = st.builds("\n".join, st.lists(LINE, min_size=1, max_size=25))


@settings(max_examples=300, deadline=None)
@given(raw=RAW_TEXT, max_tokens=st.integers(32, 80), overlap=st.integers(0, 16), context=st.sampled_from(["none", "section", "title+section"]))
def test_chunking_properties_on_generated_text(raw: str, max_tokens: int, overlap: int, context: str) -> None:
    text = clean_text(raw).text
    doc = make_doc(text)
    chunk_settings = ChunkSettings(max_tokens=max_tokens, overlap_tokens=overlap, context=context)
    sections = {b.section for b in parse_blocks(text) if b.kind != "heading"}
    budgets = [max_tokens - 2 - count_words([context_line(chunk_settings, doc.title, s)])[0] for s in sections]
    if any(budget < MIN_TEXT_BUDGET for budget in budgets):
        with pytest.raises(ChunkingError, match="context line"):
            chunk_document(doc, chunk_settings, count_words, special_tokens=2)
        return
    chunks = chunk_document(doc, chunk_settings, count_words, special_tokens=2)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.token_count == count_words([chunk.embedding_input])[0] + 2 <= max_tokens
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    assert chunks == sorted(chunks, key=lambda c: (c.start, c.end))
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    for block in parse_blocks(text):
        if block.kind != "heading":
            body = [i for i in range(block.start, block.end) if not text[i].isspace()]
            assert set(body) <= covered


def test_chunk_records_round_trip() -> None:
    chunk = Chunk("d:0-4", "d", "S", 0, 4, "text", "T — S", 7)
    assert Chunk.from_dict(chunk.to_dict()) == chunk
    assert chunk.embedding_input == "T — S\ntext"
