"""spasmqa: ask questions of a small document collection and get the passages that answer them, with exact provenance."""

from spasmqa._version import __version__
from spasmqa.answers import Answer, Index, Passage
from spasmqa.api import ask, build, documents, get_document, load
from spasmqa.chunking import ChunkSettings
from spasmqa.corpus import Document
from spasmqa.errors import SpasmqaError
from spasmqa.evaluation import evaluate
from spasmqa.retrieval import RetrievalSettings

__all__ = [
    "Answer",
    "ChunkSettings",
    "Document",
    "Index",
    "Passage",
    "RetrievalSettings",
    "SpasmqaError",
    "__version__",
    "ask",
    "build",
    "documents",
    "evaluate",
    "get_document",
    "load",
]
