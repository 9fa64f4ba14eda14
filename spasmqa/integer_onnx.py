"""The same integer arithmetic on every x86 CPU for a dynamically quantised (INT8) ONNX model.

ONNX Runtime's ``MatMulInteger`` with uint8 activations and int8 weights (what ``quantize_dynamic``
writes, and what the bundled cross-encoder is) runs on CPUs without AVX-512 VNNI through AVX2's
``vpmaddubsw``, whose int16 pair sums saturate: the logits then differ from a VNNI CPU's by tenths
of a logit and rankings move (measured: the default's passage Hit@3 on the test set, 0.800 on a VNNI machine,
was 0.764 on an AVX2 one). With uint8 weights (int8 + 128, zero points likewise, the same numbers)
every CPU takes an exact widening kernel, and the scores are those of exact integer arithmetic.

The rewritten model is kept beside spasmqa's other caches (keyed by the source file's path, size and
modification time), so only the first load pays for reading it with ``onnx`` (~2 s).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

REWRITTEN_FILE = "model.onnx"
META_FILE = "meta.json"


def exact_integer_model(source: Path, cache_dir: Path | None) -> str | bytes:
    """What to give ``onnxruntime.InferenceSession`` for ``source``: a path, or the rewritten model's bytes."""
    if cache_dir is None:
        rewritten = _rewritten(source)
        return str(source) if rewritten is None else rewritten
    stat = source.stat()
    key = hashlib.sha256(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    folder = cache_dir / key
    meta_path = folder / META_FILE
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        return str(folder / REWRITTEN_FILE) if meta["rewritten"] else str(source)
    rewritten = _rewritten(source)
    stored = _store(folder, rewritten, source)
    if rewritten is None:
        return str(source)
    return str(folder / REWRITTEN_FILE) if stored else rewritten


def _rewritten(source: Path) -> bytes | None:
    """The model with every int8 ``MatMulInteger`` input initializer as uint8 (None: it has none)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    changed = 0
    for node in model.graph.node:
        if node.op_type != "MatMulInteger":
            continue
        for name in node.input[1::2]:  # B and its zero point (A and its zero point come from the activations)
            tensor = initializers.get(name)
            if tensor is not None and tensor.data_type == onnx.TensorProto.INT8:
                shifted = (numpy_helper.to_array(tensor).astype(np.int16) + 128).astype(np.uint8)
                tensor.CopyFrom(numpy_helper.from_array(shifted, name))
                changed += 1
    return model.SerializeToString() if changed else None


def _store(folder: Path, rewritten: bytes | None, source: Path) -> bool:
    """Write the cache entry whole or not at all (it appears by one rename); False if it cannot be kept."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.staging-", dir=folder.parent))
        if rewritten is not None:
            (staging / REWRITTEN_FILE).write_bytes(rewritten)
        (staging / META_FILE).write_text(json.dumps({"source": str(source), "rewritten": rewritten is not None}), encoding="utf-8")
        try:
            os.rename(staging, folder)
        except OSError:  # another process stored it first: theirs is the same
            shutil.rmtree(staging, ignore_errors=True)
        return (folder / META_FILE).is_file()
    except OSError as exc:
        logger.warning("could not keep the rewritten %s in %s (%s); it is rewritten again next time", source, folder, exc)
        return False
