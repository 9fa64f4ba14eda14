"""PDF files with pypdfium2 (PDFium's text layer): text page by page, paragraphs rebuilt from the lines.

A PDF has no paragraphs, only positioned lines. A line starts a new paragraph when the space above it
is clearly more than the page's usual line spacing or its letters are of another size (a heading).
PDFium marks a word hyphenated at a line end (U+0002 or U+FFFE); the halves are joined, keeping the
hyphen only when the document also writes that word with one elsewhere ("well-known"). A line among the
two at either end of a page whose text recurs there on most pages (a running title), or the outermost line
when only its numbers differ ("Page 3 of 9"), is a running header or footer, and is dropped.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spasmqa.readers.base import ReadText, UnreadableFile

# PDFium writes a hyphen it judges to break a word at a line end as U+0002 (U+FFFE in some versions)
_SOFT_HYPHENS = "\x02\ufffe"
_HYPHENATED = re.compile(r"(\w+)[\x02\ufffe]\s*(\w+)")
# PDFium also runs the line after such a hyphen into the same line of text, even a page's footer: the mark ends a line.
_LINE = re.compile(r"[^\r\n\x02\ufffe]+[\x02\ufffe]?")
# Spacing more than this many times the page's usual spacing, or letters this much taller or shorter, break a paragraph.
_PARAGRAPH_SPACING = 1.35
_HEIGHT_CHANGE = 0.15
# A line repeated at the same end of at least this share of pages (and of two or more) is a running header or
# footer: any of the two lines at each end when its text is the same, the outermost one also when only its
# numbers differ ("Page 3 of 9").
_RUNNING_SHARE = 0.5
_RUNNING_LINES = 2


@dataclass(frozen=True)
class _Line:
    """A line of the page: where its first letter and its last letter stand, and the first one's font size."""

    text: str
    first_bottom: float
    last_bottom: float
    height: float


def read_pdf(path: Path) -> ReadText:
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise UnreadableFile("password-protected; save an unprotected copy") from None
        raise UnreadableFile(f"not a readable PDF, damaged or truncated ({exc})") from None
    try:
        pages = [_page_lines(document[number]) for number in range(len(document))]
        title = (document.get_metadata_dict().get("Title") or "").strip() or None
    finally:
        document.close()
    if not any(pages):
        raise UnreadableFile("no text layer (a scanned PDF needs OCR first)")
    running = _running_lines(pages)
    return ReadText(_mend_hyphens([_paragraphs(_without_running(lines, running)) for lines in pages]), title=title, paged=True)


def _page_lines(page: Any) -> list[_Line]:
    """The page's lines in reading order, placed by their letters' font boxes (left, bottom, right, top)."""
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        lines = []
        for piece in _LINE.finditer(text):
            letters = [i for i in range(piece.start(), piece.end()) if text[i].isalnum()]
            if letters:
                first, last = textpage.get_charbox(letters[0], loose=True), textpage.get_charbox(letters[-1], loose=True)
                lines.append(_Line(piece.group(0).strip(), first[1], last[1], first[3] - first[1]))
        return lines
    finally:
        textpage.close()
        page.close()


def _shape(text: str) -> str:
    return re.sub(r"\d+", "#", text.casefold())


def _ends(lines: list[_Line]) -> dict[str, tuple[list[_Line], _Line | None]]:
    """Per end of a page, the lines a running header or footer can be, and the outermost one."""
    return {"top": (lines[:_RUNNING_LINES], lines[0] if lines else None),
            "bottom": (lines[-_RUNNING_LINES:], lines[-1] if lines else None)}


def _running_lines(pages: list[list[_Line]]) -> dict[str, set[str]]:
    """Per end, the texts (and outermost lines' digit shapes, marked ``#``-prefixed) that repeat on most pages."""
    counts: dict[str, Counter[str]] = {"top": Counter(), "bottom": Counter()}
    for lines in pages:
        for end, (candidates, outermost) in _ends(lines).items():
            seen = {line.text for line in candidates} | ({"#" + _shape(outermost.text)} if outermost else set())
            counts[end].update(seen)
    needed = max(2, _RUNNING_SHARE * len(pages))
    return {end: {key for key, count in counter.items() if count >= needed} for end, counter in counts.items()}


def _without_running(lines: list[_Line], running: dict[str, set[str]]) -> list[_Line]:
    dropped: set[int] = set()
    for end, (candidates, outermost) in _ends(lines).items():
        dropped |= {id(line) for line in candidates if line.text in running[end]}
        if outermost is not None and "#" + _shape(outermost.text) in running[end]:
            dropped.add(id(outermost))
    return [line for line in lines if id(line) not in dropped]


def _paragraphs(lines: list[_Line]) -> str:
    """The lines of one page as paragraphs separated by blank lines."""
    spacings = [above.last_bottom - line.first_bottom for above, line in zip(lines, lines[1:]) if above.last_bottom > line.first_bottom]
    usual = statistics.median(spacings) if spacings else 0.0
    paragraphs: list[str] = []
    for number, line in enumerate(lines):
        above = lines[number - 1] if number else None
        if above is None or _breaks(above, line, usual):
            paragraphs.append(line.text)
        else:
            joiner = "" if paragraphs[-1][-1] in _SOFT_HYPHENS else " "
            paragraphs[-1] += joiner + line.text
    return "\n\n".join(paragraphs)


def _breaks(above: _Line, line: _Line, usual: float) -> bool:
    spacing = above.last_bottom - line.first_bottom
    resized = abs(line.height - above.height) > _HEIGHT_CHANGE * max(line.height, above.height)
    return spacing <= 0 or spacing > _PARAGRAPH_SPACING * usual or resized


def _mend_hyphens(pages: list[str]) -> tuple[str, ...]:
    """Join words PDFium found hyphenated at a line end; keep the hyphen of words written with one elsewhere."""
    whole = "\n".join(pages).casefold()

    def mend(match: re.Match[str]) -> str:
        left, right = match.group(1), match.group(2)
        return f"{left}-{right}" if f"{left}-{right}".casefold() in whole else left + right

    return tuple(re.sub(f"[{_SOFT_HYPHENS}]", "-", _HYPHENATED.sub(mend, page)) for page in pages)
