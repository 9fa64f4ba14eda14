"""The exceptions spasmqa raises; every message says what happened and how to fix it.

    SpasmqaError
    ├── CorpusError               a corpus folder or its metadata cannot be read as documents
    ├── ChunkingError             chunk settings or a chunk break the model's limits
    ├── ModelError                the embedding model cannot be loaded offline
    ├── IndexDirectoryError       anything wrong with an index directory
    │   ├── IndexNotFoundError        there is no index at that directory
    │   ├── IndexWriteError           the index cannot be written there
    │   ├── IndexCorruptError         the index is damaged:
    │   │   ├── ManifestError             manifest.json missing beside index files, unreadable or invalid
    │   │   ├── MissingIndexFileError     a file the manifest lists is gone
    │   │   ├── ChecksumError             a file's bytes differ from the manifest (truncated, bit-flipped)
    │   │   ├── MisalignedIndexError      FAISS rows and chunk records disagree in count or dimension
    │   │   └── CollectionMismatchError   a Milvus collection the manifest names is gone or was altered
    │   └── IndexMismatchError        the index is sound but does not fit what is in use:
    │       ├── IndexFormatError          written in another index format version
    │       ├── ModelMismatchError        built with another model (name, dimension or vectors)
    │       └── StaleIndexError           the corpus changed since the build
    ├── StoreError                a store cannot be named, reached or used:
    │   └── StoreUnavailableError     the Milvus server does not answer (down, unreachable, timed out)
    ├── QueryError                a question or an argument of ask() is not usable
    ├── DocumentNotFoundError     no document has that id (also a KeyError)
    ├── EvaluationError           a question set or BEIR folder cannot be used
    └── ServeError                `spasmqa serve` cannot start (a setting out of range, the port taken) or serve a request:
        ├── RequestTooLargeError      a request body over the server's limit
        └── AnswerTimeoutError        no answer within the server's per-request timeout

    SpasmqaWarning
    └── SkippedDocumentsWarning   records of a BEIR corpus were left out (empty or unreadable)
"""

from __future__ import annotations


class SpasmqaError(Exception):
    """Base class of every error spasmqa raises on purpose."""


class SpasmqaWarning(UserWarning):
    """Base class of spasmqa's warnings."""


class SkippedDocumentsWarning(SpasmqaWarning):
    """A BEIR corpus was read without some of its records (empty or unreadable), each named in the message."""


class CorpusError(SpasmqaError):
    """A corpus folder, one of its files or its metadata cannot be turned into documents."""


class ChunkingError(SpasmqaError):
    """Chunk settings are invalid, or a chunk would not fit the embedding model's window."""


class ModelError(SpasmqaError):
    """The embedding model cannot be loaded offline."""


class IndexDirectoryError(SpasmqaError):
    """Something is wrong with an index directory (named with a trailing underscore to leave the builtin alone)."""


class IndexNotFoundError(IndexDirectoryError):
    """No index exists at the given directory."""


class IndexWriteError(IndexDirectoryError):
    """An index cannot be written where it was asked to be (not writable, or not an index directory)."""


class IndexCorruptError(IndexDirectoryError):
    """An index is damaged: rebuilding it is the fix."""


class ManifestError(IndexCorruptError):
    """``manifest.json`` is missing beside other index files, unreadable, or not a valid manifest."""


class MissingIndexFileError(IndexCorruptError):
    """A file listed in the manifest is missing."""


class ChecksumError(IndexCorruptError):
    """A file's sha256 differs from the one in the manifest: it was truncated, altered or swapped."""


class MisalignedIndexError(IndexCorruptError):
    """The FAISS index and the chunk records disagree (row count or vector dimension)."""


class CollectionMismatchError(IndexCorruptError):
    """A Milvus collection named by the manifest is missing, or its rows disagree with the manifest."""


class IndexMismatchError(IndexDirectoryError):
    """The index is intact but does not fit this spasmqa, model or corpus."""


class IndexFormatError(IndexMismatchError):
    """The index was written in an index format version this spasmqa does not read."""


class ModelMismatchError(IndexMismatchError):
    """The index was built with another embedding model than the one in use."""


class StaleIndexError(IndexMismatchError):
    """Documents of the corpus changed, appeared or disappeared since the index was built."""

    def __init__(self, message: str, *, changed: tuple[str, ...], added: tuple[str, ...], removed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.changed = changed
        self.added = added
        self.removed = removed


class StoreError(SpasmqaError):
    """A store is named wrongly, its client library is not installed, or it refused an operation."""


class StoreUnavailableError(StoreError):
    """The Milvus server an index lives in does not answer within the timeout."""


class QueryError(SpasmqaError, ValueError):
    """A question or an argument to ``ask()`` cannot be used."""


class DocumentNotFoundError(SpasmqaError, KeyError):
    """No document of the index has the id asked for; the message lists the ids there are."""

    def __str__(self) -> str:  # KeyError's own str() would quote the message
        return str(self.args[0])


class EvaluationError(SpasmqaError):
    """A question set or a BEIR folder cannot be used for evaluation."""


class ServeError(SpasmqaError):
    """``spasmqa serve`` cannot start (a limit out of range, the port taken, the serve extra missing) or serve a request."""


class RequestTooLargeError(ServeError):
    """A request's body is larger than the server accepts (``--max-body-bytes``)."""


class AnswerTimeoutError(ServeError):
    """A question was not answered within the server's per-request timeout (``--timeout``)."""
