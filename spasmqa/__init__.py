"""spasmqa: ask questions of a small document collection and get the passages that answer them, with exact provenance."""

from spasmqa._version import __version__
from spasmqa.answers import Index
from spasmqa.results import Answer, Passage
from spasmqa import abstention, evaluation, retrieval  # public modules: the refusal model, evaluation, ranking functions
from spasmqa.api import ask, build, build_with_summary, default_index, documents, get_document, load
from spasmqa.build import BuildSummary
from spasmqa.chunking import ChunkSettings
from spasmqa.corpus import Document
from spasmqa.display import in_document
from spasmqa.errors import SkippedDocumentsWarning, SpasmqaError
from spasmqa.evaluation import evaluate
from spasmqa.retrieval import RetrievalSettings

__all__ = [
    "Answer",
    "BuildSummary",
    "ChunkSettings",
    "Document",
    "Index",
    "Passage",
    "RetrievalSettings",
    "SkippedDocumentsWarning",
    "SpasmqaError",
    "__version__",
    "abstention",
    "ask",
    "build",
    "build_with_summary",
    "default_index",
    "documents",
    "evaluate",
    "evaluation",
    "get_document",
    "in_document",
    "load",
    "retrieval",
]
