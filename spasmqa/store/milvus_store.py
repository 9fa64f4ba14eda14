"""The Milvus store, reading side: chunk records and vectors in two Milvus collections, the manifest in the index directory.

A Milvus Lite file (``….db``), a ``milvus-lite server`` or a Milvus cluster, all through pymilvus
(``milvus_client``). Rows are keyed by a number that never changes while the row lives, and carry the
generation of the build that wrote them; a reader sees only rows of its manifest's generation or older,
so a build updating the collections in place (``milvus_write``) is invisible until its manifest is
swapped in. Loading checks the collections against the manifest (present, row counts, dimension, every
record's hashes) and reads the chunk records into the process for BM25 (``store.protocol``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spasmqa.chunking import Chunk
from spasmqa.errors import CollectionMismatchError, IndexFormatError
from spasmqa.store.manifest import Manifest, records_sha256, sha256_text
from spasmqa.store.milvus_client import Client, rebuild_hint

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

READ_BATCH = 5_000  # keys per page when reading the chunk records back
SENTENCES_REMEMBERED = 10_000  # chunks whose sentence vectors are kept between questions (~75 MB at 384 d)
SENTENCE_QUERY_CHUNKS = 1_000  # chunks per sentence query: ~5,000 rows, under Milvus's 16,384-row result window
DESCRIPTION = "spasmqa_index"  # the collection property that says which build made it
TEXT_FIELDS = ("chunk_id", "doc_id", "section", "text", "context")
RECORD_FIELDS = ["key", *TEXT_FIELDS, "start", "end", "token_count", "sentences", "ordinal", "content_sha256", "document_sha256"]


@dataclass
class MilvusStore:
    """An index whose vectors are in Milvus; the chunk records were read from its collection at load.

    ``keys[i]`` is the Milvus key of ``chunks[i]``.
    """

    path: Path
    manifest: Manifest
    chunks: tuple[Chunk, ...]
    keys: tuple[int, ...]
    client: Client = field(repr=False)
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
            search_params=params, output_fields=[], filter=self.visible,
        )
        scores = np.full((len(query_vectors), k), -np.inf, np.float32)
        rows = np.full((len(query_vectors), k), -1, np.int64)
        for i, found in enumerate(hits):
            for j, hit in enumerate(found[:k]):
                scores[i, j], rows[i, j] = hit["distance"], self._row_of(hit["key"])
        return scores, rows

    def chunk_vectors(self, rows: Sequence[int]) -> NDArray[np.float32]:
        import numpy as np

        keys = [self.keys[row] for row in rows]
        if not keys:
            return np.zeros((0, self.manifest.dimension), np.float32)
        found: dict[int, Any] = {}
        for first in range(0, len(keys), READ_BATCH):
            records = self.client.call("get", self._collection, ids=keys[first : first + READ_BATCH], output_fields=["vector"])
            found.update((record["key"], record["vector"]) for record in records)
        lost = [key for key in keys if key not in found]
        if lost:
            raise self._altered(f"keys {lost[:5]} are missing from collection {self._collection}")
        return np.asarray([found[key] for key in keys], dtype=np.float32)

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

    def best_sentence_score(self, query_vector: NDArray[np.float32], rows: Sequence[int]) -> float | None:
        import numpy as np

        vectors = [matrix for matrix in self.sentence_vectors(rows) if len(matrix)]
        return float((np.vstack(vectors) @ query_vector).max()) if vectors else None

    @property
    def visible(self) -> str:
        """The filter of the rows this manifest's reader sees: its generation and older."""
        return f"generation <= {self.manifest.store.generation}"

    def _fetch_sentences(self, rows: list[int]) -> dict[int, NDArray[np.float32]]:
        import numpy as np

        by_key = {self.keys[row]: row for row in rows}
        records = self.client.call(
            "query", self.manifest.store.sentence_collection, filter=f"chunk_key in {list(by_key)}",
            output_fields=["chunk_key", "ordinal", "vector"],
        )
        by_chunk: dict[int, list[tuple[int, Any]]] = {row: [] for row in rows}
        for record in records:
            by_chunk[by_key[record["chunk_key"]]].append((record["ordinal"], record["vector"]))
        for row, vectors in by_chunk.items():
            if sorted(ordinal for ordinal, _ in vectors) != list(range(len(self.chunks[row].sentences))):
                raise self._altered(
                    f"chunk {self.chunks[row].chunk_id} has {len(vectors)} sentence vectors, its record lists "
                    f"{len(self.chunks[row].sentences)}"
                )
        return {row: np.asarray([v for _, v in sorted(vectors)], dtype=np.float32) for row, vectors in by_chunk.items()}

    @cached_property
    def _collection(self) -> str:
        return str(self.manifest.store.chunk_collection)

    @cached_property
    def _rows_by_key(self) -> dict[int, int]:
        return {key: row for row, key in enumerate(self.keys)}

    def _row_of(self, key: int) -> int:
        row = self._rows_by_key.get(key)
        if row is None:
            raise self._altered(f"search returned key {key}, which no chunk record of this index has")
        return row

    def _altered(self, what: str) -> CollectionMismatchError:
        return CollectionMismatchError(
            f"the Milvus collections of the index at {self.path} were altered since it was loaded ({what}); reopen "
            f"it with spasmqa.load() if it was rebuilt, else {rebuild_hint(self.path, self.manifest.store)}"
        )


def read_milvus_store(path: Path, manifest: Manifest) -> MilvusStore:
    """The store of a checked manifest, refusing collections that are gone or disagree with it."""
    store = manifest.store
    if store.generation is None or store.next_key is None:
        raise IndexFormatError(
            f"the index at {path} was written in an earlier Milvus layout (rows numbered, not keyed); "
            f"{rebuild_hint(path, store)}"
        )
    client = Client.connect(store)
    # The chunk rows are counted as their records are read back. Counting them first was a scan of every row's
    # text: at 10^6 chunks Milvus Lite grew past 20 GB doing it and was killed (scripts/bench_stores.py).
    _check_collection(client, path, manifest, str(store.chunk_collection), None)
    _check_collection(client, path, manifest, str(store.sentence_collection), manifest.sentence_count)
    chunks, keys = _read_chunks(client, path, manifest)
    return MilvusStore(path, manifest, chunks, keys, client)


def description(manifest: Manifest) -> str:
    """What a collection says it is; a collection recreated by anyone else under the name says otherwise."""
    return f"spasmqa index: model {manifest.model_id}, dimension {manifest.dimension}, made {manifest.store.created}"


def _check_collection(client: Client, path: Path, manifest: Manifest, name: str, count: int | None) -> None:
    """Refuse a collection that is gone, of another dimension or description, or (``count`` given) of other size."""
    hint = rebuild_hint(path, manifest.store)
    if not client.call("has_collection", name):
        raise CollectionMismatchError(
            f"the Milvus collection {name} at {client.uri}, which holds the index at {path}, is gone; {hint}"
        )
    client.call("load_collection", name)  # a restarted Milvus (Lite, or a cluster that released it) has it on disk only
    described = client.call("describe_collection", name)
    dimension = next((f["params"].get("dim") for f in described["fields"] if f["name"] == "vector"), None)
    visible = f"generation <= {manifest.store.generation}"
    rows = None if count is None else client.call("query", name, filter=visible, output_fields=["count(*)"], bulk=True)[0]["count(*)"]
    said = described.get("properties", {}).get(DESCRIPTION)
    if said != description(manifest) or int(dimension or 0) != manifest.dimension or rows != count:
        held, expected = ("", "") if count is None else (f"{rows} rows ", f"{count} rows ")
        raise CollectionMismatchError(
            f"the Milvus collection {name} at {client.uri} does not match the index at {path}: it holds {held}"
            f"of dimension {dimension} described as {said!r}, the manifest says {expected}"
            f"of dimension {manifest.dimension} ({description(manifest)!r}); {hint}"
        )


def _read_chunks(client: Client, path: Path, manifest: Manifest) -> tuple[tuple[Chunk, ...], tuple[int, ...]]:
    """The chunk records in build order (documents in manifest order, each one's chunks by ordinal), and their keys."""
    store = manifest.store
    records: list[dict[str, Any]] = []
    for first in range(0, int(store.next_key or 0), READ_BATCH):
        page = f"key >= {first} and key < {first + READ_BATCH} and generation <= {store.generation}"
        records += client.call("query", store.chunk_collection, filter=page, output_fields=RECORD_FIELDS, bulk=True)
    order = {info.doc_id: position for position, info in enumerate(manifest.documents)}
    records.sort(key=lambda record: (order.get(record["doc_id"], len(order)), record["ordinal"]))
    texts = {info.doc_id: info.text_sha256 for info in manifest.documents}
    chunks = tuple(Chunk.from_dict({name: record[name] for name in RECORD_FIELDS[1:-3]}) for record in records)
    damaged = [
        record["key"] for record, chunk in zip(records, chunks)
        if record["content_sha256"] != sha256_text(chunk.embedding_input) or record["document_sha256"] != texts.get(chunk.doc_id)
    ]
    if len(records) != manifest.chunk_count:
        raise CollectionMismatchError(
            f"the Milvus collection {store.chunk_collection} at {client.uri} does not match the index at {path}: it "
            f"holds {len(records)} chunk records of this build, the manifest says {manifest.chunk_count}; "
            f"{rebuild_hint(path, store)}"
        )
    if damaged or records_sha256(chunks) != store.records_sha256:
        raise CollectionMismatchError(
            f"the chunk records in Milvus collection {store.chunk_collection} at {client.uri} differ from those the "
            f"index at {path} was built with (altered keys: {damaged[:5] or 'which rows or their order'}); "
            f"{rebuild_hint(path, store)}"
        )
    return chunks, tuple(int(record["key"]) for record in records)
