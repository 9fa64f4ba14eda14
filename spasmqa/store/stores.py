"""Which store holds an index: named by the user (``parse_store``), written and opened by the manifest's word."""

from __future__ import annotations

from pathlib import Path

from spasmqa.chunking import Chunk
from spasmqa.errors import StoreError
from spasmqa.store.directory import read_directory
from spasmqa.store.faiss_store import read_faiss_store, write_faiss_store
from spasmqa.store.manifest import Manifest, StoreInfo
from spasmqa.store.protocol import ChunkStore
from spasmqa.store.reuse import BuildVectors

STORE_KINDS = ("faiss", "milvus")


def parse_store(spec: str | None) -> StoreInfo:
    """``None``/``"faiss"``: files in the index directory; ``"milvus:URI"``: a Milvus Lite file (``….db``) or a
    Milvus server (``http://host:19530``)."""
    if spec is None or spec == "faiss":
        return StoreInfo()
    kind, _, uri = spec.partition(":")
    if kind != "milvus" or not uri:
        raise StoreError(
            f"unknown store {spec!r}; use 'faiss' (the default) or 'milvus:URI' with URI a Milvus Lite file "
            "such as milvus:./spasmqa.db or a server such as milvus:http://localhost:19530"
        )
    if uri.startswith(("http://", "https://", "tcp://", "grpc://")):
        return StoreInfo("milvus", uri)
    if not uri.endswith(".db"):
        raise StoreError(
            f"{uri!r} is neither a Milvus Lite file nor a server address; name a file ending in .db "
            "(milvus:./spasmqa.db) or a server (milvus:http://host:19530)"
        )
    return StoreInfo("milvus", str(Path(uri).expanduser().resolve()))


def check_reachable(store: StoreInfo) -> None:
    """Refuse a store that cannot be used (client not installed, server down) before a build embeds anything."""
    if store.kind == "milvus":
        from spasmqa.store.milvus_client import check_reachable as check_milvus

        check_milvus(store)


def write_store(
    target: Path,
    manifest: Manifest,
    chunks: list[Chunk],
    vectors: BuildVectors,
    exact_search_limit: int | None,
) -> ChunkStore:
    """Write an index into the store its manifest names and swap its directory into place (inside ``building``)."""
    if manifest.store.kind == "milvus":
        from spasmqa.store.milvus_write import write_milvus_store  # lazily: pymilvus is an optional extra

        return write_milvus_store(target, manifest, chunks, vectors, exact_search_limit)
    every_row = range(len(chunks))
    return write_faiss_store(
        target, manifest, chunks, vectors.chunk_vectors(every_row), vectors.sentence_vectors(every_row), exact_search_limit
    )


def open_store(index_dir: str | Path) -> ChunkStore:
    """The index at ``index_dir``, checked, from whichever store its manifest names."""
    return read_directory(index_dir, _read_store)


def _read_store(path: Path, manifest: Manifest) -> ChunkStore:
    if manifest.store.kind == "milvus":
        from spasmqa.store.milvus_store import read_milvus_store

        return read_milvus_store(path, manifest)
    return read_faiss_store(path, manifest)
