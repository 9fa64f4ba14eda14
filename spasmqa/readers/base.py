"""What every reader returns, and the error of a file that cannot be a document."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReadText:
    """What a reader found in one file: ``pages`` of text (one for formats without pages) and its title."""

    pages: tuple[str, ...]
    title: str | None = None
    paged: bool = False
    encoding: str | None = None


class UnreadableFile(ValueError):
    """A file that cannot be a document; the message is the reason, as a person would say it."""
