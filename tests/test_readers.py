"""Documents as people have them: saved web pages, PDFs, Word files, other encodings and broken files,
made here with the libraries that write them, read with exact provenance and pages."""

from __future__ import annotations

import codecs
import json
import sys
import warnings
from pathlib import Path

import pytest

import spasmqa
from spasmqa.corpus import Document, load_corpus, pages_of, read_corpus
from spasmqa.errors import CorpusError, SkippedDocumentsWarning
from tests.conftest import run_command

PAGE_CHROME = (
    "Accept all cookies",
    "Sign up for our newsletter",
    "Leave a reply",
    "Great article, thanks!",
    "Copyright 2026 Calf Health",
    "Ten tips for better sleep",
    "Home",
)


def saved_page(title: str, body: str) -> str:
    """A web page as a browser saves it: the article inside navigation, banners, a sidebar, comments and a footer."""
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title} | Calf Health</title>
<script>var tracking = "Accept all cookies";</script><style>p {{ color: #333 }}</style></head><body>
<header><nav><a href="/">Home</a> <a href="/health">Health</a> <a href="/about">About us</a></nav></header>
<div class="cookie-banner">We use cookies to improve your experience. <button>Accept all cookies</button></div>
<div class="layout"><main><article><h1>{title}</h1>{body}
<p class="read-more">Read more: <a href="/sleep">Ten tips for better sleep</a></p>
<div class="author">About the author: Dana Reed writes about sports medicine.</div></article>
<section class="comments"><h3>Leave a reply</h3><form><textarea></textarea><button>Post comment</button></form>
<div class="comment"><p>Great article, thanks! My calves cramp every night after football.</p></div></section></main>
<aside><h3>Related articles</h3><ul><li><a href="/a">Five stretches for runners</a></li></ul>
<div class="newsletter"><h4>Sign up for our newsletter</h4><form><input type="email"></form></div></aside></div>
<footer><p>Copyright 2026 Calf Health. All rights reserved.</p><a href="/privacy">Privacy</a></footer></body></html>"""


CRAMP_PAGE = saved_page(
    "Night cramps in the calf",
    "<p>Night cramps are sudden, painful tightenings of the calf that wake people from sleep and can last for several "
    "minutes before the muscle lets go again.</p>"
    "<h2>What causes night cramps</h2><p>Long hours of sitting, dehydration and low magnesium are among the common "
    "causes; some medicines, such as diuretics, make them more likely &amp; more frequent.</p>"
    "<ul><li>Stretch the calf before going to bed.</li><li>Drink enough water during the day.</li></ul>"
    "<h2>When to see a doctor</h2><p>See a doctor when cramps come every night, are severe, or come with swelling, "
    "redness or weakness in the leg.</p><p>A note on markup: the sign &lt;script&gt; here is text, not code.</p>",
)

# Three pages of a leaflet; each page's words are its own, so a passage's page can be told from its text.
PDF_PAGES = (
    ("Why feet cramp", "Foot cramps often strike swimmers and dancers. Cold water and pointed toes shorten the small "
     "muscles of the sole until they seize. A well-known remedy is to pull the toes back toward the shin."),
    ("Eyelid twitching", "An eyelid twitch is a flicker of the orbicularis muscle. Fatigue, screen time and strong "
     "coffee bring it on, and it usually settles within a fortnight without any treatment at all."),
    ("Cramps in pregnancy", "Leg cramps trouble many women in the second half of pregnancy. Gentle calf stretches at "
     "bedtime and a warm bath help, and a midwife can advise on magnesium."),
)


def write_pdf(path: Path, pages: tuple[tuple[str, str], ...] = PDF_PAGES, password: str | None = None) -> Path:
    """A PDF with a running header and a "Page N of M" footer, one heading and paragraph per page, and the
    word "common" hyphenated across a line end at the start of every page's paragraph."""
    from fpdf import FPDF

    class Leaflet(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", size=8)
            self.cell(0, 8, "Calf Health leaflets - muscle cramps", new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", size=8)
            self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")

    pdf = Leaflet()
    pdf.alias_nb_pages()
    pdf.set_title("Muscle cramps leaflet")
    if password is not None:
        pdf.set_encryption(owner_password="owner", user_password=password)
    below = {"new_x": "LMARGIN", "new_y": "NEXT"}
    for heading, paragraph in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 15)
        pdf.multi_cell(0, 9, heading, **below)
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, f"Cramps like these are com-\nmon and mostly harmless. {paragraph}", **below)
    pdf.output(str(path))
    return path


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Cramps after exercise", 0)
    document.add_paragraph("Cramps after a long run come from tired muscles more than from lost salt, trials suggest.")
    document.add_heading("What helps", 1)
    document.add_paragraph("Stretch the cramping muscle gently.", style="List Bullet")
    document.add_paragraph("Walk it off slowly.", style="List Bullet")
    document.add_heading("Sports drinks", 2)
    document.add_paragraph("Pickle juice stops a cramp within about ninety seconds in small studies.")
    document.save(str(path))
    return path


def one(corpus_dir: Path) -> Document:
    (document,) = read_corpus(corpus_dir).documents
    return document


# --- each format ----------------------------------------------------------------------------------------


def test_a_saved_page_gives_its_article_with_headings_and_none_of_the_page_around_it(tmp_path: Path) -> None:
    (tmp_path / "cramps.html").write_text(CRAMP_PAGE, encoding="utf-8")
    document = one(tmp_path)
    assert document.title == "Night cramps in the calf" and document.source == "cramps.html"
    assert "## What causes night cramps" in document.text.split("\n") and "## When to see a doctor" in document.text
    assert "some medicines, such as diuretics, make them more likely & more frequent." in document.text
    assert "- Stretch the calf before going to bed.\n- Drink enough water during the day." in document.text
    assert "the sign <script> here is text" in document.text  # unescaped once, as the page shows it
    leaked = [chrome for chrome in PAGE_CHROME if chrome in document.text]
    assert not leaked, leaked


def test_a_pdf_gives_its_pages_with_hyphens_mended_and_running_headers_dropped(tmp_path: Path) -> None:
    document = one(write_pdf(tmp_path / "leaflet.pdf").parent)
    assert document.title == "Muscle cramps leaflet"
    assert len(document.page_starts) == 3
    for number, (heading, paragraph) in enumerate(PDF_PAGES, start=1):
        for words in (heading, paragraph.split(". ")[1]):
            start = document.text.index(words)
            assert document.pages(start, start + len(words)) == (number, number), words
    assert document.text.count("Cramps like these are common and mostly harmless.") == 3
    assert "well-known remedy" in document.text  # a hyphen inside a line is not a line-end hyphen
    assert "Calf Health leaflets" not in document.text and "Page 1 of 3" not in document.text
    assert "\n\n" + PDF_PAGES[1][0] + "\n\n" in document.text  # a heading stands as its own paragraph
    across = document.text.index(PDF_PAGES[0][1][-20:])
    assert document.pages(across, document.text.index(PDF_PAGES[1][0]) + 5) == (1, 2)


def test_pages_of_maps_characters_to_pages_including_empty_pages() -> None:
    starts = (0, 100, 100, 250)  # page 2 is empty: page 3 begins where it would have
    assert pages_of(starts, 0, 99) == (1, 1)
    assert pages_of(starts, 99, 101) == (1, 3)
    assert pages_of(starts, 100, 250) == (3, 3)
    assert pages_of(starts, 260, 270) == (4, 4)
    assert pages_of((), 0, 10) is None


def test_a_word_file_gives_its_headings_lists_and_title(tmp_path: Path) -> None:
    document = one(write_docx(tmp_path / "after-exercise.docx").parent)
    assert document.title == "Cramps after exercise" and document.page_starts == ()
    assert document.text.split("\n\n") == [
        "# Cramps after exercise",
        "Cramps after a long run come from tired muscles more than from lost salt, trials suggest.",
        "## What helps",
        "- Stretch the cramping muscle gently.",
        "- Walk it off slowly.",
        "### Sports drinks",
        "Pickle juice stops a cramp within about ninety seconds in small studies.",
    ]


TEXT = "Crampes: a café owner's calf cramps at 3 a.m., every night, after long days on her feet near the crème brûlée oven.\n"


@pytest.mark.parametrize(
    "encoded",
    [TEXT.encode("cp1252"), TEXT.encode("latin-1"), codecs.BOM_UTF8 + TEXT.encode("utf-8"), TEXT.encode("utf-16")],
    ids=["cp1252", "latin-1", "utf-8-bom", "utf-16"],
)
def test_text_in_another_encoding_is_read_as_written(tmp_path: Path, encoded: bytes) -> None:
    (tmp_path / "notes.txt").write_bytes(encoded)
    assert one(tmp_path).text == TEXT.strip()


# --- a folder as people have it -------------------------------------------------------------------------

BROKEN = {
    "empty.txt": (b"", "empty file"),
    "photo.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary data, not text"),
    "menu.html": (b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "no article text found in the page"),
    "broken.docx": (b"PK\x03\x04 not really a zip", "not a readable .docx"),
    "chrome.md": (b"Leave a reply\n\nAdvertisement\n", "no text left after cleaning"),
}


def mixed_folder(root: Path) -> Path:
    """Sub-folders, every format, and one file of each kind that cannot be a document."""
    (root / "pages").mkdir(parents=True)
    (root / "leaflets" / "old").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "pages" / "cramps.html").write_text(CRAMP_PAGE, encoding="utf-8")
    write_pdf(root / "leaflets" / "leaflet.pdf")
    write_docx(root / "after-exercise.docx")
    (root / "notes.txt").write_bytes(TEXT.encode("cp1252"))
    (root / "leaflets" / "old" / "stretches.md").write_text("# Stretches\n\nHold each calf stretch for thirty seconds.\n")
    (root / ".hidden" / "secret.txt").write_text("Not a document: hidden folders are left out.\n")
    (root / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # not a document format: not read at all
    for name, (content, _) in BROKEN.items():
        (root / name).write_bytes(content)
    write_pdf(root / "leaflets" / "locked.pdf", password="secret")
    whole = write_pdf(root / "whole.pdf").read_bytes()
    (root / "leaflets" / "truncated.pdf").write_bytes(whole[: len(whole) // 3])
    (root / "whole.pdf").unlink()
    return root


SKIPPED_REASONS = {
    **{name: reason for name, (_, reason) in BROKEN.items()},
    "leaflets/locked.pdf": "password-protected",
    "leaflets/truncated.pdf": "not a readable PDF",
}


def test_a_mixed_folder_reads_every_format_and_skips_each_broken_file_with_its_reason(tmp_path: Path) -> None:
    corpus = read_corpus(mixed_folder(tmp_path))
    assert [(d.doc_id, d.source) for d in corpus.documents] == [
        ("after-exercise", "after-exercise.docx"),
        ("leaflets-leaflet", "leaflets/leaflet.pdf"),
        ("leaflets-old-stretches", "leaflets/old/stretches.md"),
        ("notes", "notes.txt"),
        ("pages-cramps", "pages/cramps.html"),
    ]
    assert {file.source: file.reason for file in corpus.skipped}.keys() == SKIPPED_REASONS.keys()
    for file in corpus.skipped:
        assert SKIPPED_REASONS[file.source] in file.reason, (file.source, file.reason)
    assert corpus.files == 5 + len(SKIPPED_REASONS)


def test_each_skipped_file_is_one_warning_and_strict_refuses_naming_them_all(tmp_path: Path) -> None:
    folder = mixed_folder(tmp_path)
    with pytest.warns(SkippedDocumentsWarning) as caught:
        documents = load_corpus(folder)
    assert len(documents) == 5 and len(caught) == len(SKIPPED_REASONS)
    assert sorted(str(w.message).split(":")[0] for w in caught) == sorted(f"skipped {name}" for name in SKIPPED_REASONS)
    with pytest.raises(CorpusError, match=f"has {len(SKIPPED_REASONS)} files that cannot be documents") as refused:
        read_corpus(folder, strict=True)
    assert all(name in str(refused.value) for name in SKIPPED_REASONS) and "drop strict=True" in str(refused.value)


def test_a_folder_whose_every_file_is_broken_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(CorpusError, match=r"none of the 1 document files .* could be read: empty.txt \(empty file\)"):
        read_corpus(tmp_path)


# --- built, asked, loaded again -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, spasmqa.Index]:
    folder = mixed_folder(tmp_path_factory.mktemp("mixed"))
    with pytest.warns(SkippedDocumentsWarning):
        index = spasmqa.build(folder, tmp_path_factory.mktemp("mixed-index") / "index")
    return folder, index


def test_a_mixed_folder_answers_with_exact_offsets_and_a_pdf_answer_has_its_page(mixed_index: tuple[Path, spasmqa.Index]) -> None:
    _, index = mixed_index
    documents = {document.doc_id: document for document in index.documents()}
    for chunk in index.chunks:
        assert documents[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text
    answer = index.ask("what brings on an eyelid twitch?", k=3)
    top = answer[0]
    assert top.doc_id == "leaflets-leaflet" and top.page == (2, 2), top
    assert documents[top.doc_id].text[top.start : top.end] == top.text
    assert "page 2 · chars" in str(top)
    web = index.ask("when should I see a doctor about night cramps?", k=1)[0]
    assert web.doc_id == "pages-cramps" and web.section == "When to see a doctor" and web.page is None


def test_the_manifest_records_skipped_files_and_loading_warns_only_of_new_ones(
    mixed_index: tuple[Path, spasmqa.Index], tmp_path: Path
) -> None:
    folder, index = mixed_index
    manifest = json.loads((index.path / "manifest.json").read_text())
    assert {entry["source"] for entry in manifest["skipped"]} == SKIPPED_REASONS.keys()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spasmqa.load(index.path)  # the build's skipped files were reported by the build
    (folder / "also-empty.md").write_bytes(b"")
    try:
        with pytest.warns(SkippedDocumentsWarning, match="skipped also-empty.md: empty file") as caught:
            spasmqa.load(index.path)
        assert len(caught) == 1
    finally:
        (folder / "also-empty.md").unlink()


def test_the_command_line_lists_what_it_skipped(tmp_path: Path, spasmqa_home: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_bytes(TEXT.encode("cp1252"))
    write_docx(folder / "after-exercise.docx")
    (folder / "empty.txt").write_bytes(b"")
    write_pdf(folder / "locked.pdf", password="secret")
    command = [sys.executable, "-m", "spasmqa", "build", "--corpus", str(folder), "--out", str(tmp_path / "index")]
    done = run_command(command, spasmqa_home)
    assert done.returncode == 0, done.stderr
    assert "built from 4 files, skipped 2: empty.txt (empty file); locked.pdf (password-protected" in done.stdout
    assert "spasmqa: warning: skipped empty.txt: empty file" in done.stderr
    strict = run_command(command + ["--strict"], spasmqa_home)
    assert strict.returncode != 0 and "has 2 files that cannot be documents" in strict.stderr
    start = TEXT.index("calf cramps")
    show = [sys.executable, "-m", "spasmqa", "show", "notes", "--index", str(tmp_path / "index"), "--start", str(start)]
    shown = run_command(show + ["--end", str(start + 11)], spasmqa_home)
    assert shown.returncode == 0, shown.stderr
    assert "notes · notes.txt" in shown.stdout and "a café owner's »calf cramps« at 3 a.m." in shown.stdout
    wrong = run_command(show + ["--end", "100000"], spasmqa_home)
    assert wrong.returncode != 0 and "0 <= start < end <=" in wrong.stderr
