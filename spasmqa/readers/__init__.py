"""Reading one file into text: each format's reader gives the text spasmqa cleans, chunks and cites.

A reader returns ``ReadText``: the file's text in spasmqa's plain form (paragraphs separated by blank
lines, headings as Markdown ``#`` lines, list items as ``- `` lines), split into pages for formats that
have them, and the title the file names for itself. A file that cannot give text raises ``UnreadableFile``
with the reason, which the corpus reports as a skipped file. Libraries are imported when a file of their
format is read, so a folder of text files never loads a PDF library.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from spasmqa.readers.base import ReadText, UnreadableFile

__all__ = ["READERS", "ReadText", "UnreadableFile", "read_file"]


def _text(path: Path) -> ReadText:
    from spasmqa.readers.text import read_text

    return read_text(path)


def _html(path: Path) -> ReadText:
    from spasmqa.readers.html import read_html

    return read_html(path)


def _pdf(path: Path) -> ReadText:
    from spasmqa.readers.pdf import read_pdf

    return read_pdf(path)


def _docx(path: Path) -> ReadText:
    from spasmqa.readers.docx import read_docx

    return read_docx(path)


READERS: dict[str, Callable[[Path], ReadText]] = {
    ".txt": _text,
    ".md": _text,
    ".markdown": _text,
    ".html": _html,
    ".htm": _html,
    ".pdf": _pdf,
    ".docx": _docx,
}


def read_file(path: Path) -> ReadText:
    """The text of ``path`` by its suffix; ``UnreadableFile`` when it has none to give."""
    if path.stat().st_size == 0:
        raise UnreadableFile("empty file")
    return READERS[path.suffix.lower()](path)
