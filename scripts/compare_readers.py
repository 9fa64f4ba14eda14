"""Compare readers for saved web pages and for PDFs: ``python scripts/compare_readers.py [--json results/readers.json] [--keep DIR]``.

The five bundled articles (``corpus/*.txt``, the seed articles unchanged) are the truth. The first line is the title
when it looks like one (three seeds open with a paragraph, and then the title is made from the first words
of it, the line staying in the body); short lines without final punctuation (or short questions) are
headings, lines starting with "  • " or "- " are list items, every other line is a paragraph.

(a) HTML. Each seed becomes a saved web page with a <title>, <meta>, <script>, <style>, site navigation,
a cookie banner, a sidebar (related articles, newsletter form), "Read more:" links between paragraphs, an
author box, a comment form and two comments, and a footer. The five pages use different layouts
(<article>; <div class="post"> with no <article> at all; content split in several <div>s; ...).
trafilatura (markdown; default, favor_precision, favor_recall), readability-lxml, jusText and spasmqa's
own reader (readability-lxml, then spasmqa's cleaning, as a build reads a page) are scored
on bag-of-words precision/recall/F1 against the article text (title excluded; a leading output line
equal to the title is dropped), seed headings that come out as heading lines, chrome sentences that
leak, title recovery and milliseconds per page (median of 5 runs).

(b) PDF. Each seed, and all five concatenated, are typeset with fpdf2 on A4 in Helvetica with a running
header and a "Page N of M" footer; the script wraps lines itself and splits long words with a "-" at line
ends, so the text written (the truth) and every split are known. pypdf (plain and layout mode),
pdfminer.six, pypdfium2 and spasmqa's own reader (pypdfium2 with its hyphen mend, paragraphs and running
headers and footers dropped) are scored on F1 raw, after a naive mend (a hyphen, line break(s), a word
character are joined) and after also dropping lines that repeat at the top/bottom of every page; on the
share of split words the mend restores; on whether each page's first and last three truth words land in
that page's text; and on milliseconds per page (median of 5 runs). A few probes show how each library
renders line-end hyphens, and how an encrypted or truncated PDF fails. --keep DIR keeps the generated
pages and PDFs (otherwise they live in a temporary folder).
"""

import argparse
import html
import importlib.metadata
import json
import os
import platform
import re
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import justext
import lxml.html
import pypdf
import pypdfium2 as pdfium
import trafilatura
from fpdf import FPDF
from fpdf.enums import EncryptionMethod
from pdfminer.high_level import extract_text as pdfminer_extract_text
from readability import Document

from spasmqa.cleaning import clean_text
from spasmqa.corpus import bundled_corpus_dir
from spasmqa.readers.html import read_html
from spasmqa.readers.pdf import read_pdf

SEEDS = bundled_corpus_dir()
RUNS = 5
LIBRARIES = ("trafilatura", "readability-lxml", "jusText", "pypdf", "pdfminer.six", "pypdfium2", "fpdf2", "lxml")

# ---------------------------------------------------------------- seeds and scoring


@dataclass
class Seed:
    name: str
    title: str
    blocks: list  # (kind, text), kind in {"h", "p", "li"}

    @property
    def headings(self):
        return [text for kind, text in self.blocks if kind == "h"]

    @property
    def body(self):
        return "\n".join(text for _, text in self.blocks)


def is_heading(line):
    words = line.split()
    if not words or len(words) > 12:
        return False
    return line.endswith("?") or line[-1] not in ".,;:!-\u2013\u2014\"'\u201d\u2019)"


def read_seed(path):
    lines = [" ".join(line.split()) for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line and line != "-"]  # lone "-" lines are empty list items
    if is_heading(lines[0]):
        title, rest = lines[0], lines[1:]
    else:  # no title line: make one from the opening words, keep the line in the body
        title, rest = " ".join(re.split(r"[,.]", lines[0])[0].split()[:9]), lines
    blocks = []
    for line in rest:
        if line[:2] in ("\u2022 ", "- "):
            blocks.append(("li", line[2:]))
        else:
            blocks.append(("h" if is_heading(line) else "p", line))
    return Seed(path.stem, title, blocks)


def tokens(text):
    return re.findall(r"\w+", text.lower())


def norm(text):
    return " ".join(tokens(text))


def prf(truth, output):
    """Bag-of-words precision, recall and F1 (multiset overlap of lowercase word tokens)."""
    t, o = Counter(tokens(truth)), Counter(tokens(output))
    common = sum((t & o).values())
    p = common / max(1, sum(o.values()))
    r = common / max(1, sum(t.values()))
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def median_ms(fn, *args):
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return result, 1000 * statistics.median(times)


# ---------------------------------------------------------------- (a) saved web pages

SITES = ("MuscleWise", "Active Body Journal", "CrampCare Blog", "Everyday Health Notes", "Motion and Mend")
LAYOUTS = ("html5 <article>", "div.post, no <article>", "content split in <div>s", "sidebar first, <main><article>",
           "<article>, inline share/ads")
AUTHOR = "Dana Whitfield"
RELATED = ("Why Do My Eyelids Twitch at Night", "Magnesium Supplements Compared for Leg Cramps",
           "Stretching Routines for Office Workers")
READ_MORE = ("Read more: The Best Foam Rollers for Sore Calves", "Read more: Can Dehydration Cause Heart Palpitations?")
COMMENTS = (("Mark R.", "I get cramps in my calves every night after running, this article helped a lot."),
            ("Priya", "Thank you for explaining the difference so clearly, my own doctor never did."))
CHROME = {  # chrome inserted in every page; a phrase "leaks" if it appears in the output
    "cookie banner": "We use cookies to give you the best experience on our website.",
    "cookie button": "Accept all cookies",
    "related heading": "Related articles",
    **{f"related link {i + 1}": text for i, text in enumerate(RELATED)},
    "newsletter": "Sign up for our newsletter and get weekly health tips in your inbox.",
    **{f"read more {i + 1}": text for i, text in enumerate(READ_MORE)},
    "byline": f"By {AUTHOR}, updated March 3, 2024",
    "author box": f"About the author: {AUTHOR} is a physiotherapist who writes about sports injuries and recovery.",
    "share": "Share this article",
    "reply heading": "Leave a reply",
    "reply note": "Your email address will not be published.",
    **{f"comment {i + 1}": text for i, (_, text) in enumerate(COMMENTS)},
    "copyright": "All rights reserved.",
    "footer links": "Privacy policy",
    "advertise": "Advertise with us",
}


def content_pieces(seed, layout):
    """The article body as HTML pieces (one per heading section), with "Read more" links between paragraphs."""
    small_h3 = layout in (2, 4)
    paragraphs = [i for i, (kind, _) in enumerate(seed.blocks) if kind == "p"]
    read_more_after = {paragraphs[min(1, len(paragraphs) - 1)]: READ_MORE[0],
                       paragraphs[int(len(paragraphs) * 0.6)]: READ_MORE[1]}
    pieces, current, in_list = [], [], False
    for i, (kind, text) in enumerate(seed.blocks):
        if in_list and kind != "li":
            current.append("</ul>")
            in_list = False
        if kind == "h":
            if current:
                pieces.append("\n".join(current))
            tag = "h3" if small_h3 and len(text.split()) <= 3 else "h2"
            current = [f"<{tag}>{html.escape(text)}</{tag}>"]
        elif kind == "li":
            if not in_list:
                current.append("<ul>")
                in_list = True
            current.append(f"  <li>{html.escape(text)}</li>")
        else:
            current.append(f"<p>{html.escape(text)}</p>")
        if i in read_more_after:
            label, link = read_more_after[i].split(": ", 1)
            current.append(f'<p class="read-more"><strong>{label}:</strong> <a href="/health/{slug(link)}">'
                           f"{html.escape(link)}</a></p>")
    if in_list:
        current.append("</ul>")
    pieces.append("\n".join(current))
    return pieces


def slug(text):
    return "-".join(tokens(text))


def head_html(seed, site, layout):
    title = html.escape(seed.title)
    ld = (f'<script type="application/ld+json">{{"@type": "Article", "headline": "{title}", '
          f'"author": {{"@type": "Person", "name": "{AUTHOR}"}}}}</script>') if layout in (0, 3) else ""
    return f"""<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} | {html.escape(site)}</title>
<meta name="description" content="{html.escape(seed.body[:150])}">
<meta property="og:site_name" content="{html.escape(site)}"><meta name="author" content="{AUTHOR}">
<link rel="stylesheet" href="/static/theme.css">
<style>body {{ font-family: Georgia, serif; }} .cookie-banner {{ position: fixed; bottom: 0; }}</style>
<script>window.dataLayer = window.dataLayer || []; function gtag() {{ dataLayer.push(arguments); }}</script>
<script async src="https://ads.example.com/loader.js"></script>
{ld}
</head>"""


def chrome_html(site):
    nav = "".join(f'<li><a href="/{slug(x) if x != "Home" else ""}">{x}</a></li>' for x in ("Home", "Health", "About", "Contact"))
    related = "".join(f'<li><a href="/health/{slug(x)}">{x}</a></li>' for x in RELATED)
    comments = "".join(
        f'<li class="comment"><div class="comment-author vcard"><b class="fn">{who}</b> says:</div>'
        f'<div class="comment-meta">March {4 + i}, 2024 at 9:1{i} am</div><div class="comment-content"><p>{text}</p></div>'
        f'<div class="reply"><a class="comment-reply-link" href="#respond">Reply</a></div></li>'
        for i, (who, text) in enumerate(COMMENTS))
    return {
        "header": f'<div class="site-header"><a class="logo" href="/">{site}</a><nav class="main-nav"><ul>{nav}</ul></nav></div>',
        "cookie": f'<div class="cookie-banner" id="cookie-notice"><p>{CHROME["cookie banner"]} '
                  f'<a href="/privacy">Learn more</a></p><button>{CHROME["cookie button"]}</button></div>',
        "sidebar": f'<div class="widget related"><h3 class="widget-title">{CHROME["related heading"]}</h3><ul>{related}</ul></div>'
                   f'<div class="widget newsletter"><h3 class="widget-title">Sign up for our newsletter</h3>'
                   f'<p>{CHROME["newsletter"]}</p><form action="/subscribe" method="post">'
                   f'<input type="email" name="email" placeholder="Your email"><button type="submit">Subscribe</button></form></div>',
        "byline": f'<p class="byline">{CHROME["byline"]}</p>',
        "share": f'<div class="share-buttons"><span>{CHROME["share"]}</span> <a href="#">Facebook</a> <a href="#">X</a> <a href="#">Email</a></div>',
        "author": f'<div class="author-box"><img src="/img/dana.jpg" alt=""><p>{CHROME["author box"]}</p></div>',
        "comments": f'<div id="comments" class="comments-area"><h3 class="comments-title">2 thoughts on this article</h3>'
                    f'<ol class="comment-list">{comments}</ol>'
                    f'<div id="respond"><h3 class="comment-reply-title">{CHROME["reply heading"]}</h3>'
                    f'<form action="/wp-comments-post.php" method="post"><p class="comment-notes">{CHROME["reply note"]} '
                    f'Required fields are marked *</p><textarea name="comment"></textarea><input name="author" placeholder="Name">'
                    f'<input name="email" placeholder="Email"><button type="submit">Post comment</button></form></div></div>',
        "footer": f'<p>&copy; 2024 {site}. {CHROME["copyright"]}</p><ul class="footer-links"><li><a href="/privacy">'
                  f'{CHROME["footer links"]}</a></li><li><a href="/terms">Terms of use</a></li>'
                  f'<li><a href="/advertise">{CHROME["advertise"]}</a></li></ul>',
    }


def page_html(seed, layout):
    """A saved web page for the seed; layout (0-4) picks the page structure."""
    site = SITES[layout]
    c = chrome_html(site)
    pieces = content_pieces(seed, layout)
    h1 = f"<h1>{html.escape(seed.title)}</h1>"
    ad = '<div class="ad-slot"><span>Advertisement</span></div>'
    if layout == 0:
        body = (f'<header>{c["header"]}</header>{c["cookie"]}<main><article class="post">'
                f'<header>{h1}{c["byline"]}</header><div class="entry-content">{"".join(pieces)}</div>'
                f'<footer>{c["author"]}</footer></article><section>{c["comments"]}</section></main>'
                f'<aside class="sidebar">{c["sidebar"]}</aside><footer class="site-footer">{c["footer"]}</footer>')
    elif layout == 1:
        body = (f'<div id="header">{c["header"]}</div>{c["cookie"]}<div id="wrapper"><div id="content">'
                f'<div class="post"><h1 class="entry-title">{html.escape(seed.title)}</h1>{c["byline"]}'
                f'<div class="entry">{"".join(pieces)}</div>{c["author"]}</div>{c["comments"]}</div>'
                f'<div id="sidebar">{c["sidebar"]}</div></div><div id="footer">{c["footer"]}</div>')
    elif layout == 2:
        third = max(1, len(pieces) // 3)
        parts = [pieces[:third], pieces[third:2 * third], pieces[2 * third:]]
        split = ad.join(f'<div class="post-part" id="part-{i + 1}">{"".join(p)}</div>' for i, p in enumerate(parts) if p)
        body = (f'<div class="top">{c["header"]}</div>{c["cookie"]}<div class="layout"><div class="col-main">'
                f'{h1}{c["byline"]}{c["share"]}{split}{c["author"]}{c["comments"]}</div>'
                f'<div class="col-side">{c["sidebar"]}</div></div><div class="bottom">{c["footer"]}</div>')
    elif layout == 3:
        body = (f'<header>{c["header"]}</header>{c["cookie"]}<aside class="sidebar">{c["sidebar"]}</aside>'
                f'<main><article>{h1}{c["byline"]}{"".join(pieces)}{c["author"]}</article>{c["comments"]}</main>'
                f'<footer>{c["footer"]}</footer>')
    else:
        half = max(1, len(pieces) // 2)
        body = (f'<header>{c["header"]}</header>{c["cookie"]}<main><article class="entry">{h1}{c["byline"]}{c["share"]}'
                f'<div class="entry-content">{"".join(pieces[:half])}{ad}{"".join(pieces[half:])}</div>'
                f'{c["share"]}{c["author"]}</article>{c["comments"]}</main><aside>{c["sidebar"]}</aside>'
                f'<footer>{c["footer"]}</footer>')
    return f'<!DOCTYPE html>\n<html lang="en">\n{head_html(seed, site, layout)}\n<body>\n{body}\n</body>\n</html>\n'


BLOCK_TAGS = ("p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "br", "section", "article",
              "blockquote", "pre", "table", "tr", "td", "th", "header", "footer", "aside", "form", "figure")


def lines_of(root):
    """Text of an lxml element, one line per block element."""
    for el in root.iter(*BLOCK_TAGS):
        el.text = "\n" + (el.text or "")
        el.tail = "\n" + (el.tail or "")
    return "\n".join(line.strip() for line in root.text_content().splitlines() if line.strip())


def read_trafilatura(page, **options):
    text = trafilatura.extract(page, output_format="markdown", include_comments=False, **options) or ""
    headings = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    return text, headings, trafilatura.extract_metadata(page).title


def read_readability(page):
    doc = Document(page)
    root = lxml.html.fromstring(doc.summary(html_partial=True))
    headings = [h.text_content().strip() for h in root.iter("h1", "h2", "h3", "h4", "h5", "h6")]
    return lines_of(root), headings, doc.short_title()


def read_justext(page):
    paragraphs = [p for p in justext.justext(page.encode("utf-8"), justext.get_stoplist("English")) if not p.is_boilerplate]
    return "\n".join(p.text for p in paragraphs), [p.text for p in paragraphs if p.is_heading], None


def read_spasmqa(page):
    """spasmqa's own reader as it runs in a build: readability-lxml's article, then spasmqa's cleaning."""
    with tempfile.NamedTemporaryFile("w", suffix=".html", encoding="utf-8") as saved:
        saved.write(page)
        saved.flush()
        read = read_html(Path(saved.name))
    text = clean_text(read.pages[0]).text
    headings = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    return text.replace("#", ""), headings, read.title


HTML_READERS = {
    "trafilatura": read_trafilatura,
    "trafilatura precision": lambda page: read_trafilatura(page, favor_precision=True),
    "trafilatura recall": lambda page: read_trafilatura(page, favor_recall=True),
    "readability-lxml": read_readability,
    "jusText": read_justext,
    "spasmqa (readability + cleaning)": read_spasmqa,
}


def score_html(seed, text, headings, title):
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and norm(lines[0]) == norm(seed.title):  # the title is scored on its own
        lines = lines[1:]
    text = "\n".join(lines)
    p, r, f1 = prf(seed.body, text)
    found = {norm(h) for h in headings}
    out = norm(text)
    leaked = [key for key, phrase in CHROME.items() if f" {norm(phrase)} " in f" {out} "]
    return {"precision": p, "recall": r, "f1": f1,
            "headings_found": sum(norm(h) in found for h in seed.headings), "headings": len(seed.headings),
            "chrome_leaked": leaked, "title_ok": None if title is None else norm(title) == norm(seed.title)}


def run_html(seeds, outdir):
    results = {name: [] for name in HTML_READERS}
    for layout, seed in enumerate(seeds):
        page = page_html(seed, layout)
        assert not any(f" {norm(p)} " in f" {norm(seed.body)} " for p in CHROME.values()), seed.name
        (outdir / f"{seed.name}.html").write_text(page, encoding="utf-8")
        for name, reader in HTML_READERS.items():
            (text, headings, title), ms = median_ms(reader, page)
            results[name].append({"page": seed.name, "layout": LAYOUTS[layout], "ms": ms,
                                  **score_html(seed, text, headings, title)})
    return results


def print_html(results):
    print("(a) HTML: mean over the 5 pages (worst page in the last column)")
    print(f"{'library':<34} {'P':>6} {'R':>6} {'F1':>6} {'headings':>9} {'leaks/page':>10} {'title':>6} {'ms/page':>8}   worst page (F1)")
    for name, rows in results.items():
        mean = lambda key: statistics.mean(r[key] for r in rows)
        found, total = sum(r["headings_found"] for r in rows), sum(r["headings"] for r in rows)
        titles = "n/a" if rows[0]["title_ok"] is None else f"{sum(r['title_ok'] for r in rows)}/{len(rows)}"
        worst = min(rows, key=lambda r: r["f1"])
        print(f"{name:<34} {mean('precision'):>6.3f} {mean('recall'):>6.3f} {mean('f1'):>6.3f} {found:>4}/{total:<4} "
              f"{statistics.mean(len(r['chrome_leaked']) for r in rows):>10.1f} {titles:>6} {mean('ms'):>8.1f}   "
              f"{worst['page'][:3]} {worst['layout']} ({worst['f1']:.3f})")
    print(f"\nper page: F1 / headings found / chrome phrases leaked (of {len(CHROME)}) / title ok / ms")
    pages = [(r["page"][:3], r["layout"]) for r in next(iter(results.values()))]
    print(f"{'page':<34}" + "".join(f"{name:>24}" for name in results))
    for i, (page, layout) in enumerate(pages):
        cells = []
        for rows in results.values():
            r = rows[i]
            title = "-" if r["title_ok"] is None else "YN"[not r["title_ok"]]
            cells.append(f"{r['f1']:.3f} {r['headings_found']:>2}/{r['headings']:<2} {len(r['chrome_leaked']):>2} {title} {r['ms']:>5.1f}")
        print(f"{page + ' ' + layout:<34}" + "".join(f"{c:>24}" for c in cells))
    leaks = Counter(k for rows in results.values() for r in rows for k in r["chrome_leaked"])
    for name, rows in results.items():
        kinds = Counter(k for r in rows for k in r["chrome_leaked"])
        print(f"  leaked by {name}: " + (", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())) or "nothing"))
    return leaks


# ---------------------------------------------------------------- (b) PDFs

ASCII = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
                       "\u2022": "-", "\u2026": "...", "\u00a0": " "})


def to_core_font(text):
    """What Helvetica (a core font, latin-1) can show: curly quotes, dashes, bullets made ASCII; rest replaced."""
    return text.translate(ASCII).encode("latin-1", "replace").decode("latin-1")


class Paper(FPDF):
    def __init__(self, site, title):
        super().__init__(format="A4", unit="mm")
        self.running_head = to_core_font(f"{site} - {title}")
        self.set_margins(22, 20, 22)
        self.set_auto_page_break(True, margin=22)

    def header(self):
        self.set_font("Helvetica", size=9)
        self.set_text_color(110)
        head = self.running_head
        while self.get_string_width(head) > self.epw and len(head) > 10:
            head = head[:-5] + "..."
        self.cell(0, 6, head, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0)
        self.ln(4)

    def footer(self):
        self.set_y(-15)
        self.set_font("Helvetica", size=9)
        self.cell(0, 8, f"Page {self.page_no()} of {{nb}}", align="C")


@dataclass
class Typeset:
    path: Path
    truth: str = ""
    page_words: dict = field(default_factory=dict)  # page number -> tokens as printed (fragments included)
    splits: list = field(default_factory=list)  # (word, first part, second part)
    pages: int = 0


def wrap(pdf, text, typeset):
    """Greedy line breaking; a long plain word that does not fit is split with a hyphen when a part of it fits."""
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if pdf.get_string_width(trial) <= pdf.epw:
            line = trial
            continue
        if word.isalpha() and len(word) >= 8:
            for cut in range(len(word) - 3, 2, -1):
                head = f"{line} {word[:cut]}-".strip()
                if pdf.get_string_width(head) <= pdf.epw:
                    lines.append(head)
                    typeset.splits.append((word, word[:cut], word[cut:]))
                    line = word[cut:]
                    break
            else:
                lines.append(line)
                line = word
        else:
            lines.append(line)
            line = word
    return [x for x in lines + [line] if x]


def write_block(pdf, text, typeset, size, style="", height=7.0, before=0.0):
    pdf.set_font("Helvetica", style=style, size=size)
    pdf.ln(before)
    for line in wrap(pdf, text, typeset):
        pdf.cell(0, height, line, new_x="LMARGIN", new_y="NEXT")
        typeset.page_words.setdefault(pdf.page_no(), []).extend(tokens(line))


def make_pdf(seeds, path, site):
    """Typeset seeds (one after the other) into path; returns the Typeset with the truth."""
    pdf = Paper(site, seeds[0].title if len(seeds) == 1 else "Muscle spasms and twitches: five articles")
    typeset = Typeset(path)
    written = []
    pdf.add_page()
    for seed in seeds:
        title = to_core_font(seed.title)
        write_block(pdf, title, typeset, 20, "B", height=10, before=2)
        written.append(title)
        for kind, text in seed.blocks:
            text = to_core_font(text)
            if kind == "h":
                write_block(pdf, text, typeset, 13, "B", before=3)
            elif kind == "li":
                text = f"- {text}"
                write_block(pdf, text, typeset, 12)
            else:
                write_block(pdf, text, typeset, 12, before=2)
            written.append(text)
        pdf.ln(6)
    pdf.output(str(path))
    typeset.truth, typeset.pages = "\n".join(written), pdf.page_no()
    return typeset


def pages_pypdf(path, mode="plain"):
    return [page.extract_text(extraction_mode=mode) for page in pypdf.PdfReader(path).pages]


def pages_pdfminer(path):
    return pdfminer_extract_text(path).split("\f")[:-1]  # a form feed ends every page


def pages_pypdfium2(path):
    doc = pdfium.PdfDocument(path)
    try:
        texts = []
        for page in doc:
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return texts
    finally:
        doc.close()


PDF_READERS = {
    "pypdf": pages_pypdf,
    "pypdf layout": lambda path: pages_pypdf(path, "layout"),
    "pdfminer.six": pages_pdfminer,
    "pypdfium2": pages_pypdfium2,
}
# the probes below show how each library renders hyphens and failures; spasmqa's reader is scored beside them
LIBRARY_PDF_READERS = dict(PDF_READERS)
PDF_READERS["spasmqa (pypdfium2 + its mend)"] = lambda path: list(read_pdf(Path(path)).pages)


def mend(text):
    """Naive mend: join word, hyphen, line break(s), word."""
    text = text.replace("\r\n", "\n")
    return re.sub(r"(\w)-[ \t]*(?:\n[ \t]*)+(?=\w)", r"\1", text)


def drop_running_lines(pages, zone=3):
    """Drop lines among the first/last `zone` lines of a page that (digits ignored) recur there on every page."""
    if len(pages) < 2:
        return pages
    split = [[line for line in page.replace("\r\n", "\n").split("\n") if line.strip()] for page in pages]
    key = lambda line: re.sub(r"\d+", "#", " ".join(line.split())).lower()
    zones = [{key(x) for x in lines[:zone] + lines[-zone:]} for lines in split]
    running = set.intersection(*zones)
    kept = []
    for lines in split:
        edge = set(range(min(zone, len(lines)))) | set(range(max(0, len(lines) - zone), len(lines)))
        kept.append("\n".join(x for i, x in enumerate(lines) if not (i in edge and key(x) in running)))
    return kept


def contains(haystack, needle):
    n = len(needle)
    return any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def score_pdf(typeset, pages, fffe=False):
    """fffe: read pdfium's U+FFFE (a line-end hyphen, with the line break swallowed) as a hyphen and a line break."""
    if fffe:
        pages = [page.replace("\ufffe", "-\n") for page in pages]
    raw = "\n".join(pages)
    clean = mend("\n".join(drop_running_lines(pages)))
    out = Counter(tokens(clean))
    truth = Counter(tokens(typeset.truth))
    split_counts = Counter(w.lower() for w, _, _ in typeset.splits)
    restored = sum(max(0, min(k, out[w] - (truth[w] - k))) for w, k in split_counts.items())
    exact = 0
    for number, words in typeset.page_words.items():
        got = tokens(pages[number - 1]) if number <= len(pages) else []
        exact += contains(got, words[:3]) and contains(got, words[-3:])
    p, r, f1 = prf(typeset.truth, clean)
    return {"pages_out": len(pages), "f1_raw": prf(typeset.truth, raw)[2], "f1_mended": prf(typeset.truth, mend(raw))[2],
            "precision": p, "recall": r, "f1": f1, "splits": len(typeset.splits), "splits_restored": restored,
            "pages_exact": exact}


def run_pdf(seeds, outdir):
    docs = [make_pdf([seed], outdir / f"{seed.name}.pdf", SITES[i]) for i, seed in enumerate(seeds)]
    docs.append(make_pdf(seeds, outdir / "all_seeds.pdf", "Muscle Health Digest"))
    results = {name: [] for name in [*PDF_READERS, "pypdfium2 +FFFE mend"]}
    for doc in docs:
        for name, reader in PDF_READERS.items():
            pages, ms = median_ms(reader, doc.path)
            row = {"pdf": doc.path.name, "pages": doc.pages, "ms_per_page": ms / doc.pages}
            results[name].append({**row, **score_pdf(doc, pages)})
            if name == "pypdfium2":
                results["pypdfium2 +FFFE mend"].append({**row, **score_pdf(doc, pages, fffe=True)})
    return docs, results


def print_pdf(docs, results):
    print(f"\n(b) PDF: {len(docs)} PDFs, {sum(d.pages for d in docs)} pages ({', '.join(f'{d.path.stem[:3]}:{d.pages}p' for d in docs)}), "
          f"{sum(len(d.splits) for d in docs)} hyphen-split words; F1 = mean over PDFs")
    print(f"{'library':<34} {'F1 raw':>7} {'mended':>7} {'P':>6} {'R':>6} {'F1 +hf':>7} {'split ok':>9} {'pages exact':>12} {'ms/page':>8}   worst PDF (F1 +hf)")
    for name, rows in results.items():
        mean = lambda key: statistics.mean(r[key] for r in rows)
        splits, restored = sum(r["splits"] for r in rows), sum(r["splits_restored"] for r in rows)
        pages, exact = sum(r["pages"] for r in rows), sum(r["pages_exact"] for r in rows)
        ms = sum(r["ms_per_page"] * r["pages"] for r in rows) / pages
        worst = min(rows, key=lambda r: r["f1"])
        print(f"{name:<34} {mean('f1_raw'):>7.3f} {mean('f1_mended'):>7.3f} {mean('precision'):>6.3f} {mean('recall'):>6.3f} "
              f"{mean('f1'):>7.3f} {restored / splits:>9.1%} {exact:>5}/{pages:<6} {ms:>8.1f}   {worst['pdf']} ({worst['f1']:.3f})")


# ---------------------------------------------------------------- probes: hyphens, page ends, failures


def page_end_split(docs):
    """A PDF and page number whose last printed word is the first part of a split word, if any."""
    for doc in docs:
        for number, words in doc.page_words.items():
            if number < doc.pages and any(words[-1] == a.lower() for _, a, _ in doc.splits):
                return doc, number
    return None, None


def hyphen_probe(docs):
    """How each library renders a line-end split in mid-page, a split at a page end, and a page start."""
    doc = docs[-1]
    word, head, tail = doc.splits[0]
    end_doc, end_page = page_end_split(docs)
    probe = {"word": word, "page_end_split": f"{end_doc.path.name} page {end_page}" if end_doc else None}
    for name, reader in LIBRARY_PDF_READERS.items():
        pages = reader(doc.path)
        text = "\n".join(pages)
        at = re.search(re.escape(head) + "[-\ufffe]", text).start()
        probe[name] = {"split": repr(text[max(0, at - 10):at + len(head) + len(tail) + 8]),
                       "page 2 starts": repr(pages[1][:45]) if len(pages) > 1 else None,
                       "page end split": repr(reader(end_doc.path)[end_page - 1][-28:]) if end_doc else None}
    return probe


def soft_hyphen_probe(outdir):
    """fpdf2 multi_cell with U+00AD soft hyphens: what reaches the text layer."""
    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 7, "Involuntary con\u00adtrac\u00adtions of skeletal mus\u00adcles " * 10)
    path = outdir / "soft_hyphens.pdf"
    pdf.output(str(path))
    return {name: {"soft_hyphen": "\u00ad" in t, "fffe": "\ufffe" in t, "hyphen_newline": "-\n" in t.replace("\r\n", "\n"),
                   "sample": repr(t[80:150])} for name, t in ((n, "\n".join(r(path))) for n, r in LIBRARY_PDF_READERS.items())}


def failure_probe(outdir):
    """How each library fails on an encrypted PDF (user password) and on a truncated one."""
    cases = {}
    for label, method, user in (("RC4, user password", EncryptionMethod.RC4, "secret"),
                                ("AES-256, user password", EncryptionMethod.AES_256, "secret"),
                                ("RC4, owner password only", EncryptionMethod.RC4, None)):
        pdf = FPDF()
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 7, "Muscle spasms are involuntary contractions. " * 30)
        pdf.set_encryption(owner_password="owner", user_password=user, encryption_method=method)
        path = outdir / f"encrypted_{slug(label)}.pdf"
        pdf.output(str(path))
        cases[label] = path
    whole = (outdir / "all_seeds.pdf").read_bytes()
    cases["truncated to half"] = outdir / "truncated.pdf"
    cases["truncated to half"].write_bytes(whole[: len(whole) // 2])
    report = {label: {name: attempt(lambda: summarise(reader(path))) for name, reader in PDF_READERS.items()}
              for label, path in cases.items()}
    report["pypdf, step by step"] = pypdf_steps(cases)
    report["pypdfium2 with the password"] = {"PdfDocument(aes256, password='secret')": attempt(
        lambda: summarise([pdfium.PdfDocument(cases["AES-256, user password"], password="secret")[0].get_textpage().get_text_range()]))}
    return report


def summarise(pages):
    return f"{len(pages)} pages, {sum(map(len, pages))} chars"


def attempt(fn):
    try:
        return f"ok: {fn()}"
    except Exception as exc:  # the point is to see which exception
        return f"{type(exc).__module__}.{type(exc).__name__}: {str(exc)[:70]}"


def pypdf_steps(cases):
    """Where pypdf fails: at PdfReader(...) or at the first use of .pages."""
    encrypted, truncated = cases["RC4, user password"], cases["truncated to half"]
    return {
        "PdfReader(encrypted).is_encrypted": attempt(lambda: pypdf.PdfReader(encrypted).is_encrypted),
        "len(PdfReader(encrypted).pages)": attempt(lambda: len(pypdf.PdfReader(encrypted).pages)),
        "PdfReader(encrypted).decrypt('wrong')": attempt(lambda: repr(pypdf.PdfReader(encrypted).decrypt("wrong"))),
        "PdfReader(encrypted, password='wrong')": attempt(lambda: pypdf.PdfReader(encrypted, password="wrong")),
        "PdfReader(encrypted, password='secret')": attempt(
            lambda: f"{len(pypdf.PdfReader(encrypted, password='secret').pages[0].extract_text())} chars"),
        "PdfReader(truncated)": attempt(lambda: pypdf.PdfReader(truncated)),
        "PdfReader(truncated, strict=True)": attempt(lambda: pypdf.PdfReader(truncated, strict=True)),
    }


def print_probes(hyphens, soft, failures):
    print(f"\nline-end split of {hyphens['word']!r} in all_seeds.pdf, the end of {hyphens['page_end_split']} "
          "(a word split across pages) and the start of page 2 (repr):")
    for name in LIBRARY_PDF_READERS:
        h = hyphens[name]
        print(f"  {name:<14} {h['split']:<36} {h['page end split']:<38} {h['page 2 starts']}")
    print("fpdf2 multi_cell with soft hyphens (U+00AD): what the text layer gives")
    for name, s in soft.items():
        print(f"  {name:<14} U+00AD kept: {s['soft_hyphen']!s:<5} U+FFFE: {s['fffe']!s:<5} hyphen+newline: {s['hyphen_newline']!s:<5} {s['sample']}")
    print("encrypted / truncated PDFs:")
    for label, by_lib in failures.items():
        print(f"  {label}:")
        for name, outcome in by_lib.items():
            print(f"    {name:<40} {outcome}")


# ---------------------------------------------------------------- main


def machine():
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count(), "versions": versions}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the figures as JSON")
    parser.add_argument("--keep", help="keep the generated pages and PDFs in this folder")
    args = parser.parse_args()
    seeds = [read_seed(path) for path in sorted(SEEDS.glob("*.txt"))]
    with tempfile.TemporaryDirectory() as tmp:
        outdir = Path(args.keep or tmp)
        outdir.mkdir(parents=True, exist_ok=True)
        info = machine()
        print(f"machine: {info['machine']}, Python {info['python']}, {info['cpus']} CPUs; "
              + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
        print(f"seeds: {len(seeds)}; titles: " + "; ".join(f"{s.name[:3]} {s.title!r}" for s in seeds) + "\n")
        html_results = run_html(seeds, outdir)
        print_html(html_results)
        docs, pdf_results = run_pdf(seeds, outdir)
        print_pdf(docs, pdf_results)
        hyphens, soft, failures = hyphen_probe(docs), soft_hyphen_probe(outdir), failure_probe(outdir)
        print_probes(hyphens, soft, failures)
    if args.json:
        record = {**info, "runs": RUNS, "chrome": CHROME, "html": html_results, "pdf": pdf_results,
                  "pdf_docs": [{"pdf": d.path.name, "pages": d.pages, "words": len(tokens(d.truth)), "splits": len(d.splits)} for d in docs],
                  "hyphen_probe": hyphens, "soft_hyphen_probe": soft, "failures": failures}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
