"""Documents: reading a corpus folder (any format ``readers`` reads, or a BEIR ``corpus.jsonl``) and its metadata into cleaned documents."""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import re
import unicodedata
import warnings
from dataclasses import asdict, dataclass
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spasmqa.cleaning import clean_text, heading_text
from spasmqa.errors import CorpusError, DocumentNotFoundError, SkippedDocumentsWarning
from spasmqa.readers import READERS, UnreadableFile, read_file

logger = logging.getLogger(__name__)

DOCUMENT_SUFFIXES = tuple(READERS)
METADATA_FILE = "metadata.json"
BEIR_CORPUS_FILE = "corpus.jsonl"


@dataclass(frozen=True)
class Document:
    """One cleaned document. Every offset spasmqa reports refers to ``text``."""

    doc_id: str
    title: str
    source: str
    text: str
    sha256: str
    publisher: str | None = None
    page_starts: tuple[int, ...] = ()  # where each page begins in ``text``, for documents with pages (PDF)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def pages(self, start: int, end: int) -> tuple[int, int] | None:
        """The first and last page (from 1) of ``text[start:end]``; None for a document without pages."""
        return pages_of(self.page_starts, start, end)


def pages_of(page_starts: tuple[int, ...], start: int, end: int) -> tuple[int, int] | None:
    """The first and last page (from 1) holding characters ``start:end``, given where each page begins."""
    if not page_starts:
        return None
    # bisect_right: an empty page begins where the next one does, and the text there is the next page's
    return bisect.bisect_right(page_starts, start), bisect.bisect_right(page_starts, max(start, end - 1))


@dataclass(frozen=True)
class SkippedFile:
    """A file of a corpus folder that could not be a document: its path in the folder, why, and its bytes' sha256."""

    source: str
    reason: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Corpus:
    """What reading a corpus folder gave: its documents, the files it skipped, and how many files it read."""

    documents: tuple[Document, ...]
    skipped: tuple[SkippedFile, ...]
    files: int


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
    """The documents of ``corpus_dir`` (see ``read_corpus``), with one ``SkippedDocumentsWarning`` per skipped file."""
    corpus = read_corpus(corpus_dir, strict=strict)
    warn_skipped(corpus.skipped)
    return corpus.documents


def read_corpus(corpus_dir: str | Path | None = None, *, strict: bool = False) -> Corpus:
    """Read every document file in ``corpus_dir`` and its sub-folders as a cleaned ``Document``.

    Document files are ``.txt``, ``.md``, ``.html``/``.htm``, ``.pdf`` and ``.docx`` (see ``readers``);
    other files, and hidden files and folders, are not documents. A file that cannot be one (empty,
    binary, in an encoding that cannot be detected, damaged, password-protected, with no text left after
    cleaning) is skipped and listed in ``Corpus.skipped`` with the reason; with ``strict=True`` any such
    file refuses the corpus (``CorpusError``). An optional ``metadata.json``
    (``{"documents": [{"file", "id", "title", "publisher", "sha256"}]}``, ``file`` relative to the folder)
    names documents and pins their bytes; other files get an id from their path and a title from the file
    itself (a page's title, a PDF's or Word file's title property, a first-line heading) or their name.
    Documents come back sorted by path.

    A folder in BEIR format (with a ``corpus.jsonl`` of ``{"_id", "title", "text"}`` records) is read
    from that file instead, one document per record, in file order. A record that cannot be a document
    (empty text, none left after cleaning, not JSON, not UTF-8, no ``_id`` or ``text``) is left out with
    one ``SkippedDocumentsWarning`` naming every such record; with ``strict=True`` the corpus is refused.
    """
    folder = Path(corpus_dir) if corpus_dir is not None else bundled_corpus_dir()
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist; pass a folder of documents ({', '.join(DOCUMENT_SUFFIXES)})")
    if (folder / BEIR_CORPUS_FILE).is_file():
        return Corpus(_read_beir_corpus(folder / BEIR_CORPUS_FILE, strict), (), 1)
    files = _document_files(folder)
    if not files:
        raise CorpusError(f"corpus folder {folder} has no documents ({', '.join(DOCUMENT_SUFFIXES)} files); add some or pass another folder")
    metadata = _read_metadata(folder)
    unknown = set(metadata) - set(files)
    if unknown:
        raise CorpusError(
            f"{folder / METADATA_FILE} lists files that are not in the folder: {', '.join(sorted(unknown))}; "
            "remove those entries or restore the files"
        )
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    for source, path in files.items():
        read = _read_document(path, source, metadata.get(source, {}))
        if isinstance(read, Document):
            documents.append(read)
        else:
            skipped.append(read)
    if skipped and strict:
        raise CorpusError(
            f"{folder} has {len(skipped)} files that cannot be documents: {listed(skipped)}; mend or remove them, "
            "or drop strict=True (--strict) to skip them with a warning"
        )
    if not documents:
        raise CorpusError(f"none of the {len(skipped)} document files in {folder} could be read: {listed(skipped)}; mend them or pass another folder")
    _check_unique_ids(tuple(documents), folder)
    return Corpus(tuple(documents), tuple(skipped), len(files))


def warn_skipped(skipped: tuple[SkippedFile, ...]) -> None:
    """One ``SkippedDocumentsWarning`` per skipped file, naming it and why."""
    for file in skipped:
        warnings.warn(f"skipped {file.source}: {file.reason}. It is not in the index; mend or remove it, or pass "
                      "strict=True (--strict) to refuse such a folder", SkippedDocumentsWarning, stacklevel=3)


def listed(skipped: Sequence[SkippedFile]) -> str:
    """``a.pdf (reason); b.txt (reason)``: how errors, warnings and the build report name skipped files."""
    return "; ".join(f"{file.source} ({file.reason})" for file in skipped)


def _document_files(folder: Path) -> dict[str, Path]:
    """The folder's document files by their path in it (``/``-separated), sorted; hidden ones left out."""
    found = {}
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if path.suffix.lower() in READERS and path.is_file() and not any(part.startswith(".") for part in relative.parts):
            found[relative.as_posix()] = path
    return dict(sorted(found.items()))


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
    named = "; ".join(skipped)
    if strict:
        raise CorpusError(
            f"{path} has {len(skipped)} records that cannot be documents: {named}; give them text or remove "
            "them, or drop strict=True (--strict) to leave them out with a warning"
        )
    warnings.warn(
        f"{path}: left out {len(skipped)} records that cannot be documents: {named}. They are not in the index; "
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


def _read_document(path: Path, source: str, metadata: dict[str, Any]) -> Document | SkippedFile:
    raw_bytes = path.read_bytes()
    sha256 = hashlib.sha256(raw_bytes).hexdigest()
    expected = metadata.get("sha256")
    if expected and expected != sha256:
        raise CorpusError(
            f"{path} has changed since its metadata was written (sha256 {sha256[:12]}…, metadata says "
            f"{expected[:12]}…); restore the file or update its sha256 in {METADATA_FILE}"
        )
    try:
        read = read_file(path)
    except UnreadableFile as exc:
        return SkippedFile(source, str(exc), sha256)
    except ImportError as exc:
        raise CorpusError(f"reading {source} needs {exc.name}, which is not installed; reinstall spasmqa") from exc
    except Exception as exc:  # noqa: BLE001 - a reader library failing on one odd file must not stop the folder
        return SkippedFile(source, f"could not be read ({type(exc).__name__}: {exc})", sha256)
    if read.encoding not in (None, "utf-8"):
        logger.info("read %s as %s", source, read.encoding)
    text, page_starts = _cleaned_pages(read.pages)
    if not text:
        return SkippedFile(source, "no text left after cleaning" if any(p.strip() for p in read.pages) else "no text", sha256)
    return Document(
        doc_id=metadata.get("id") or slugify(str(Path(source).with_suffix(""))) or sha256[:12],
        title=metadata.get("title") or read.title or _title_from_text(text) or path.stem,
        source=source,
        text=text,
        sha256=sha256,
        publisher=metadata.get("publisher"),
        page_starts=page_starts if read.paged else (),
    )


def _cleaned_pages(pages: tuple[str, ...]) -> tuple[str, tuple[int, ...]]:
    """The pages cleaned one by one and joined as paragraphs, and where each begins in the joined text."""
    text, starts = "", []
    for page in pages:
        cleaned = clean_text(page).text
        if cleaned and text:
            text += "\n\n"
        starts.append(len(text))
        text += cleaned
    return text, tuple(starts)


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
