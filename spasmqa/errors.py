"""The exceptions spasmqa raises; every message says what happened and how to fix it.

    SpasmqaError
    ├── CorpusError          a corpus folder or its metadata cannot be read as documents
    ├── ChunkingError        chunk settings or a chunk break the model's limits
    ├── ModelError           the embedding model cannot be loaded or does not match
    ├── IndexError_          base of everything wrong with an index directory
    │   ├── IndexNotFoundError
    │   ├── IndexCorruptError     a file is missing, damaged or inconsistent
    │   └── IndexMismatchError    built with another model, format or settings
    ├── QueryError           a question or an argument of ask() is not usable
    └── EvaluationError      a question set or BEIR folder cannot be used
"""

from __future__ import annotations


class SpasmqaError(Exception):
    """Base class of every error spasmqa raises on purpose."""


class SpasmqaWarning(UserWarning):
    """Base class of spasmqa's warnings."""


class CorpusError(SpasmqaError):
    """A corpus folder, one of its files or its metadata cannot be turned into documents."""


class ChunkingError(SpasmqaError):
    """Chunk settings are invalid, or a chunk would not fit the embedding model's window."""


class ModelError(SpasmqaError):
    """The embedding model cannot be loaded offline, or is not the one an index was built with."""


class IndexError_(SpasmqaError):
    """Something is wrong with an index directory (named with a trailing underscore to leave the builtin alone)."""


class IndexNotFoundError(IndexError_):
    """No index exists at the given directory."""


class IndexCorruptError(IndexError_):
    """An index file is missing, damaged, or disagrees with the manifest."""


class IndexMismatchError(IndexError_):
    """The index was built with another model, format version or corpus than the one in use."""


class QueryError(SpasmqaError, ValueError):
    """A question or an argument to ``ask()`` cannot be used."""


class EvaluationError(SpasmqaError):
    """A question set or a BEIR folder cannot be used for evaluation."""
