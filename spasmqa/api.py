"""The entry functions: ``build`` and ``load`` an index, and ``ask`` the default one over the bundled corpus."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

from spasmqa.abstention import calibrated_models
from spasmqa.answers import Index
from spasmqa.results import Answer
from spasmqa.retrieval import DEFAULT_MODE, RetrievalSettings
from spasmqa.chunking import ChunkSettings
from spasmqa.corpus import Document, bundled_corpus_dir, find_document, load_corpus, read_corpus, warn_skipped
from spasmqa.embedding import DEFAULT_MODEL, Embedder, resolve_model
from spasmqa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, ModelMismatchError, StaleIndexError
from spasmqa.build import BuildSummary, build_index
from spasmqa.store.manifest import check_corpus
from spasmqa.store.protocol import ChunkStore
from spasmqa.store.stores import check_reachable, open_store, parse_store
from spasmqa.store.vectors import EXACT_SEARCH_LIMIT
from spasmqa.reranking import Reranker

logger = logging.getLogger("spasmqa")

_default_lock = threading.Lock()
_default_index: Index | None = None


def home() -> Path:
    """Where spasmqa keeps the indexes it builds by itself: ``$SPASMQA_HOME``, else the user's cache folder."""
    configured = os.environ.get("SPASMQA_HOME")
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "spasmqa"


def query_cache_dir(model_id: str) -> Path:
    """Where the ONNX query encoder of a model is kept (made when an index is built with it)."""
    return home() / "query-encoders" / hashlib.sha256(model_id.encode()).hexdigest()[:16]


def default_index_dir(corpus_dir: str | Path | None = None, store: str | None = None) -> Path:
    """The index directory ``build()`` uses when given none: one per corpus folder and store under ``home()``."""
    location = parse_store(store)
    suffix = "" if location.kind == "faiss" else f"-{location.kind}-{_short_hash(str(location.uri))}"
    if corpus_dir is None:
        return home() / "indexes" / f"default{suffix}"
    folder = Path(corpus_dir).expanduser().resolve()
    return home() / "indexes" / f"{folder.name}-{_short_hash(str(folder))}{suffix}"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def build(
    corpus_dir: str | Path | None = None,
    index_dir: str | Path | None = None,
    *,
    model: str | None = None,
    settings: ChunkSettings | None = None,
    progress: bool = False,
    exact_search_limit: int = EXACT_SEARCH_LIMIT,
    reranker: str | Reranker | None = None,
    strict: bool = False,
    store: str | None = None,
) -> Index:
    """Build an index of a folder of documents (default: the bundled corpus) and return it.

    Documents are the folder's ``.txt``, ``.md``, ``.html``/``.htm``, ``.pdf`` and ``.docx`` files, in
    sub-folders too; a file that cannot be one is skipped with a warning naming it and why, or with
    ``strict`` refused (see ``read_corpus``).

    ``model`` is any sentence-transformers model name or folder on this machine (default: the bundled
    all-MiniLM-L6-v2); ``settings`` controls chunking. Without ``index_dir`` the index goes under
    ``home()``. Above ``exact_search_limit`` chunks search is approximate (an IVF index, recall@10
    about 0.99); ``progress`` shows the embedding progress bar. Records of a BEIR ``corpus.jsonl`` that
    cannot be documents are left out with a warning, or with ``strict`` refused.
    ``reranker`` is the cross-encoder of reranked answers: a ``Reranker``, a ``CrossEncoder`` name or
    folder, a folder with ``model.onnx`` + ``tokenizer.json``, or None for the bundled default.
    ``store`` is where the vectors and chunk records go: ``"faiss"`` (default; files in ``index_dir``) or
    ``"milvus:URI"``, a Milvus Lite file (``milvus:./spasmqa.db``) or a Milvus server
    (``milvus:http://host:19530``; a token from ``$SPASMQA_MILVUS_TOKEN``). ``index_dir`` always holds the
    manifest, so ``load(index_dir)`` opens either. Rebuilding reuses the vectors of unchanged chunks.

    Example:
        >>> index = spasmqa.build("my-notes/", "my-notes-index")
        >>> index.ask("how do I stop a cramp?")[0].text
    """
    index, _ = build_with_summary(
        corpus_dir, index_dir, model=model, settings=settings, progress=progress, exact_search_limit=exact_search_limit,
        reranker=reranker, strict=strict, store=store,
    )
    return index


def build_with_summary(
    corpus_dir: str | Path | None = None,
    index_dir: str | Path | None = None,
    *,
    model: str | None = None,
    settings: ChunkSettings | None = None,
    progress: bool = False,
    exact_search_limit: int = EXACT_SEARCH_LIMIT,
    reranker: str | Reranker | None = None,
    strict: bool = False,
    store: str | None = None,
) -> tuple[Index, BuildSummary]:
    """``build()``, also returning the figures of the build (what the build command prints)."""
    location = parse_store(store)
    check_reachable(location)  # a misspelt store, or a server that is down, is refused before anything loads
    corpus = read_corpus(corpus_dir, strict=strict)  # an unusable folder is refused before the model loads
    embedder = Embedder(model, query_cache=query_cache_dir(resolve_model(model)[0]))
    target = Path(index_dir) if index_dir is not None else default_index_dir(corpus_dir, store)
    stored, summary, documents = build_index(
        corpus_dir, corpus, target, embedder=embedder, settings=settings or ChunkSettings(), store=location,
        progress=progress, exact_search_limit=exact_search_limit,
    )
    embedder.export_query_encoder([chunk.embedding_input for chunk in stored.chunks[:64]])
    ranker = _reranker(reranker)
    ranker.load()  # an INT8 model's exact-arithmetic rewrite is made now and kept (``integer_onnx``)
    return Index(stored, embedder, documents, ranker), summary


def load(
    index_dir: str | Path,
    *,
    model: str | None = None,
    rebuild_if_stale: bool = False,
    reranker: str | Reranker | None = None,
) -> Index:
    """Open an index directory built by ``build()``, checking its files, format, model and corpus.

    Without ``model`` the index's own model is used; with it, it must be the model the index was built
    with. When documents of the index's corpus folder changed, appeared or disappeared since the build,
    ``StaleIndexError`` names them, or with ``rebuild_if_stale=True`` the index is rebuilt in place
    with its own settings. A corpus folder that is gone is logged and skipped: the index still answers.
    ``reranker`` as for ``build()``; it is loaded on the first reranked question.

    Example:
        >>> index = spasmqa.load("my-notes-index")
        >>> len(index.ask("night cramps"))
    """
    stored = open_store(index_dir)
    manifest = stored.manifest
    if model is not None and resolve_model(model)[0] != manifest.model_id:
        raise ModelMismatchError(
            f"index at {stored.path} was built with model {manifest.model_id!r}, not {resolve_model(model)[0]!r}; "
            f"load it without model= or rebuild with `spasmqa build --out {stored.path} --model {model}`"
        )
    documents = _corpus_of(stored)
    if documents is not None:
        try:
            check_corpus(manifest, documents, stored.path)
        except StaleIndexError as exc:
            if not rebuild_if_stale:
                raise
            logger.warning("rebuilding the index at %s: %s", stored.path, exc)
            return build(
                manifest.corpus_dir, stored.path, model=manifest.model_id, settings=manifest.chunking,
                reranker=reranker, store=manifest.store.spec,
            )
    embedder = Embedder(manifest.model_id, query_cache=query_cache_dir(manifest.model_id))
    return Index(stored, embedder, documents, _reranker(reranker))


def _reranker(reranker: str | Reranker | None) -> Reranker:
    return reranker if isinstance(reranker, Reranker) else Reranker(reranker, cache_dir=home() / "rerankers")


def _corpus_of(stored: ChunkStore) -> tuple[Document, ...] | None:
    if not Path(stored.manifest.corpus_dir).is_dir():
        logger.warning(
            "the corpus folder %s of the index at %s is gone; answering from the index without checking it",
            stored.manifest.corpus_dir,
            stored.path,
        )
        return None
    corpus = read_corpus(stored.manifest.corpus_dir)
    # a file the build skipped was warned about then; one skipped since (new, or changed and still unreadable) now
    warn_skipped(tuple(file for file in corpus.skipped if file not in stored.manifest.skipped))
    return corpus.documents


def default_index() -> Index:
    """The index of the bundled corpus, built under ``home()`` on first use and rebuilt when out of date."""
    global _default_index
    with _default_lock:
        if _default_index is None:
            _default_index = _load_or_build_default()
        return _default_index


def _load_or_build_default() -> Index:
    path = default_index_dir()
    try:
        index = load(path)
        reason = _out_of_date(index)
    except IndexNotFoundError:
        reason = "it does not exist yet"
    except (IndexCorruptError, IndexMismatchError) as exc:
        reason = str(exc)
    if reason is None:
        return index
    logger.info("building the default index at %s (%s)", path, reason)
    return build(index_dir=path)


def _out_of_date(index: Index) -> str | None:
    manifest = index.manifest
    if manifest.model_id != DEFAULT_MODEL or manifest.chunking != ChunkSettings():
        return "it was built with other settings"
    if Path(manifest.corpus_dir) != bundled_corpus_dir().resolve():
        return "it was built from another copy of the corpus"
    if manifest.answerability != calibrated_models(manifest.model_id):
        return "abstention was recalibrated"
    return None


def ask(
    question: str,
    *,
    k: int = 5,
    mode: str = DEFAULT_MODE,
    rerank: bool = True,
    settings: RetrievalSettings | None = None,
) -> Answer:
    """The ``k`` passages of the bundled corpus that best answer ``question``, best first, with provenance.

    ``mode``, ``rerank`` and ``settings`` choose the retriever; see ``Index.ask``.

    Example:
        >>> answer = spasmqa.ask("why do my legs cramp at night?")
        >>> top = answer[0]
        >>> top.title, top.section, top.start, top.end, top.score
    """
    return default_index().ask(question, k=k, mode=mode, rerank=rerank, settings=settings)


def documents() -> tuple[Document, ...]:
    """The documents of the bundled corpus, cleaned, in file-name order."""
    return load_corpus(bundled_corpus_dir())


def get_document(doc_id: str) -> Document:
    """One bundled document by id; ``DocumentNotFoundError`` (a ``KeyError``) lists the ids there are."""
    return find_document(documents(), doc_id)
