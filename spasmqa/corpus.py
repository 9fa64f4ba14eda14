"""Documents: reading a corpus folder, its metadata, and cleaning page chrome out of each text."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from spasmqa.errors import CorpusError, DocumentNotFoundError, SkippedDocumentsWarning

DOCUMENT_SUFFIXES = (".txt", ".md")
METADATA_FILE = "metadata.json"
BEIR_CORPUS_FILE = "corpus.jsonl"

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
class Document:
    """One cleaned document. Every offset spasmqa reports refers to ``text``."""

    doc_id: str
    title: str
    source: str
    text: str
    sha256: str
    publisher: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def slugify(name: str) -> str:
    """A readable id from a file name: lower case, runs of other characters become one hyphen."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def bundled_corpus_dir() -> Path:
    """The five-article corpus shipped with spasmqa (inside the wheel, or at the top of a checkout)."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "corpus", package_dir.parent / "corpus"):
        if (candidate / METADATA_FILE).is_file():
            return candidate
    raise CorpusError(
        f"the bundled corpus is missing (looked in {package_dir / 'corpus'} and {package_dir.parent / 'corpus'}); "
        "reinstall spasmqa"
    )


def load_corpus(corpus_dir: str | Path | None = None, *, strict: bool = False) -> tuple[Document, ...]:
    """Read every ``.txt`` and ``.md`` file directly inside ``corpus_dir`` as a cleaned ``Document``.

    A folder in BEIR format (with a ``corpus.jsonl`` of ``{"_id", "title", "text"}`` records) is read
    from that file instead, one document per record, in file order. An optional ``metadata.json`` (``{"documents": [{"file", "id", "title", "publisher", "sha256"}]}``)
    names documents and pins their bytes; files it does not list get an id from their file name and a
    title from their first line. Documents come back sorted by file name.

    A ``corpus.jsonl`` record that cannot be a document (empty text, none left after cleaning, not JSON,
    not UTF-8, no ``_id`` or ``text``) is left out with one ``SkippedDocumentsWarning`` naming every such
    record; with ``strict=True`` the corpus is refused instead (``CorpusError``). Files of a plain folder
    are always checked strictly.
    """
    folder = Path(corpus_dir) if corpus_dir is not None else bundled_corpus_dir()
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist; pass a folder of .txt or .md files")
    if (folder / BEIR_CORPUS_FILE).is_file():
        return _read_beir_corpus(folder / BEIR_CORPUS_FILE, strict)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in DOCUMENT_SUFFIXES and p.is_file())
    if not files:
        raise CorpusError(f"corpus folder {folder} has no .txt or .md files; add documents or pass another folder")
    metadata = _read_metadata(folder)
    unknown = set(metadata) - {p.name for p in files}
    if unknown:
        raise CorpusError(
            f"{folder / METADATA_FILE} lists files that are not in the folder: {', '.join(sorted(unknown))}; "
            "remove those entries or restore the files"
        )
    documents = tuple(_read_document(path, metadata.get(path.name, {})) for path in files)
    _check_unique_ids(documents, folder)
    return documents


def _read_beir_corpus(path: Path, strict: bool) -> tuple[Document, ...]:
    documents: list[Document] = []
    skipped: list[str] = []
    # surrogateescape: a record with bytes that are not UTF-8 is skipped, not the whole file
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                documents.append(_beir_record(path, number, line))
            except _UnusableRecord as exc:
                skipped.append(f"line {number} ({exc.doc_id or 'no id'}): {exc}")
    _check_skipped(path, skipped, strict)
    if not documents:
        raise CorpusError(f"{path} has no usable documents; add records with text or pass another folder")
    result = tuple(documents)
    _check_unique_ids(result, path.parent)
    return result


class _UnusableRecord(ValueError):
    def __init__(self, doc_id: str, reason: str) -> None:
        super().__init__(reason)
        self.doc_id = doc_id


def _beir_record(path: Path, number: int, line: str) -> Document:
    try:
        raw_bytes = line.encode("utf-8")
        record = json.loads(line)
    except UnicodeEncodeError:
        raise _UnusableRecord("", "not UTF-8") from None
    except ValueError as exc:
        raise _UnusableRecord("", f"not JSON ({exc})") from None
    if not isinstance(record, dict) or "_id" not in record:
        raise _UnusableRecord("", 'not a {"_id": ..., "title": ..., "text": ...} record')
    doc_id, raw = str(record["_id"]), record.get("text")
    if not isinstance(raw, str):
        raise _UnusableRecord(doc_id, "no text field" if raw is None else f"text is a {type(raw).__name__}, not a string")
    text = clean_text(raw).text
    if not text:
        raise _UnusableRecord(doc_id, "no text left after cleaning" if raw.strip() else "only whitespace" if raw else "empty text")
    title = str(record.get("title") or doc_id)
    return Document(doc_id, title, f"{path.name}#{number}", text, hashlib.sha256(raw_bytes).hexdigest())


def _check_skipped(path: Path, skipped: list[str], strict: bool) -> None:
    if not skipped:
        return
    listed = "; ".join(skipped)
    if strict:
        raise CorpusError(
            f"{path} has {len(skipped)} records that cannot be documents: {listed}; give them text or remove "
            "them, or drop strict=True (--strict) to leave them out with a warning"
        )
    warnings.warn(
        f"{path}: left out {len(skipped)} records that cannot be documents: {listed}. They are not in the index; "
        "give them text or remove them, or pass strict=True (--strict) to refuse such a corpus",
        SkippedDocumentsWarning,
    )


def _read_metadata(folder: Path) -> dict[str, dict[str, Any]]:
    path = folder / METADATA_FILE
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["documents"]
        return {entry["file"]: entry for entry in entries}
    except (ValueError, KeyError, TypeError) as exc:
        raise CorpusError(
            f"{path} is not valid metadata ({exc}); it must be "
            '{"documents": [{"file": ..., "id": ..., "title": ...}, ...]}'
        ) from exc


def _read_document(path: Path, metadata: dict[str, Any]) -> Document:
    raw_bytes = path.read_bytes()
    sha256 = hashlib.sha256(raw_bytes).hexdigest()
    expected = metadata.get("sha256")
    if expected and expected != sha256:
        raise CorpusError(
            f"{path} has changed since its metadata was written (sha256 {sha256[:12]}…, metadata says "
            f"{expected[:12]}…); restore the file or update its sha256 in {METADATA_FILE}"
        )
    try:
        raw = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path} is not UTF-8 text ({exc}); convert it to UTF-8") from exc
    text = clean_text(raw).text
    if not text:
        raise CorpusError(f"{path} has no text left after cleaning; remove it from the corpus folder")
    return Document(
        doc_id=metadata.get("id") or slugify(path.stem) or sha256[:12],
        title=metadata.get("title") or _title_from_text(text) or path.stem,
        source=path.name,
        text=text,
        sha256=sha256,
        publisher=metadata.get("publisher"),
    )


def find_document(documents: tuple[Document, ...], doc_id: str) -> Document:
    """The document with ``doc_id``; ``DocumentNotFoundError`` (a ``KeyError``) lists the ids there are."""
    for document in documents:
        if document.doc_id == doc_id:
            return document
    raise DocumentNotFoundError(f"no document {doc_id!r}; the documents are {', '.join(d.doc_id for d in documents)}")


def _title_from_text(text: str) -> str | None:
    first_line = text.split("\n", 1)[0]
    return heading_text(first_line)


def _check_unique_ids(documents: tuple[Document, ...], folder: Path) -> None:
    by_id: dict[str, str] = {}
    for doc in documents:
        if doc.doc_id in by_id:
            raise CorpusError(
                f"{by_id[doc.doc_id]} and {doc.source} in {folder} both get the id {doc.doc_id!r}; "
                f"rename one of them or give them ids in {METADATA_FILE}"
            )
        by_id[doc.doc_id] = doc.source
