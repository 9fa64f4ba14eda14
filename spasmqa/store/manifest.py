"""The manifest of an index directory: what was built, from what and how, and the checks made against it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from spasmqa._version import __version__
from spasmqa.abstention import AnswerabilityModel
from spasmqa.chunking import Chunk, ChunkSettings
from spasmqa.corpus import Document, SkippedFile
from spasmqa.embedding import FINGERPRINT_TOLERANCE, Embedder
from spasmqa.errors import (
    ChunkingError,
    IndexFormatError,
    IndexNotFoundError,
    ManifestError,
    ModelMismatchError,
    StaleIndexError,
)
from spasmqa.store.vectors import SearchIndexSpec

FORMAT_VERSION = 6  # 6: documents' pages, skipped files; 5: the store (FAISS files or a Milvus collection); 4: answerability models
MANIFEST_FILE = "manifest.json"
FAISS_FILE = "index.faiss"
SENTENCES_FILE = "sentences.faiss"
CHUNKS_FILE = "chunks.jsonl"
DATA_FILES = (FAISS_FILE, CHUNKS_FILE, SENTENCES_FILE)


@dataclass(frozen=True)
class DocumentInfo:
    """What an index remembers of each document it was built from."""

    doc_id: str
    title: str
    source: str
    publisher: str | None
    sha256: str
    text_sha256: str
    chars: int
    page_starts: tuple[int, ...] = ()

    @classmethod
    def of(cls, document: Document) -> DocumentInfo:
        return cls(
            doc_id=document.doc_id,
            title=document.title,
            source=document.source,
            publisher=document.publisher,
            sha256=document.sha256,
            text_sha256=sha256_text(document.text),
            chars=len(document.text),
            page_starts=document.page_starts,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoreInfo:
    """Where the chunk records and vectors are: ``"faiss"`` files beside the manifest, or ``"milvus"``
    collections at ``uri``, whose chunk records hash to ``records_sha256`` (the ``chunks.jsonl`` they replace).

    A Milvus pair of collections is made at ``created`` and then updated in place: each build's rows carry
    its ``generation``, readers see only rows of their manifest's generation or earlier, and ``next_key``
    is the first row key not yet used. No credential is kept here: a secured Milvus takes its token from
    ``SPASMQA_MILVUS_TOKEN``.
    """

    kind: str = "faiss"
    uri: str | None = None
    chunk_collection: str | None = None
    sentence_collection: str | None = None
    records_sha256: str | None = None
    created: str | None = None
    generation: int | None = None
    next_key: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def spec(self) -> str:
        """How it is named to ``build(store=...)`` and ``--store``."""
        return "faiss" if self.kind == "faiss" else f"{self.kind}:{self.uri}"


@dataclass(frozen=True)
class Manifest:
    """The contents of ``manifest.json``."""

    model_id: str
    dimension: int
    max_seq_length: int
    fingerprint: tuple[float, ...]
    chunking: ChunkSettings
    corpus_dir: str
    documents: tuple[DocumentInfo, ...]
    chunk_count: int
    sentence_count: int
    answerability: tuple[AnswerabilityModel, ...]
    files: dict[str, str]
    built_at: str
    build_seconds: float
    format_version: int = FORMAT_VERSION
    spasmqa_version: str = __version__
    normalized: bool = True
    metric: str = "inner_product"
    search_index: SearchIndexSpec = SearchIndexSpec()
    store: StoreInfo = StoreInfo()
    skipped: tuple[SkippedFile, ...] = ()  # files of the corpus folder that could not be documents

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["fingerprint"] = list(self.fingerprint)
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Manifest:
        """The manifest of a parsed ``manifest.json``; raises ``KeyError``/``TypeError`` on a malformed one."""
        fields = dict(record)
        fields["fingerprint"] = tuple(fields["fingerprint"])
        fields["chunking"] = ChunkSettings(**fields["chunking"])
        fields["documents"] = tuple(DocumentInfo(**{**doc, "page_starts": tuple(doc["page_starts"])}) for doc in fields["documents"])
        fields["skipped"] = tuple(SkippedFile(**file) for file in fields["skipped"])
        fields["search_index"] = SearchIndexSpec(**fields["search_index"])
        fields["store"] = StoreInfo(**fields["store"])
        fields["answerability"] = tuple(AnswerabilityModel.from_dict(entry) for entry in fields["answerability"])
        return cls(**fields)

    def document(self, doc_id: str) -> DocumentInfo:
        return self._documents_by_id[doc_id]

    @cached_property
    def _documents_by_id(self) -> dict[str, DocumentInfo]:
        return {info.doc_id: info for info in self.documents}


def chunk_record(chunk: Chunk) -> bytes:
    """A chunk's line in ``chunks.jsonl``; a Milvus store's records hash as these lines would."""
    return (json.dumps(chunk.to_dict(), ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


def records_sha256(chunks: Sequence[Chunk]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk_record(chunk))
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(path: Path) -> Manifest:
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        if path.is_dir() and any((path / name).exists() for name in DATA_FILES):
            raise ManifestError(f"{manifest_path} is missing beside the index files; {rebuild_hint(path)}")
        raise IndexNotFoundError(f"no spasmqa index at {path} (no {MANIFEST_FILE}); {rebuild_hint(path)}")
    try:
        record = json.loads(manifest_path.read_text(encoding="utf-8"))
        version = record["format_version"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{manifest_path} is not a readable manifest ({exc}); {rebuild_hint(path)}") from exc
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise IndexFormatError(
            f"{path} has index format {version!r}, newer than this spasmqa ({__version__}) reads "
            f"(format {FORMAT_VERSION}); upgrade spasmqa or {rebuild_hint(path)}"
        )
    if version < FORMAT_VERSION:
        raise IndexFormatError(f"{path} has the old index format {version}; {rebuild_hint(path)}")
    try:
        return Manifest.from_dict(record)
    except (KeyError, TypeError, ValueError, ChunkingError) as exc:
        raise ManifestError(f"{manifest_path} is not a valid manifest ({exc}); {rebuild_hint(path)}") from exc


def rebuild_hint(path: Path) -> str:
    return f"rebuild it with `spasmqa build --out {path}` (or `python scripts/build_index.py --out {path}`)"


def check_model(manifest: Manifest, embedder: Embedder, path: Path) -> None:
    """Refuse to answer with another model than the index was built with: by name, dimension and vectors."""
    if embedder.model_id != manifest.model_id:
        raise ModelMismatchError(
            f"index at {path} was built with model {manifest.model_id!r}, not {embedder.model_id!r}; load it "
            f"without model= or rebuild with `spasmqa build --out {path} --model {embedder.model_id}`"
        )
    current = embedder.fingerprint()
    if len(current) != len(manifest.fingerprint) or any(
        abs(a - b) > FINGERPRINT_TOLERANCE for a, b in zip(current, manifest.fingerprint)
    ):
        raise ModelMismatchError(
            f"model {embedder.model_id!r} now gives different vectors than when the index at {path} was built "
            f"(the model files changed); {rebuild_hint(path)}"
        )


def check_corpus(manifest: Manifest, documents: tuple[Document, ...], path: Path) -> None:
    """Raise ``StaleIndexError`` naming every document changed, added or removed since the build."""
    built = {info.doc_id: (info.sha256, info.text_sha256) for info in manifest.documents}
    now = {doc.doc_id: (doc.sha256, sha256_text(doc.text)) for doc in documents}
    changed = tuple(sorted(doc_id for doc_id in built.keys() & now.keys() if built[doc_id] != now[doc_id]))
    added = tuple(sorted(now.keys() - built.keys()))
    removed = tuple(sorted(built.keys() - now.keys()))
    if changed or added or removed:
        parts = [f"{label}: {', '.join(ids)}" for label, ids in (("changed", changed), ("added", added), ("removed", removed)) if ids]
        raise StaleIndexError(
            f"the corpus at {manifest.corpus_dir} changed since the index at {path} was built ({'; '.join(parts)}); "
            f"rebuild with `spasmqa build --corpus {manifest.corpus_dir} --out {path}` or load(..., rebuild_if_stale=True)",
            changed=changed,
            added=added,
            removed=removed,
        )
