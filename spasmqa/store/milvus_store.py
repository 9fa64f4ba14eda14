"""The Milvus store: chunk records and vectors in two Milvus collections, the manifest in the index directory.

A Milvus Lite file (``….db``), a ``milvus-lite server`` or a Milvus cluster, all through pymilvus's
``MilvusClient``. Every build writes a new pair of collections (a generation) and then swaps the index
directory's manifest to name them, as the FAISS store swaps its files, so readers see the old index or
the new one; the replaced generation, and any a crashed build left, is dropped after the swap. Loading
checks the collections against the manifest (present, row counts, dimension, every record's hashes) and
reads the chunk records into the process for BM25 (``store.protocol``). Every call has a timeout, so a
server that goes away gives ``StoreUnavailableError`` instead of a hang.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from spasmqa.chunking import Chunk
from spasmqa.errors import CollectionMismatchError, StoreError, StoreUnavailableError
from spasmqa.store.directory import previous_manifest, write_directory
from spasmqa.store.manifest import Manifest, StoreInfo, records_sha256, sha256_text
from spasmqa.store.vectors import SearchIndexSpec, inverted_lists

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

logger = logging.getLogger(__name__)
T = TypeVar("T")

TIMEOUT_SECONDS = 10.0  # per call; SPASMQA_MILVUS_TIMEOUT overrides it
# A build's bulk calls (flushing or indexing 10^6 rows) take minutes, not seconds: they get this many timeouts.
BUILD_PATIENCE = 30
BUILD_METHODS = frozenset({"insert", "flush", "create_index", "load_collection"})
INSERT_BATCH = 2_000  # rows per insert call: well under Milvus's 64 MB message limit at 384 dimensions
READ_BATCH = 5_000  # rows per page when reading the chunk records back
VARCHAR_LIMIT = 65_535  # bytes, Milvus's longest VARCHAR
SENTENCES_REMEMBERED = 10_000  # chunks whose sentence vectors are kept between questions (~75 MB at 384 d)
SENTENCE_QUERY_CHUNKS = 1_000  # chunks per sentence query: ~5,000 rows, under Milvus's 16,384-row result window
KEEPALIVE_MS = 300_000  # gRPC's default minimum interval between a client's pings
DESCRIPTION = "spasmqa_index"  # the collection property that says which build wrote it
TEXT_FIELDS = ("chunk_id", "doc_id", "section", "text", "context")


@dataclass
class MilvusStore:
    """An index whose vectors are in Milvus; the chunk records were read from its collection at load."""

    path: Path
    manifest: Manifest
    chunks: tuple[Chunk, ...]
    client: _Client = field(repr=False)
    _sentences: dict[int, NDArray[np.float32]] = field(default_factory=dict, repr=False)

    def search(self, query_vectors: NDArray[np.float32], k: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        import numpy as np

        k = min(k, len(self.chunks))
        spec = self.manifest.search_index
        params: dict[str, Any] = {"metric_type": "IP"}
        if spec.nprobe:
            params["params"] = {"nprobe": spec.nprobe}
        hits = self.client.call(
            "search", self._collection, data=[row.tolist() for row in query_vectors], limit=k, anns_field="vector",
            search_params=params, output_fields=[],
        )
        scores = np.full((len(query_vectors), k), -np.inf, np.float32)
        rows = np.full((len(query_vectors), k), -1, np.int64)
        for i, found in enumerate(hits):
            for j, hit in enumerate(found[:k]):
                scores[i, j], rows[i, j] = hit["distance"], hit["row"]
        return scores, rows

    def chunk_vectors(self, rows: Sequence[int]) -> NDArray[np.float32]:
        import numpy as np

        rows = list(rows)
        if not rows:
            return np.zeros((0, self.manifest.dimension), np.float32)
        found: dict[int, Any] = {}
        for first in range(0, len(rows), READ_BATCH):
            wanted = rows[first : first + READ_BATCH]
            records = self.client.call("get", self._collection, ids=wanted, output_fields=["vector"])
            found.update((record["row"], record["vector"]) for record in records)
        self._check_found(rows, found, self._collection)
        return np.asarray([found[row] for row in rows], dtype=np.float32)

    def sentence_vectors(self, rows: Sequence[int]) -> list[NDArray[np.float32]]:
        import numpy as np

        found = {row: matrix for row in set(rows) if (matrix := self._sentences.get(row)) is not None}
        missing = sorted(row for row in set(rows) - found.keys() if self.chunks[row].sentences)
        for first in range(0, len(missing), SENTENCE_QUERY_CHUNKS):
            fetched = self._fetch_sentences(missing[first : first + SENTENCE_QUERY_CHUNKS])
            found.update(fetched)
            if len(missing) <= SENTENCES_REMEMBERED:  # a question's few chunks, not a whole index being reused
                if len(self._sentences) + len(fetched) > SENTENCES_REMEMBERED:
                    self._sentences.clear()
                self._sentences.update(fetched)
        empty = np.zeros((0, self.manifest.dimension), np.float32)
        return [found.get(row, empty) for row in rows]

    def _fetch_sentences(self, rows: list[int]) -> dict[int, NDArray[np.float32]]:
        import numpy as np

        records = self.client.call(
            "query", self.manifest.store.sentence_collection, filter=f"chunk_row in {rows}",
            output_fields=["row", "chunk_row", "vector"],
        )
        by_chunk: dict[int, list[tuple[int, Any]]] = {row: [] for row in rows}
        for record in records:
            by_chunk[record["chunk_row"]].append((record["row"], record["vector"]))
        for row, vectors in by_chunk.items():
            if len(vectors) != len(self.chunks[row].sentences):
                raise self._altered(
                    f"chunk row {row} has {len(vectors)} sentence vectors, its record lists {len(self.chunks[row].sentences)}"
                )
        return {row: np.asarray([v for _, v in sorted(vectors)], dtype=np.float32) for row, vectors in by_chunk.items()}

    def best_sentence_score(self, query_vector: NDArray[np.float32], rows: Sequence[int]) -> float | None:
        import numpy as np

        vectors = [matrix for matrix in self.sentence_vectors(rows) if len(matrix)]
        return float((np.vstack(vectors) @ query_vector).max()) if vectors else None

    @cached_property
    def _collection(self) -> str:
        return str(self.manifest.store.chunk_collection)

    def _check_found(self, rows: list[int], found: dict[int, Any], collection: str) -> None:
        lost = [row for row in rows if row not in found]
        if lost:
            raise self._altered(f"rows {lost[:5]} are missing from collection {collection}")

    def _altered(self, what: str) -> CollectionMismatchError:
        return CollectionMismatchError(
            f"the Milvus collections of the index at {self.path} were altered since it was loaded ({what}); "
            f"{rebuild_hint(self.path, self.manifest.store)}"
        )


def write_milvus_store(
    target: Path,
    manifest: Manifest,
    chunks: list[Chunk],
    chunk_vectors: NDArray[np.float32],
    sentence_vectors: NDArray[np.float32],
    exact_search_limit: int | None,
) -> MilvusStore:
    """Write the collections of a new generation, swap the manifest naming them into place, drop the old ones."""
    _check_lengths(chunks)
    client = _Client.connect(manifest.store)
    replaced = previous_manifest(target)
    generation = f"{_collection_prefix(target)}{uuid.uuid4().hex[:8]}"
    chunk_collection, sentence_collection = generation, f"{generation}_sentences"
    store = replace(
        manifest.store, chunk_collection=chunk_collection, sentence_collection=sentence_collection,
        records_sha256=records_sha256(chunks),
    )
    manifest = replace(manifest, store=store, search_index=_search_spec(len(chunks), exact_search_limit))
    texts = {info.doc_id: info.text_sha256 for info in manifest.documents}
    try:
        _create(client, chunk_collection, manifest, _chunk_fields(), manifest.search_index)
        _insert(client, chunk_collection, (
            {**_chunk_record(chunk, texts[chunk.doc_id]), "row": row, "vector": chunk_vectors[row]}
            for row, chunk in enumerate(chunks)
        ))
        _create(client, sentence_collection, manifest, _sentence_fields(), SearchIndexSpec("FLAT"))
        owners = [row for row, chunk in enumerate(chunks) for _ in chunk.sentences]
        _insert(client, sentence_collection, (
            {"row": row, "chunk_row": owner, "vector": sentence_vectors[row]} for row, owner in enumerate(owners)
        ))
        manifest = write_directory(target, manifest, {})
    except BaseException:
        for name in (store.chunk_collection, store.sentence_collection):
            client.drop_quietly(str(name))
        raise
    _drop_replaced(client, target, store, replaced)
    return MilvusStore(target, manifest, tuple(chunks), client)


def read_milvus_store(path: Path, manifest: Manifest) -> MilvusStore:
    """The store of a checked manifest, refusing collections that are gone or disagree with it."""
    store = manifest.store
    client = _Client.connect(store)
    for name, count in ((store.chunk_collection, manifest.chunk_count), (store.sentence_collection, manifest.sentence_count)):
        _check_collection(client, path, manifest, str(name), count)
    chunks = _read_chunks(client, path, manifest)
    return MilvusStore(path, manifest, chunks, client)


def check_reachable(store: StoreInfo) -> None:
    client = _Client.connect(store)
    client.call("list_collections")


def rebuild_hint(path: Path, store: StoreInfo) -> str:
    return f"rebuild it with `spasmqa build --out {path} --store milvus:{store.uri}`"


class _Client:
    """A ``MilvusClient`` whose every call has a timeout and whose failures are spasmqa errors naming the fix."""

    def __init__(self, client: Any, uri: str) -> None:
        self._client = client
        self.uri = uri

    @classmethod
    def connect(cls, store: StoreInfo) -> _Client:
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:
            raise StoreError(
                "the Milvus store needs pymilvus and milvus-lite; install them with `pip install 'spasmqa[milvus]'`"
            ) from exc
        uri = str(store.uri)
        token = os.environ.get("SPASMQA_MILVUS_TOKEN", "")
        # pymilvus pings every 10 s even between calls; a gRPC server with default settings (Milvus Lite's) allows
        # one ping per 5 minutes, answers more with GOAWAY "too many pings", and the reconnect then failed (seen in CI
        # while a slow build embedded). Per-call timeouts, not pings, are what catch a dead server here.
        options = {"grpc.keepalive_time_ms": KEEPALIVE_MS, "grpc.keepalive_permit_without_calls": 0}
        return cls(_guarded(uri, lambda: MilvusClient(uri=uri, token=token, timeout=_timeout(), grpc_options=options)), uri)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``MilvusClient.<method>(*args, **kwargs)`` with the timeout: it bounds pymilvus's retries and reconnects too."""
        operation = getattr(self._client, method)
        timeout = _timeout() * (BUILD_PATIENCE if method in BUILD_METHODS else 1)
        return _guarded(self.uri, lambda: operation(*args, timeout=timeout, **kwargs))

    def drop_quietly(self, name: str) -> None:
        try:
            self._client.drop_collection(name)
        except Exception as exc:  # noqa: BLE001 - cleaning up after another failure, which is the one raised
            logger.warning("could not drop Milvus collection %s at %s: %s", name, self.uri, exc)


def _guarded(uri: str, operation: Callable[[], T]) -> T:
    import grpc
    from pymilvus import Status
    from pymilvus.exceptions import MilvusException, MilvusUnavailableException

    try:
        return operation()
    except (MilvusException, grpc.RpcError) as exc:
        detail = exc.message if isinstance(exc, MilvusException) else exc.details() or str(exc.code())
        unreachable = isinstance(exc, MilvusUnavailableException) or (
            exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            if isinstance(exc, grpc.RpcError)
            else exc.code == Status.CONNECT_FAILED
        )
        if unreachable:
            raise StoreUnavailableError(
                f"the Milvus server at {uri} is not answering ({detail}; a call waits at most {_timeout():g} s); "
                "start it, check the address, or raise SPASMQA_MILVUS_TIMEOUT"
            ) from exc
        raise StoreError(f"Milvus at {uri} refused the operation: {detail}") from exc


def _timeout() -> float:
    configured = os.environ.get("SPASMQA_MILVUS_TIMEOUT")
    try:
        return float(configured) if configured else TIMEOUT_SECONDS
    except ValueError:
        raise StoreError(f"SPASMQA_MILVUS_TIMEOUT={configured!r} is not a number of seconds; set it to e.g. 30") from None


def _collection_prefix(target: Path) -> str:
    """Every generation of one index directory's collections starts with this (Milvus names: letters, digits, _)."""
    return f"spasmqa_{hashlib.sha256(str(target).encode()).hexdigest()[:12]}_"


def _search_spec(count: int, exact_search_limit: int | None) -> SearchIndexSpec:
    """Exact search (FLAT) up to the limit, IVF_FLAT above it, with the FAISS store's nlist and nprobe."""
    lists = inverted_lists(count, exact_search_limit)
    return SearchIndexSpec("FLAT") if lists is None else SearchIndexSpec("IVF_FLAT", *lists)


def _chunk_fields() -> list[tuple[str, str]]:
    return [("row", "INT64"), ("vector", "FLOAT_VECTOR"), *((name, "VARCHAR") for name in TEXT_FIELDS),
            ("start", "INT64"), ("end", "INT64"), ("token_count", "INT64"), ("sentences", "JSON"),
            ("content_sha256", "VARCHAR"), ("document_sha256", "VARCHAR")]


def _sentence_fields() -> list[tuple[str, str]]:
    return [("row", "INT64"), ("chunk_row", "INT64"), ("vector", "FLOAT_VECTOR")]


def _create(client: _Client, name: str, manifest: Manifest, fields: list[tuple[str, str]], spec: SearchIndexSpec) -> None:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    for field_name, kind in fields:
        options: dict[str, Any] = {"is_primary": True} if field_name == "row" else {}
        if kind == "FLOAT_VECTOR":
            options["dim"] = manifest.dimension
        elif kind == "VARCHAR":
            options["max_length"] = VARCHAR_LIMIT
        schema.add_field(field_name, getattr(DataType, kind), **options)
    index_params = MilvusClient.prepare_index_params()
    params = {"nlist": spec.nlist} if spec.nlist else {}
    index_params.add_index(field_name="vector", index_type=spec.kind, metric_type="IP", params=params)
    if "chunk_row" in dict(fields):
        index_params.add_index(field_name="chunk_row", index_type="INVERTED")
    client.call("create_collection", name, schema=schema, properties={DESCRIPTION: _description(manifest)})
    # sync=False: waiting for the index asks the server for a timestamp, which Milvus Lite does not implement;
    # load_collection below waits for the index anyway
    client.call("create_index", name, index_params, sync=False)
    client.call("load_collection", name)


def _insert(client: _Client, name: str, records: Iterator[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) == INSERT_BATCH:
            client.call("insert", name, batch)
            batch = []
    if batch:
        client.call("insert", name, batch)
    client.call("flush", name)


def _description(manifest: Manifest) -> str:
    """What a collection says it is; a collection recreated by anyone else under the name says otherwise."""
    return f"spasmqa index: model {manifest.model_id}, {manifest.chunk_count} chunks, built {manifest.built_at}"


def _chunk_record(chunk: Chunk, document_sha256: str) -> dict[str, Any]:
    record = chunk.to_dict()
    record["sentences"] = [list(span) for span in chunk.sentences]
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


def _check_collection(client: _Client, path: Path, manifest: Manifest, name: str, count: int) -> None:
    hint = rebuild_hint(path, manifest.store)
    if not client.call("has_collection", name):
        raise CollectionMismatchError(
            f"the Milvus collection {name} at {client.uri}, which holds the index at {path}, is gone; {hint}"
        )
    client.call("load_collection", name)  # a restarted Milvus (Lite, or a cluster that released it) has it on disk only
    described = client.call("describe_collection", name)
    dimension = next((f["params"].get("dim") for f in described["fields"] if f["name"] == "vector"), None)
    rows = client.call("query", name, filter="", output_fields=["count(*)"])[0]["count(*)"]
    description = described.get("properties", {}).get(DESCRIPTION)
    if description != _description(manifest) or int(dimension or 0) != manifest.dimension or rows != count:
        raise CollectionMismatchError(
            f"the Milvus collection {name} at {client.uri} does not match the index at {path}: it holds {rows} rows "
            f"of dimension {dimension} described as {description!r}, the manifest says {count} "
            f"rows of dimension {manifest.dimension} ({_description(manifest)!r}); {hint}"
        )


def _read_chunks(client: _Client, path: Path, manifest: Manifest) -> tuple[Chunk, ...]:
    store = manifest.store
    fields = ["row", *TEXT_FIELDS, "start", "end", "token_count", "sentences", "content_sha256", "document_sha256"]
    records: list[dict[str, Any]] = []
    for first in range(0, manifest.chunk_count, READ_BATCH):
        records += client.call(
            "query", store.chunk_collection, filter=f"row >= {first} and row < {first + READ_BATCH}", output_fields=fields,
        )
    records.sort(key=lambda record: record["row"])
    texts = {info.doc_id: info.text_sha256 for info in manifest.documents}
    chunks = tuple(Chunk.from_dict({name: record[name] for name in fields[1:-2]}) for record in records)
    damaged = [
        record["row"] for record, chunk in zip(records, chunks)
        if record["content_sha256"] != sha256_text(chunk.embedding_input) or record["document_sha256"] != texts.get(chunk.doc_id)
    ]
    if [record["row"] for record in records] != list(range(manifest.chunk_count)) or damaged or records_sha256(chunks) != store.records_sha256:
        raise CollectionMismatchError(
            f"the chunk records in Milvus collection {store.chunk_collection} at {client.uri} differ from those the "
            f"index at {path} was built with (altered rows: {damaged[:5] or 'row numbers or order'}); "
            f"{rebuild_hint(path, store)}"
        )
    return chunks


def _drop_replaced(client: _Client, target: Path, store: StoreInfo, replaced: Manifest | None) -> None:
    """Drop the generation the swap replaced, and any a crashed build of this directory left, keeping ``store``'s."""
    keep = {store.chunk_collection, store.sentence_collection}
    prefix = _collection_prefix(target)
    names = client.call("list_collections")
    for name in names:
        if name.startswith(prefix) and name not in keep:
            client.drop_quietly(name)
    if replaced is not None and replaced.store.kind == "milvus" and replaced.store.uri != store.uri:
        logger.warning(
            "the index at %s was in Milvus at %s before this build; its collections there were left as they are",
            target, replaced.store.uri,
        )
