"""The HTML of the page: the question form, answers as the notebooks show them, and the document view.

Every piece of document or question text goes through ``html.escape`` (``display.marked_html``); the
markup needs only ``/static/page.css`` and, optionally, ``/static/page.js``, both served by the app, so
the page works offline and with JavaScript off.
"""

from __future__ import annotations

import html
from urllib.parse import quote, urlencode

from spasmqa.corpus import Document
from spasmqa.display import marked_html, page_label, passage_heading, passage_scores
from spasmqa.results import NOTICE, Answer, Passage

_HIGHLIGHT = "font-weight:600"  # the colour comes from page.css; bold keeps the mark visible without colour


def page(body: str, *, title: str, question: str = "", documents: int | None = None) -> str:
    """A whole page: header, the question form (filled with ``question``), ``body``, the notice."""
    about = f"Answers from {documents} documents, each passage with where it comes from." if documents else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="/static/page.css">
<script src="/static/page.js" defer></script>
</head>
<body>
<a class="skip" href="#results">Skip to the answers</a>
<header>
<p class="brand"><a href="/">spasmqa</a></p>
<p class="about">{html.escape(about)}</p>
</header>
<main>
<form id="ask-form" method="post" action="/" role="search">
<label for="q">Your question</label>
<div class="row">
<input id="q" name="q" type="search" value="{html.escape(question)}" required autocomplete="off" spellcheck="true">
<button type="submit">Ask</button>
</div>
</form>
<section id="results" aria-live="polite" aria-busy="false" tabindex="-1" aria-label="Answers">
{body}
</section>
</main>
<footer><p class="notice">{html.escape(NOTICE)}</p></footer>
</body>
</html>
"""


def answer_section(answer: Answer) -> str:
    """The answers to one question, or the declined state with the closest passages shown as such."""
    question = html.escape(answer.question)
    if answer.answerable:
        head = f'<h1 class="results-title">Answers to “{question}”</h1>'
        list_title = ""
    else:
        head = (
            f'<div class="declined" role="status"><h1 class="results-title">These documents do not cover that</h1>'
            f"<p>“{question}”: {html.escape(answer.reason)}.</p></div>"
        )
        list_title = '<h2 class="closest">The closest passages, which are not answers</h2>'
    items = "".join(_passage_item(p, answer.question, mark=answer.answerable) for p in answer)
    return f'{head}{list_title}<ol class="passages">{items}</ol>'  # the notice is in every page's footer


def _passage_item(passage: Passage, question: str, *, mark: bool) -> str:
    spans = [(h.start, h.end) for h in passage.highlights] if mark else []
    also = "".join(
        f"<li>{html.escape(o.title)} › {html.escape(o.section)} "
        f'<a href="{_view_link(o.doc_id, o.start, o.end, question)}">show there</a></li>'
        for o in passage.also_in
    )
    also_list = f'<p class="also-title">Also in</p><ul class="also-in">{also}</ul>' if also else ""
    return (
        f'<li class="passage"><h3>{passage.rank}. {html.escape(passage_heading(passage))}</h3>'
        f'<p class="meta">{html.escape(passage_scores(passage))} · {html.escape(passage.source)} · '
        f"{page_label(passage.page)}chars {passage.start}–{passage.end}</p>"
        f'<p class="text">{marked_html(passage.text, passage.start, spans, _HIGHLIGHT)}</p>{also_list}'
        f'<p><a class="in-document" href="{_view_link(passage.doc_id, passage.start, passage.end, question)}">'
        f'Show it in the document<span class="visually-hidden">: {html.escape(passage.title)}</span></a></p></li>'
    )


def _view_link(doc_id: str, start: int, end: int, question: str) -> str:
    query = urlencode({"start": start, "end": end, "q": question})
    return html.escape(f"/view/{quote(doc_id, safe='')}?{query}#passage")


def error_section(message: str) -> str:
    return f'<p class="error" role="alert">{html.escape(message)}</p>'


def document_view(document: Document, start: int | None, end: int | None, question: str) -> str:
    """The whole document, the span from ``start`` to ``end`` marked (``id="passage"``, scrolled to)."""
    text = document.text
    if start is None or end is None:
        shown = marked_html(text, 0, [], "")
    else:
        inside = marked_html(text[start:end], start, [], "")
        shown = f'{marked_html(text[:start], 0, [], "")}<mark id="passage" class="span">{inside}</mark>{marked_html(text[end:], end, [], "")}'
    back = f'/?{urlencode({"q": question})}' if question else "/"
    where = f" · {page_label(document.pages(start, end))}chars {start}–{end} marked" if start is not None and end is not None else ""
    return (
        f'<article class="document"><p><a href="{html.escape(back)}">← Back to the answers</a></p>'
        f"<h1>{html.escape(document.title)}</h1>"
        f'<p class="meta">{_source(document.source)}{where}</p>'
        f'<div class="document-text">{shown}</div></article>'
    )


def _source(source: str) -> str:
    if source.startswith(("https://", "http://")):  # never a javascript: or data: link from a document's metadata
        return f'<a href="{html.escape(source)}" rel="noopener noreferrer">{html.escape(source)}</a>'
    return html.escape(source)


def intro_section() -> str:
    return (
        '<h1 class="results-title">Ask a question</h1>'
        "<p>Ask in plain words, for example “why do my calves cramp at night?”. The answers are passages "
        "of the documents, best first, the sentence that answers marked.</p>"
    )
