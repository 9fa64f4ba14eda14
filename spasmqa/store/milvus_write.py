"""The Milvus store, writing side: a new pair of collections, or the pair already there updated in place.

A first build (or one that cannot update: another server, another search index) makes a new pair of
collections, swaps the index directory's manifest to name them and drops the pair it replaced. A rebuild
into the same pair touches only the documents whose chunks changed: their new rows are inserted under
the next generation (invisible to readers of the current manifest), the manifest naming that generation
is swapped in, and only then are the replaced documents' rows deleted. A build that dies before the swap
leaves rows no manifest sees, removed by the next build; the cost of a rebuild is that of what changed.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from spasmqa.chunking import Chunk
from spasmqa.errors import StoreError
from spasmqa.store.directory import previous_manifest, write_directory
from spasmqa.store.manifest import Manifest, StoreInfo, records_sha256, sha256_text
from spasmqa.store.milvus_client import Client
from spasmqa.store.milvus_store import DESCRIPTION, TEXT_FIELDS, MilvusStore, description
from spasmqa.store.reuse import BuildVectors
from spasmqa.store.vectors import SearchIndexSpec, inverted_lists

logger = logging.getLogger(__name__)

INSERT_BATCH = 2_000  # rows per insert call: well under Milvus's 64 MB message limit at 384 dimensions
DELETE_BATCH = 1_000  # keys per delete call
VARCHAR_LIMIT = 65_535  # bytes, Milvus's longest VARCHAR
# An update keeps the pair's IVF lists; past this change in their number a fresh pair is made instead
NLIST_DRIFT = 1.25


def write_milvus_store(
    target: Path, manifest: Manifest, chunks: list[Chunk], vectors: BuildVectors, exact_search_limit: int | None
) -> MilvusStore:
    """Write the index into Milvus and swap the manifest naming its rows into place (inside ``directory.building``)."""
    _check_lengths(chunks)
    client = Client.connect(manifest.store)
    spec = _search_spec(len(chunks), exact_search_limit)
    previous = vectors.previous
    if isinstance(previous, MilvusStore) and _updatable(previous, target, manifest.store, spec):
        return _update(client, target, manifest, chunks, vectors, previous)
    return _new_pair(client, target, replace(manifest, search_index=spec), chunks, vectors)


def _updatable(previous: MilvusStore, target: Path, store: StoreInfo, spec: SearchIndexSpec) -> bool:
    """Whether the pair the previous build wrote can take this build: same server, same kind of search index,
    about as many IVF lists, and made for this directory (a copied index directory gets a pair of its own)."""
    old, old_store = previous.manifest.search_index, previous.manifest.store
    if old_store.uri != store.uri or old.kind != spec.kind:
        return False
    if not str(old_store.chunk_collection).startswith(_collection_prefix(target)):
        return False
    return not (spec.nlist and old.nlist) or 1 / NLIST_DRIFT <= spec.nlist / old.nlist <= NLIST_DRIFT


def _new_pair(client: Client, target: Path, manifest: Manifest, chunks: list[Chunk], vectors: BuildVectors) -> MilvusStore:
    replaced = previous_manifest(target)
    name = f"{_collection_prefix(target)}{uuid.uuid4().hex[:8]}"
    store = replace(
        manifest.store, chunk_collection=name, sentence_collection=f"{name}_sentences", generation=1, next_key=0,
        created=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
    )
    manifest = replace(manifest, store=store)
    try:
        _create(client, name, manifest, _chunk_fields(), manifest.search_index)
        _create(client, f"{name}_sentences", manifest, _sentence_fields(), SearchIndexSpec("FLAT"))
        store, keys = _insert_rows(client, manifest, store, chunks, range(len(chunks)), vectors)
        manifest = write_directory(target, replace(manifest, store=replace(store, records_sha256=records_sha256(chunks))), {})
    except BaseException:
        for collection in (name, f"{name}_sentences"):
            client.drop_quietly(collection)
        raise
    _drop_replaced(client, target, manifest.store, replaced)
    return MilvusStore(target, manifest, tuple(chunks), tuple(keys), client)


def _update(
    client: Client, target: Path, manifest: Manifest, chunks: list[Chunk], vectors: BuildVectors, previous: MilvusStore
) -> MilvusStore:
    old = previous.manifest.store
    _delete(client, old, f"generation > {old.generation}")  # rows of a build that died before its swap
    kept = _unchanged_documents(previous.chunks, chunks)
    kept_keys = {chunk.chunk_id: key for chunk, key in zip(previous.chunks, previous.keys) if chunk.doc_id in kept}
    written = [row for row, chunk in enumerate(chunks) if chunk.doc_id not in kept]
    store = replace(old, generation=int(old.generation or 0) + 1, records_sha256=records_sha256(chunks))
    store, new_keys = _insert_rows(client, manifest, store, chunks, written, vectors)
    written_keys = dict(zip(written, new_keys))
    keys = tuple(written_keys[row] if row in written_keys else kept_keys[chunk.chunk_id] for row, chunk in enumerate(chunks))
    manifest = write_directory(target, replace(manifest, store=store, search_index=previous.manifest.search_index), {})
    retired = [key for chunk, key in zip(previous.chunks, previous.keys) if chunk.doc_id not in kept]
    for first in range(0, len(retired), DELETE_BATCH):
        batch = retired[first : first + DELETE_BATCH]
        client.call("delete", store.chunk_collection, ids=batch)
        client.call("delete", store.sentence_collection, filter=f"chunk_key in {batch}")
    logger.info("updated Milvus collections %s in place: %d chunks written, %d retired", store.chunk_collection,
                len(written), len(retired))
    return MilvusStore(target, manifest, tuple(chunks), keys, client)


def _unchanged_documents(before: Sequence[Chunk], after: Sequence[Chunk]) -> set[str]:
    """Documents whose chunks are exactly what they were: their rows stay as they are."""
    def by_document(chunks: Sequence[Chunk]) -> dict[str, list[Chunk]]:
        grouped: dict[str, list[Chunk]] = {}
        for chunk in chunks:
            grouped.setdefault(chunk.doc_id, []).append(chunk)
        return grouped

    old, new = by_document(before), by_document(after)
    return {doc_id for doc_id, chunks in new.items() if old.get(doc_id) == chunks}


def _insert_rows(
    client: Client, manifest: Manifest, store: StoreInfo, chunks: list[Chunk], rows: Sequence[int], vectors: BuildVectors
) -> tuple[StoreInfo, list[int]]:
    """Insert the chunks ``rows`` and their sentences under ``store.generation``; the store after, and the keys given."""
    texts = {info.doc_id: info.text_sha256 for info in manifest.documents}
    next_key = int(store.next_key or 0)
    keys = list(range(next_key, next_key + len(rows)))
    next_key += len(rows)
    ordinals = _ordinals(chunks)
    chunk_vectors = vectors.chunk_vectors(rows)
    _insert(client, str(store.chunk_collection), (
        {**_chunk_record(chunks[row], ordinals[row], texts[chunks[row].doc_id]), "key": key, "generation": store.generation,
         "vector": chunk_vectors[i]}
        for i, (row, key) in enumerate(zip(rows, keys))
    ))
    sentence_vectors = vectors.sentence_vectors(rows)
    owners = [(key, ordinal) for row, key in zip(rows, keys) for ordinal in range(len(chunks[row].sentences))]
    _insert(client, str(store.sentence_collection), (
        {"key": next_key + i, "chunk_key": owner, "ordinal": ordinal, "generation": store.generation, "vector": vector}
        for i, ((owner, ordinal), vector) in enumerate(zip(owners, sentence_vectors))
    ))
    return replace(store, next_key=next_key + len(owners)), keys


def _ordinals(chunks: list[Chunk]) -> list[int]:
    """Each chunk's place among its document's chunks: with the manifest's document order, the row order."""
    seen: dict[str, int] = {}
    ordinals = []
    for chunk in chunks:
        ordinals.append(seen.get(chunk.doc_id, 0))
        seen[chunk.doc_id] = ordinals[-1] + 1
    return ordinals


def _delete(client: Client, store: StoreInfo, condition: str) -> None:
    for name in (store.chunk_collection, store.sentence_collection):
        client.call("delete", str(name), filter=condition)


def _collection_prefix(target: Path) -> str:
    """Every pair of one index directory's collections starts with this (Milvus names: letters, digits, _)."""
    return f"spasmqa_{hashlib.sha256(str(target).encode()).hexdigest()[:12]}_"


def _search_spec(count: int, exact_search_limit: int | None) -> SearchIndexSpec:
    """Exact search (FLAT) up to the limit, IVF_FLAT above it, with the FAISS store's nlist and nprobe."""
    lists = inverted_lists(count, exact_search_limit)
    return SearchIndexSpec("FLAT") if lists is None else SearchIndexSpec("IVF_FLAT", *lists)


def _chunk_fields() -> list[tuple[str, str]]:
    return [("key", "INT64"), ("generation", "INT64"), ("vector", "FLOAT_VECTOR"), *((name, "VARCHAR") for name in TEXT_FIELDS),
            ("start", "INT64"), ("end", "INT64"), ("token_count", "INT64"), ("sentences", "JSON"), ("ordinal", "INT64"),
            ("content_sha256", "VARCHAR"), ("document_sha256", "VARCHAR")]


def _sentence_fields() -> list[tuple[str, str]]:
    return [("key", "INT64"), ("chunk_key", "INT64"), ("ordinal", "INT64"), ("generation", "INT64"), ("vector", "FLOAT_VECTOR")]


def _create(client: Client, name: str, manifest: Manifest, fields: list[tuple[str, str]], spec: SearchIndexSpec) -> None:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    for field_name, kind in fields:
        options: dict[str, Any] = {"is_primary": True} if field_name == "key" else {}
        if kind == "FLOAT_VECTOR":
            options["dim"] = manifest.dimension
        elif kind == "VARCHAR":
            options["max_length"] = VARCHAR_LIMIT
        schema.add_field(field_name, getattr(DataType, kind), **options)
    index_params = MilvusClient.prepare_index_params()
    params = {"nlist": spec.nlist} if spec.nlist else {}
    index_params.add_index(field_name="vector", index_type=spec.kind, metric_type="IP", params=params)
    if "chunk_key" in dict(fields):
        index_params.add_index(field_name="chunk_key", index_type="INVERTED")
    client.call("create_collection", name, schema=schema, properties={DESCRIPTION: description(manifest)})
    # sync=False: waiting for the index asks the server for a timestamp, which Milvus Lite does not implement;
    # load_collection below waits for the index anyway
    client.call("create_index", name, index_params, sync=False)
    client.call("load_collection", name)


def _insert(client: Client, name: str, records: Iterator[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) == INSERT_BATCH:
            client.call("insert", name, batch)
            batch = []
    if batch:
        client.call("insert", name, batch)
    client.call("flush", name)


def _chunk_record(chunk: Chunk, ordinal: int, document_sha256: str) -> dict[str, Any]:
    record = chunk.to_dict()
    record["sentences"] = [list(span) for span in chunk.sentences]
    record["ordinal"] = ordinal
    record["content_sha256"] = sha256_text(chunk.embedding_input)
    record["document_sha256"] = document_sha256
    return record


def _check_lengths(chunks: list[Chunk]) -> None:
    for chunk in chunks:
        for name in TEXT_FIELDS:
            if len(getattr(chunk, name).encode("utf-8")) > VARCHAR_LIMIT:
                raise StoreError(
                    f"chunk {chunk.chunk_id}'s {name} is longer than the {VARCHAR_LIMIT} bytes a Milvus text field "
                    "holds; build this corpus into the FAISS store (the default), or shorten that document's headings"
                )


def _drop_replaced(client: Client, target: Path, store: StoreInfo, replaced: Manifest | None) -> None:
    """Drop the pair the swap replaced, and any a crashed build of this directory left, keeping ``store``'s."""
    keep = {store.chunk_collection, store.sentence_collection}
    prefix = _collection_prefix(target)
    for name in client.call("list_collections"):
        if name.startswith(prefix) and name not in keep:
            client.drop_quietly(name)
    if replaced is not None and replaced.store.kind == "milvus" and replaced.store.uri != store.uri:
        logger.warning(
            "the index at %s was in Milvus at %s before this build; its collections there were left as they are",
            target, replaced.store.uri,
        )
