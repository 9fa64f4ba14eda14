"""Display: answers and passages as plain text and as self-contained HTML, and a passage shown in its document.

All document text is HTML-escaped; the HTML uses inline styles only, so it renders offline and in any
notebook. Highlighted sentences are marked » « in text and with <mark> in HTML.
"""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spasmqa.corpus import Document
from spasmqa.errors import QueryError

if TYPE_CHECKING:  # display only reads results; results import display to show themselves
    from spasmqa.results import Answer, Passage

_PASSAGE_STYLE = "background:#fff7d6;color:#1a1a1a;padding:0 1px"
_HIGHLIGHT_STYLE = "background:#ffd54f;color:#1a1a1a;font-weight:600;padding:0 1px"
_BOX_STYLE = "font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:56em;line-height:1.45;color:#1a1a1a"
_NOTICE_STYLE = "font-size:0.85em;color:#555;border-top:1px solid #ddd;margin-top:0.6em;padding-top:0.4em"


@dataclass(frozen=True)
class Html:
    """An HTML fragment that notebooks render (``_repr_html_``); ``str()`` gives the markup."""

    markup: str

    def _repr_html_(self) -> str:
        return self.markup

    def __str__(self) -> str:
        return self.markup


def marked_text(passage: Passage, mark: bool = True) -> str:
    """The passage text with its highlighted sentences between » and « (unless ``mark`` is False)."""
    text = passage.text
    for highlight in sorted(passage.highlights, key=lambda h: h.start, reverse=True) if mark else ():
        start, end = highlight.start - passage.start, highlight.end - passage.start
        text = f"{text[:start]}»{text[start:end]}«{text[end:]}"
    return text


def passage_heading(passage: Passage) -> str:
    """``Title › Section`` (the title alone when the section is the title)."""
    if passage.section and passage.section != passage.title:
        return f"{passage.title} › {passage.section}"
    return passage.title


def passage_scores(passage: Passage) -> str:
    """The scores a reader is shown: the reranker's relevance when reranked, and the similarity."""
    if passage.rerank_score is None:
        return f"similarity {passage.score:.3f}"
    return f"relevance {passage.rerank_score:.2f}, similarity {passage.score:.3f}"


def page_label(page: tuple[int, int] | None) -> str:
    """``"page 3 · "``, ``"pages 3–4 · "``, or nothing for a passage of a document without pages."""
    if page is None:
        return ""
    first, last = page
    return f"page {first} · " if first == last else f"pages {first}–{last} · "


def passage_place(passage: Passage) -> str:
    """Where the passage is: its document, file, pages (of a PDF) and characters."""
    return f"{passage.doc_id} · {passage.source} · {page_label(passage.page)}chars {passage.start}-{passage.end}"


def passage_text(passage: Passage, width: int = 100, mark: bool = True) -> str:
    """A passage as ``spasmqa ask`` prints it; ``mark=False`` leaves its highlight unmarked."""
    lines = [
        f"{passage.rank}. {passage_heading(passage)}   ({passage_scores(passage)})",
        f"   {passage_place(passage)}",
    ]
    for line in marked_text(passage, mark).split("\n"):
        lines.append(textwrap.fill(line, width=width, initial_indent="   | ", subsequent_indent="   |   ") or "   |")
    lines += [f"   also in {o.doc_id} · {o.source} · chars {o.start}-{o.end}" for o in passage.also_in]
    return "\n".join(lines)


def answer_text(answer: Answer) -> str:
    """What ``spasmqa ask`` prints: the question, an abstention line if any, the passages, the notice."""
    parts = [f"Q: {answer.question}"]
    if not answer.answerable:
        parts.append(f"These documents do not seem to answer this: {answer.reason}. The closest passages:")
    # A declined answer has no answering sentence to point at.
    parts += [passage_text(passage, mark=answer.answerable) for passage in answer]
    parts.append(answer.notice)
    return "\n\n".join(parts)


def marked_html(text: str, offset: int, spans: list[tuple[int, int]], style: str) -> str:
    """Escape ``text`` (document offsets start at ``offset``) and wrap ``spans`` in <mark>."""
    pieces, cursor = [], 0
    for start, end in sorted(spans):
        start, end = max(start - offset, cursor), min(end - offset, len(text))
        if start >= end:
            continue
        pieces += [html.escape(text[cursor:start]), f'<mark style="{style}">', html.escape(text[start:end]), "</mark>"]
        cursor = end
    pieces.append(html.escape(text[cursor:]))
    return "".join(pieces).replace("\n", "<br>")


def passage_html(passage: Passage, mark: bool = True) -> str:
    spans = [(h.start, h.end) for h in passage.highlights] if mark else []
    also = "".join(
        f"<div style='font-size:0.85em;color:#555'>also in {html.escape(o.title)} ({html.escape(o.source)}, "
        f"chars {o.start}–{o.end})</div>"
        for o in passage.also_in
    )
    return (
        f"<div style='margin:0.6em 0;padding:0.5em 0.7em;border-left:3px solid #c9a227;background:#fafafa'>"
        f"<div><b>{passage.rank}. {html.escape(passage_heading(passage))}</b> "
        f"<span style='color:#555'>{passage_scores(passage)}</span></div>"
        f"<div style='font-size:0.85em;color:#555'>{html.escape(passage.doc_id)} · "
        f"{html.escape(passage.source)} · {page_label(passage.page)}chars {passage.start}–{passage.end}</div>"
        f"<div style='margin-top:0.3em'>{marked_html(passage.text, passage.start, spans, _HIGHLIGHT_STYLE)}</div>"
        f"{also}</div>"
    )


def answer_html(answer: Answer) -> str:
    status = (
        ""
        if answer.answerable
        else "<div style='padding:0.4em 0.6em;background:#fdecea;color:#7a1c12;border-radius:4px'>"
        f"These documents do not seem to answer this: {html.escape(answer.reason)}. The closest passages:</div>"
    )
    return (
        f"<div style='{_BOX_STYLE}'><div style='font-size:1.1em'><b>Q:</b> {html.escape(answer.question)}</div>"
        f"{status}{''.join(passage_html(p, mark=answer.answerable) for p in answer)}"
        f"<div style='{_NOTICE_STYLE}'>{html.escape(answer.notice)}</div></div>"
    )


def checked_span(document: Document, start: int | None, end: int | None) -> tuple[int, int] | None:
    """``(start, end)`` when both mark characters of ``document``, None when neither is given; else ``QueryError``."""
    if start is None and end is None:
        return None
    if start is None or end is None or not 0 <= start < end <= len(document.text):
        raise QueryError(
            f"start and end mark a span of {document.doc_id!r}: give both, with 0 <= start < end <= "
            f"{len(document.text)} (its length); got start={start}, end={end}"
        )
    return start, end


def document_text(document: Document, span: tuple[int, int] | None = None, context: int = 600, width: int = 100) -> str:
    """A document as ``spasmqa show`` prints it: whole, or the paragraphs around ``span`` with it marked ``»…«``."""
    text = document.text
    heading = [document.title, f"{document.doc_id} · {document.source} · {len(text)} chars"]
    if span is None:
        shown = text
    else:
        start, end = span
        heading[1] += f" · {page_label(document.pages(start, end))}chars {start}-{end} marked »…«"
        before = text.rfind("\n\n", 0, max(0, start - context))  # whole paragraphs: from the start of one
        first = 0 if before == -1 else before + 2
        last = text.find("\n\n", min(len(text), end + context))
        last = len(text) if last == -1 else last
        shown = ("…\n" if first > 0 else "") + text[first:start] + "»" + text[start:end] + "«" + text[end:last]
        shown += "\n…" if last < len(text) else ""
    body = [textwrap.fill(line, width=width) if line else "" for line in shown.strip("\n").split("\n")]
    return "\n".join(heading + [""] + body)


def in_document(passage: Passage, document: Document) -> Html:
    """The whole ``document`` with the passage marked and its answering sentence highlighted inside it.

    Example:
        >>> passage = index.ask("what is myoclonus?")[0]
        >>> spasmqa.in_document(passage, index.get_document(passage.doc_id))
    """
    if document.doc_id != passage.doc_id:
        raise QueryError(f"the passage is from {passage.doc_id!r}, not {document.doc_id!r}; pass the passage's own document")
    text = document.text
    before = marked_html(text[: passage.start], 0, [], "")
    inside = marked_html(passage.text, passage.start, [(h.start, h.end) for h in passage.highlights], _HIGHLIGHT_STYLE)
    after = marked_html(text[passage.end :], passage.end, [], "")
    return Html(
        f"<div style='{_BOX_STYLE}'><div style='font-size:1.1em'><b>{html.escape(document.title)}</b></div>"
        f"<div style='font-size:0.85em;color:#555'>{html.escape(document.source)} · {page_label(passage.page)}chars {passage.start}–{passage.end} "
        f"marked, answering sentence in bold</div>"
        f"<div style='margin-top:0.5em'>{before}<span style='{_PASSAGE_STYLE}'>{inside}</span>{after}</div></div>"
    )
