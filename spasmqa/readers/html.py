"""Saved web pages (``.html``, ``.htm``): the article without the page around it, by readability-lxml.

readability finds the element that holds the article (navigation, sidebars, newsletter boxes, comment
forms and footers left out) and keeps its markup, so headings stay headings: spasmqa writes each block
in its plain form (``#`` headings by level, ``- `` list items, table rows, paragraphs). It compared best
of three libraries on saved pages with page chrome (``results/readers.txt``): all headings kept, where
trafilatura lost every heading of a page whose content sat in unnamed ``<div>``s. What it keeps inside
the article (a "Read more" link, an author box) is removed by spasmqa's cleaning, as for text files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spasmqa.readers.base import ReadText, UnreadableFile

_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_BLOCKS = {"p", "li", "tr", "pre", "blockquote", "dt", "dd", "figcaption", *_HEADINGS}


def read_html(path: Path) -> ReadText:
    import lxml.html
    from readability import Document

    data = path.read_bytes()
    page = Document(data)  # bytes: readability reads the page's own charset declaration
    try:
        summary = page.summary(html_partial=True)
    except Exception as exc:  # noqa: BLE001 - readability raises its own Unparseable, or lxml's errors, on a broken page
        raise UnreadableFile(f"not a readable web page ({type(exc).__name__}: {exc})") from None
    blocks = _blocks(lxml.html.fromstring(summary)) if summary.strip() else []
    if not blocks:
        raise UnreadableFile("no article text found in the page")
    return ReadText(("\n\n".join(blocks),), title=_title(page.short_title().strip(), blocks))


def _title(page_title: str, blocks: list[str]) -> str | None:
    """The page's title; the article's own first heading when the page title is that heading plus the site's name."""
    heading = next((block.lstrip("#").strip() for block in blocks if block.startswith("#")), None)
    if heading and page_title.startswith(heading) and len(page_title) > len(heading):
        return heading
    return page_title or heading


def _blocks(root: Any) -> list[str]:
    """Each innermost block of the article as one line of spasmqa's plain text, in page order."""
    blocks: list[str] = []
    for element in root.iter():
        if not isinstance(element.tag, str) or element.tag not in _BLOCKS or _has_block_inside(element):
            continue
        words = " ".join(element.text_content().split())
        if not words:
            continue
        if element.tag in _HEADINGS:
            blocks.append(f"{'#' * _HEADINGS[element.tag]} {words}")
        elif element.tag == "li":
            blocks.append(f"- {words}")
        elif element.tag == "tr":
            blocks.append(" | ".join(" ".join(cell.text_content().split()) for cell in element.iter("td", "th")))
        else:
            blocks.append(words)
    return _join_lists(blocks)


def _has_block_inside(element: Any) -> bool:
    return any(isinstance(inner.tag, str) and inner.tag in _BLOCKS for inner in element.iterdescendants())


def _join_lists(blocks: list[str]) -> list[str]:
    """Consecutive list items as one block, one item per line, as a Markdown list is written."""
    joined: list[str] = []
    for block in blocks:
        if block.startswith("- ") and joined and joined[-1].startswith("- "):
            joined[-1] += "\n" + block
        else:
            joined.append(block)
    return joined
