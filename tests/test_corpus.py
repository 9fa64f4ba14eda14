from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from spasmqa.cleaning import clean_text
from spasmqa.corpus import Document, bundled_corpus_dir, load_corpus, slugify
from spasmqa.errors import CorpusError, SkippedDocumentsWarning

CHROME = (
    "Sign up for our Newsletter",
    "Leave a Repl",
    "Leave a Response",
    "Video of the Day",
    "Read more:",
    "Image Credit",
    "Loading Facebook Comments",
    "The author",
    "Tags :",
    "MFF Terminator",
    "muscle-twitching-in-thighs",
    "Learn more about these symptoms",
)


def test_bundled_corpus_has_five_documents_matching_metadata(corpus_docs: tuple[Document, ...]) -> None:
    metadata = json.loads((bundled_corpus_dir() / "metadata.json").read_text())["documents"]
    assert [doc.doc_id for doc in corpus_docs] == [entry["id"] for entry in metadata]
    for doc, entry in zip(corpus_docs, metadata):
        raw = (bundled_corpus_dir() / entry["file"]).read_bytes()
        assert doc.sha256 == entry["sha256"] == hashlib.sha256(raw).hexdigest()
        assert doc.source == entry["file"] and doc.title == entry["title"]


def test_bundled_files_are_the_seed_articles_unchanged() -> None:
    seeds = Path(__file__).resolve().parents[2] / "shared" / "seeds"
    if not seeds.is_dir():
        pytest.skip("shared/seeds is not beside this checkout")
    for seed in sorted(seeds.glob("*.txt")):
        assert (bundled_corpus_dir() / seed.name).read_bytes() == seed.read_bytes()


@pytest.mark.parametrize("chrome", CHROME)
def test_no_page_chrome_in_cleaned_corpus(corpus_docs: tuple[Document, ...], chrome: str) -> None:
    assert all(chrome not in doc.text for doc in corpus_docs)


def test_article_text_survives_cleaning(docs_by_id: dict[str, Document]) -> None:
    assert "Muscle twitches are usually harmless" in docs_by_id["mff-twitching-and-spasm"].text
    assert "insufficient stretching before training sessions." in docs_by_id["mff-twitching-and-spasm"].text
    assert "Myoclonus is another medical term" in docs_by_id["twitch-or-cramp-why"].text
    assert "call 911" in docs_by_id["twitch-or-cramp-why"].text


@pytest.mark.parametrize(
    ("doc_id", "paragraph"),
    [
        ("mff-twitching-and-spasm", "Muscle twitches are usually harmless and most of the time"),
        ("auger-cramps-vs-spasms", "- Muscle overuse: As with cramps, spasms can occur"),
    ],
)
def test_repeated_paragraph_kept_once(docs_by_id: dict[str, Document], doc_id: str, paragraph: str) -> None:
    assert docs_by_id[doc_id].text.count(paragraph) == 1


def test_cleaning_rules_on_a_new_article() -> None:
    raw = (
        "My Title\r\n\r\nFirst paragraph\u00a0with  odd   spacing.\r\n"
        "Photo credit: Someone/Agency\n"
        "Subscribe to our newsletter for updates\n"
        "Read more: Ten things about sleep\n"
        "•\n"
        "- A real bullet.\n"
        "A paragraph repeated later on in the very same article text.\n\n\n\n"
        "A paragraph repeated later on in the very same article text.\n"
        "It ends here.a-glued-image-name\n"
        "Posted by Jane Roe\nJane Roe\n"
        "Share this article\n"
        "3 Comments\n"
        "Post a Comment"
    )
    cleaned = clean_text(raw)
    assert cleaned.text == (
        "My Title\n\nFirst paragraph with odd spacing.\n- A real bullet.\n"
        "A paragraph repeated later on in the very same article text.\n\nIt ends here."
    )
    reasons = {removal.reason for removal in cleaned.removals}
    assert reasons == {
        "image credit", "newsletter prompt", "related-link", "empty bullet", "repeated paragraph",
        "image file name", "author box", "share prompt", "comment prompt",
    }


def test_short_repeated_lines_are_not_treated_as_repeated_paragraphs() -> None:
    text = "Causes\n\nOne thing.\n\nCauses\n\nAnother thing."
    assert clean_text(text).text == text


def test_user_folder_ids_titles_and_markdown(tmp_path: Path) -> None:
    (tmp_path / "Night Cramps.md").write_text("# Night cramps\n\nThey wake you up.\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("no heading here, just text.\n", encoding="utf-8")
    (tmp_path / "ignored.json").write_text("{}", encoding="utf-8")
    docs = load_corpus(tmp_path)
    assert [(d.doc_id, d.title, d.source) for d in docs] == [
        ("night-cramps", "Night cramps", "Night Cramps.md"),
        ("notes", "notes", "notes.txt"),
    ]


def test_slugify() -> None:
    assert slugify("000_Ärger über Krämpfe!") == "000-arger-uber-krampfe"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, r"has no documents \(.txt, .md, .markdown, .html, .htm, .pdf, .docx files\)"),
        ({"ignored.json": b"{}"}, "has no documents"),
        ({"a.txt": b"Leave a Reply\n"}, r"none of the 1 document files .* could be read: a.txt \(no text left after cleaning\)"),
        ({"a b.txt": b"One.", "a-b.txt": b"Two."}, "both get the id 'a-b'"),
        (
            {"a.txt": b"Text.", "metadata.json": b'{"documents": [{"file": "a.txt", "id": "a", "sha256": "00"}]}'},
            "has changed since its metadata was written",
        ),
        ({"a.txt": b"Text.", "metadata.json": b"[1, 2"}, "is not valid metadata"),
        ({"a.txt": b"Text.", "metadata.json": b'{"documents": [{"file": "gone.txt"}]}'}, "gone.txt"),
    ],
)
def test_bad_corpus_folders_are_refused(tmp_path: Path, files: dict[str, bytes], message: str) -> None:
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        load_corpus(tmp_path)


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")


# --- BEIR corpora ----------------------------------------------------------------------------------


def write_corpus_jsonl(folder: Path, lines: list[bytes]) -> Path:
    (folder / "corpus.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return folder


BEIR_LINES = [
    b'{"_id": "a", "title": "A", "text": "Kept: the first record."}',
    b'{"_id": "empty", "title": "E", "text": ""}',
    b'{"_id": "blank", "text": "  \\n\\t "}',
    b'{"_id": "chrome", "text": "Advertisement"}',
    b"{not json",
    b'{"_id": "untexted", "title": "no text field"}',
    b'{"_id": "null", "text": null}',
    b'{"_id": "latin1", "text": "caf\xe9"}',
    b"",
    b'{"_id": "b", "text": "Kept: the last record."}',
]
SKIPPED = (
    "line 2 (empty): empty text; line 3 (blank): only whitespace; line 4 (chrome): no text left after cleaning; "
    "line 5 (no id): not JSON (",  # then json's own words, which vary between Python versions
    "); line 6 (untexted): no text field; line 7 (null): no text field; line 8 (no id): not UTF-8",
)


def test_beir_corpus_leaves_out_unusable_records_with_one_warning(tmp_path: Path) -> None:
    write_corpus_jsonl(tmp_path, BEIR_LINES)
    with pytest.warns(SkippedDocumentsWarning) as caught:
        docs = load_corpus(tmp_path)
    message = str(caught[0].message)
    assert len(caught) == 1 and f"left out 7 records that cannot be documents: {SKIPPED[0]}" in message
    assert f"{SKIPPED[1]}. They are not in the index" in message
    assert [(d.doc_id, d.title, d.source) for d in docs] == [("a", "A", "corpus.jsonl#1"), ("b", "b", "corpus.jsonl#10")]
    assert docs[0].sha256 == hashlib.sha256(BEIR_LINES[0] + b"\n").hexdigest()  # as before: the record's line


def test_strict_refuses_a_beir_corpus_with_unusable_records(tmp_path: Path) -> None:
    write_corpus_jsonl(tmp_path, BEIR_LINES)
    with pytest.raises(CorpusError, match="has 7 records that cannot be documents") as raised:
        load_corpus(tmp_path, strict=True)
    assert all(part in str(raised.value) for part in SKIPPED) and "give them text or remove them" in str(raised.value)


def test_beir_corpus_without_a_usable_record_is_refused(tmp_path: Path) -> None:
    write_corpus_jsonl(tmp_path, [b'{"_id": "empty", "text": ""}'])
    with pytest.warns(SkippedDocumentsWarning), pytest.raises(CorpusError, match="has no usable documents"):
        load_corpus(tmp_path)
