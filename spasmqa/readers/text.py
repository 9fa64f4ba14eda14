"""Plain text and Markdown files, in UTF-8 or in another encoding that can be told from the bytes."""

from __future__ import annotations

import codecs
from pathlib import Path

from spasmqa.readers.base import ReadText, UnreadableFile

# Text in UTF-8 or a single-byte encoding has no NUL bytes; a binary file almost always has one early.
# UTF-16 and UTF-32 text has many, so it is recognised by its byte-order mark first.
_SNIFF_BYTES = 8192
_WESTERN = "cp1252"
# UTF-32 first: its little-endian mark begins with UTF-16's.
_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_text(path: Path) -> ReadText:
    text, encoding = decode(path.read_bytes())
    return ReadText((text,), encoding=encoding)


def decode(data: bytes) -> tuple[str, str]:
    """The text of ``data`` and its encoding: UTF-8 when it is, else what charset-normalizer detects."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    for mark, encoding in _MARKS:
        if data.startswith(mark):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                raise UnreadableFile(f"starts like {encoding} text but does not decode as it (truncated?)") from None
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise UnreadableFile("binary data, not text")
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise UnreadableFile("not text in UTF-8 or any encoding that can be detected; convert it to UTF-8")
    # A short text fits several single-byte encodings equally well (charset-normalizer then takes the first
    # it tried, often cp1250). Among those ties, windows-1252 is what the WHATWG Encoding Standard decodes
    # unlabelled Western text (and every "latin-1" label) as.
    tied = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
    chosen = next((m for m in tied if m.encoding == _WESTERN), best)
    return str(chosen), chosen.encoding
