"""Word files (``.docx``) with python-docx: paragraphs in order, heading styles as headings, lists as items."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from spasmqa.readers.base import ReadText, UnreadableFile

# An encrypted .docx is not a zip at all but an OLE compound file (so is a pre-2007 .doc renamed).
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADING_STYLE = re.compile(r"^Heading (\d)$")


def read_docx(path: Path) -> ReadText:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    with path.open("rb") as handle:
        if handle.read(len(_OLE_SIGNATURE)) == _OLE_SIGNATURE:
            raise UnreadableFile("password-protected (or an old .doc file renamed .docx); save it unprotected as .docx")
    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError, PackageNotFoundError) as exc:
        raise UnreadableFile(f"not a readable .docx, damaged or truncated ({exc})") from None
    title = (document.core_properties.title or "").strip() or None
    blocks = []
    for paragraph in document.paragraphs:
        text = " ".join(paragraph.text.split())
        if not text:
            continue
        style = paragraph.style.name if paragraph.style is not None else ""
        heading = _HEADING_STYLE.match(style)
        if style == "Title":
            title = title or text
            blocks.append(f"# {text}")
        elif heading:
            blocks.append(f"{'#' * min(int(heading.group(1)) + 1, 6)} {text}")
        elif style.startswith("List"):
            blocks.append(f"- {text}")
        else:
            blocks.append(text)
    return ReadText(("\n\n".join(blocks),), title=title)
