"""Cleaning a document's raw text: spacing normalised, page chrome and verbatim repeats removed, and the
line-level rules (headings, list items) that chunking reads the cleaned text with."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff]")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$")
LIST_MARKER = re.compile(r"(?:[-*•·–—]|\d{1,3}[.)])\s+(?=\S)")
_EMPTY_BULLET = re.compile(r"^[-*•·–—]$")
# A line counts as a repeated paragraph, rather than a repeated short heading or label, from this length on.
_MIN_REPEATED_WORDS = 8
_MAX_HEADING_WORDS = 15
_MAX_CHROME_CHARS = 120

# Page chrome: lines that belong to the web page around an article, not to the article. Each rule names
# its reason; they match whole (stripped) lines of at most _MAX_CHROME_CHARS characters.
_CHROME_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(pattern, re.IGNORECASE))
    for reason, pattern in (
        ("newsletter prompt", r"^(sign up|subscribe)\b.*\b(newsletter|updates|mailing list|inbox)\b.*$"),
        ("comment prompt", r"^(leave a (reply|replay|response|comment)|post a comment|add a comment)\b.*$"),
        ("comment prompt", r"^(loading\b.*\bcomments\b.*|\d+ comments?|comments?)$"),
        ("video promo", r"^video of the day$"),
        ("related-link", r"^(read|learn|see) more\b.*$"),
        ("related-link", r"^(related|recommended)( (articles?|posts?|reading))?\s*:.*$"),
        ("image credit", r"^(image|photo|picture|illustration) (credit|source|courtesy)\b.*$"),
        ("image credit", r"^(credit|photo)\s*:.*$"),
        ("tag list", r"^tags?\s*:.*$"),
        ("share prompt", r"^share (this|on)\b.*$"),
        ("advertisement", r"^advertisement$"),
    )
)
_AUTHOR_BOX = re.compile(r"^(?:the author|about the author|written by|posted by)\s*:?\s+(.{1,60})$", re.IGNORECASE)
# An image file name glued to the end of a sentence by a scraper, e.g. "...sessions.muscle-twitching-in-thighs".
_GLUED_SLUG = re.compile(r"(?<=[.!?])[a-z0-9]+(?:-[a-z0-9]+){2,}$")


@dataclass(frozen=True)
class Removal:
    """A line that cleaning removed from a raw text, and why."""

    line_number: int
    text: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CleanedText:
    """The cleaned text of a document and what was removed to get it."""

    text: str
    removals: tuple[Removal, ...]


def normalize_line(line: str) -> str:
    """Fold every kind of space into one ASCII space, drop invisible characters, strip the ends."""
    return _SPACES.sub(" ", _INVISIBLE.sub("", line)).strip()


def heading_text(line: str) -> str | None:
    """The heading a single normalised line states, or None when the line reads as body text.

    A Markdown ``#`` line is a heading; so is a short line that starts with a capital letter or digit and
    does not end like a sentence or a list introduction. Whether it really heads a section also depends on
    its neighbours, which chunking checks.
    """
    markdown = _MARKDOWN_HEADING.match(line)
    if markdown:
        return markdown.group(1)
    if not line or is_list_item(line) or len(line.split()) > _MAX_HEADING_WORDS:
        return None
    if not (line[0].isupper() or line[0].isdigit()) or line[-1] in ".,;:!…-–—":
        return None
    return line


def is_list_item(line: str) -> bool:
    return bool(LIST_MARKER.match(line))


def clean_text(raw: str) -> CleanedText:
    """Normalise spacing and remove page chrome and verbatim repeated paragraphs from a raw text.

    Rules work on whole lines, so they apply to any scraped article: newsletter and comment prompts,
    "Video of the Day", "Read more:" links, image credits, tag lists, author boxes, empty bullets, and a
    paragraph that appears a second time word for word. Blank lines are kept as paragraph breaks.
    """
    lines = [normalize_line(line) for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    authors = {m.group(1).casefold() for line in lines if (m := _AUTHOR_BOX.match(line))}
    removals: list[Removal] = []
    kept: list[str] = []
    seen_paragraphs: set[str] = set()
    for number, line in enumerate(lines, start=1):
        reason = _removal_reason(line, authors, seen_paragraphs)
        if reason:
            removals.append(Removal(number, line, reason))
            continue
        slug = _GLUED_SLUG.search(line)
        if slug:
            removals.append(Removal(number, slug.group(0), "image file name"))
            line = line[: slug.start()]
        if len(line.split()) >= _MIN_REPEATED_WORDS:
            seen_paragraphs.add(line)
        kept.append(line)
    return CleanedText(_join_paragraphs(kept), tuple(removals))


def _removal_reason(line: str, authors: set[str], seen_paragraphs: set[str]) -> str | None:
    if not line:
        return None
    if _EMPTY_BULLET.match(line):
        return "empty bullet"
    if line in seen_paragraphs:
        return "repeated paragraph"
    if _AUTHOR_BOX.match(line) or line.casefold() in authors:
        return "author box"
    if len(line) <= _MAX_CHROME_CHARS:
        for reason, pattern in _CHROME_RULES:
            if pattern.match(line):
                return reason
    return None


def _join_paragraphs(lines: list[str]) -> str:
    """Join lines, folding runs of blank lines (left behind by removals, too) into one."""
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)
