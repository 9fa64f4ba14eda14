"""The Milvus store against a real ``milvus-lite server`` process (and the embedded file mode): the same
answers as FAISS, exact provenance, incremental rebuilds, and a clear error for every fault."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from pathlib import Path

import numpy as np
import pytest

import spasmqa
from spasmqa.errors import CollectionMismatchError, StoreError, StoreUnavailableError
from spasmqa.evaluation import load_questions
from tests.conftest import free_port, run_command as run

pymilvus = pytest.importorskip("pymilvus", reason="the Milvus store's tests need `pip install 'spasmqa[milvus]'`")
MILVUS_LITE = Path(sys.executable).parent / "milvus-lite"


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A ``milvus-lite server`` on a free loopback port, once it answers a client."""
    port = free_port()
    process = subprocess.Popen(
        [str(MILVUS_LITE), "server", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"milvus-lite server exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            probe = pymilvus.MilvusClient(uri=uri, timeout=2, dedicated=True)  # its own connection, closed: none of its pings
            probe.list_collections()
            probe.close()
            return process, uri
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"milvus-lite server did not answer at {uri} within 120 s")


def admin_client(uri: str) -> Any:
    """A client of the test's own, to alter collections behind spasmqa's back; closed when the test ends."""
    client = pymilvus.MilvusClient(uri=uri, dedicated=True)
    OPEN_CLIENTS.append(client)
    return client


OPEN_CLIENTS: list[Any] = []


@pytest.fixture(autouse=True)
def close_admin_clients() -> Iterator[None]:
    yield
    while OPEN_CLIENTS:
        OPEN_CLIENTS.pop().close()


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, uri = start_server(tmp_path_factory.mktemp("milvus-data"))
    yield uri
    stop_server(process)


@pytest.fixture(scope="module")
def milvus_index(index: spasmqa.Index, milvus_uri: str, tmp_path_factory: pytest.TempPathFactory) -> spasmqa.Index:
    """The bundled corpus in Milvus, built over a copy of the session's FAISS index: every vector is reused."""
    target = tmp_path_factory.mktemp("milvus-index") / "index"
    shutil.copytree(index.path, target)
    built, summary = spasmqa.build_with_summary(index_dir=target, store=f"milvus:{milvus_uri}")
    assert (summary.embedded, summary.reused) == (0, len(index.chunks))
    return built


def top_spans(answer: spasmqa.Answer, k: int = 5) -> list[tuple[str, int, int]]:
    return [(p.doc_id, p.start, p.end) for p in answer.passages[:k]]


def test_milvus_gives_the_faiss_answers_with_exact_provenance(index: spasmqa.Index, milvus_index: spasmqa.Index) -> None:
    questions = [q.text for q in load_questions()]
    reloaded = spasmqa.load(milvus_index.path)  # through the manifest alone, checked against the collections
    assert reloaded.manifest.store.kind == "milvus"
    faiss_answers = index.ask_many(questions, k=5, rerank=False)
    milvus_answers = reloaded.ask_many(questions, k=5, rerank=False)
    same = sum(top_spans(a) == top_spans(b) for a, b in zip(faiss_answers, milvus_answers))
    assert same >= 0.95 * len(questions)
    docs = {doc.doc_id: doc for doc in reloaded.documents()}
    for answer in milvus_answers:
        for passage in answer:
            assert docs[passage.doc_id].text[passage.start : passage.end] == passage.text
            assert all(docs[passage.doc_id].text[h.start : h.end] == h.text for h in passage.highlights)
    for a, b in zip(faiss_answers, milvus_answers):
        assert a.answerable == b.answerable and a.confidence == pytest.approx(b.confidence, abs=1e-4)
    assert np.allclose(reloaded.chunk_vectors(), index.chunk_vectors(), atol=1e-6)


def test_a_reranked_milvus_answer_matches_faiss(index: spasmqa.Index, milvus_index: spasmqa.Index) -> None:
    question = "why do my calves cramp at night?"
    assert top_spans(milvus_index.ask(question)) == top_spans(index.ask(question))


def test_a_dropped_collection_is_refused_naming_the_rebuild(milvus_index: spasmqa.Index, milvus_uri: str, tmp_path: Path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(milvus_index.path, copy)
    built = spasmqa.build(index_dir=copy, store=f"milvus:{milvus_uri}")
    client = admin_client(milvus_uri)
    client.drop_collection(built.manifest.store.sentence_collection)
    with pytest.raises(CollectionMismatchError, match=r"is gone; rebuild it with `spasmqa build --out .* --store milvus:"):
        spasmqa.load(copy)


def test_an_altered_collection_is_refused(milvus_index: spasmqa.Index, milvus_uri: str, tmp_path: Path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(milvus_index.path, copy)
    built = spasmqa.build(index_dir=copy, store=f"milvus:{milvus_uri}")
    client = admin_client(milvus_uri)
    name = built.manifest.store.chunk_collection
    record = client.get(name, ids=[3])[0]
    client.upsert(name, [{**record, "text": record["text"].replace("muscle", "MUSCLE", 1) + " (edited)"}])
    with pytest.raises(CollectionMismatchError, match="differ from those the index .* was built with"):
        spasmqa.load(copy)
    client.delete(name, ids=[3])
    with pytest.raises(CollectionMismatchError, match="does not match the index"):
        spasmqa.load(copy)


def write_corpus(folder: Path, texts: dict[str, str]) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


SMALL_CORPUS = {
    f"topic{i}.txt": f"Topic {i}\n\nSection one\n\nParagraph about subject {i} and muscles, number {i}. It has two sentences.\n\n"
    f"Section two\n\nMore about item {i}: stretching, water and rest help."
    for i in range(6)
}


@pytest.mark.parametrize("store", ["faiss", "milvus-file", "milvus-server"])
def test_a_rebuild_embeds_only_what_changed(store: str, milvus_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spasmqa.store import milvus_store, milvus_write

    # pages far smaller than the corpus, so every write, read, delete and sentence query takes several calls
    for module, name, size in ((milvus_write, "INSERT_BATCH", 7), (milvus_write, "DELETE_BATCH", 2), (milvus_store, "READ_BATCH", 5),
                               (milvus_store, "SENTENCE_QUERY_CHUNKS", 2), (milvus_store, "SENTENCES_REMEMBERED", 3)):
        monkeypatch.setattr(module, name, size)
    spec = {"faiss": "faiss", "milvus-file": f"milvus:{tmp_path / 'lite.db'}", "milvus-server": f"milvus:{milvus_uri}"}[store]
    corpus = write_corpus(tmp_path / "corpus", SMALL_CORPUS)
    settings = spasmqa.ChunkSettings(max_tokens=48)
    first, summary = spasmqa.build_with_summary(corpus, tmp_path / "index", settings=settings, store=spec)
    assert summary.reused == 0 and summary.embedded == len(first.chunks)
    changed = dict(SMALL_CORPUS)
    changed["topic2.txt"] = changed["topic2.txt"].replace("stretching", "magnesium and stretching")
    del changed["topic4.txt"]
    changed["topic9.txt"] = "Topic nine\n\nOnly section\n\nA new document about eyelid twitches."
    write_corpus(corpus, changed)
    second, summary = spasmqa.build_with_summary(corpus, tmp_path / "index", settings=settings, store=spec)
    new_chunks = [c for c in second.chunks if c.doc_id in {"topic9"} or (c.doc_id == "topic2" and "magnesium" in c.text)]
    assert summary.embedded == len(new_chunks) and summary.reused == len(second.chunks) - len(new_chunks)
    assert "topic4" not in {c.doc_id for c in second.chunks}
    fresh = spasmqa.build(corpus, tmp_path / "fresh", settings=settings)  # everything embedded anew
    assert [c.chunk_id for c in fresh.chunks] == [c.chunk_id for c in second.chunks]
    reloaded = spasmqa.load(tmp_path / "index")
    assert np.allclose(reloaded.chunk_vectors(), fresh.chunk_vectors(), atol=1e-5)
    rows = range(len(fresh.chunks))
    reused_sentences, fresh_sentences = reloaded._stored.sentence_vectors(rows), fresh._stored.sentence_vectors(rows)
    assert all(a.shape == b.shape and np.allclose(a, b, atol=1e-5) for a, b in zip(reused_sentences, fresh_sentences))
    top = second.ask("magnesium", k=1, rerank=False)[0]
    assert top.doc_id == "topic2" and "magnesium" in top.text
    if store != "faiss":
        client = admin_client(spec.removeprefix("milvus:"))
        ours = {n for n in client.list_collections() if n.startswith(second.manifest.store.chunk_collection[:-8])}
        assert ours == {second.manifest.store.chunk_collection, second.manifest.store.sentence_collection}
        # updated in place: the same pair, one generation on, the changed and removed documents' rows gone
        assert second.manifest.store.chunk_collection == first.manifest.store.chunk_collection
        assert second.manifest.store.generation == first.manifest.store.generation + 1
        assert all_rows(client, second.manifest.store) == (len(second.chunks), second.manifest.sentence_count)


def all_rows(client: object, store: object) -> tuple[int, int]:
    """Rows in the chunk and sentence collections, whatever their generation."""
    return tuple(  # type: ignore[return-value]
        client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"]  # type: ignore[attr-defined]
        for name in (store.chunk_collection, store.sentence_collection)  # type: ignore[attr-defined]
    )


def test_an_update_that_dies_before_its_swap_is_invisible_and_the_next_build_clears_it(
    milvus_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spasmqa.store import milvus_write
    from spasmqa.store.stores import open_store

    spec, settings = f"milvus:{milvus_uri}", spasmqa.ChunkSettings(max_tokens=48)
    corpus = write_corpus(tmp_path / "corpus", SMALL_CORPUS)
    first = spasmqa.build(corpus, tmp_path / "index", settings=settings, store=spec)
    probe = first.chunk_vectors()[:3]
    changed = {**SMALL_CORPUS, "topic1.txt": SMALL_CORPUS["topic1.txt"].replace("rest help", "rest and sleep help")}
    changed["topic7.txt"] = "Topic seven\n\nOnly section\n\nA new document about night cramps in the feet."
    write_corpus(corpus, changed)

    def dies(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the build is killed after writing its rows, before its manifest is swapped in

    monkeypatch.setattr(milvus_write, "write_directory", dies)
    with pytest.raises(KeyboardInterrupt):
        spasmqa.build(corpus, tmp_path / "index", settings=settings, store=spec)
    monkeypatch.undo()
    client = admin_client(milvus_uri)
    assert all_rows(client, first.manifest.store)[0] > len(first.chunks)  # the dead build's rows are there...
    survivor = open_store(tmp_path / "index")  # ...and invisible: the old index opens, checked, as it was
    assert survivor.chunks == first.chunks
    assert np.array_equal(survivor.search(probe, 5)[1], first._stored.search(probe, 5)[1])
    del changed["topic7.txt"]  # the next build writes fewer rows than the dead one left
    write_corpus(corpus, changed)
    second = spasmqa.build(corpus, tmp_path / "index", settings=settings, store=spec)
    assert second.manifest.store.chunk_collection == first.manifest.store.chunk_collection
    assert all_rows(client, second.manifest.store) == (len(second.chunks), second.manifest.sentence_count)
    top = spasmqa.load(tmp_path / "index").ask("rest and sleep", k=1, rerank=False)[0]
    assert top.doc_id == "topic1" and "sleep" in top.text


def outcome_of(call: Callable[[], object], bound: float = 120) -> BaseException | None:
    """What ``call`` raised (None: nothing) in a thread given ``bound`` seconds: a bound on a hang, not a speed target."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(bound)
    assert outcome, f"{call} hung for {bound} s"
    return outcome[0]


def test_a_server_that_stops_answering_or_goes_away_gives_a_clear_error_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPASMQA_MILVUS_TIMEOUT", "3")
    process, uri = start_server(tmp_path / "data")
    try:
        corpus = write_corpus(tmp_path / "corpus", SMALL_CORPUS)
        built = spasmqa.build(corpus, tmp_path / "index", settings=spasmqa.ChunkSettings(max_tokens=48), store=f"milvus:{uri}")
        built.ask("stretching", rerank=False)
        process.send_signal(signal.SIGSTOP)  # alive and listening, answering nothing: only a timeout ends a call
        # 30 s is ten timeouts: without its own timeout a call waits out pymilvus's reconnects (a minute here)
        frozen = outcome_of(lambda: built.ask("water and rest", rerank=False), bound=30)
        assert isinstance(frozen, StoreUnavailableError) and "this call waited at most 3 s" in str(frozen)
        process.send_signal(signal.SIGCONT)
    finally:
        stop_server(process)
    gone = outcome_of(lambda: built.ask("magnesium", rerank=False))
    assert isinstance(gone, StoreUnavailableError) and uri in str(gone)
    with pytest.raises(StoreUnavailableError, match="start it, check the address"):
        spasmqa.load(tmp_path / "index")


@pytest.mark.parametrize(
    ("spec", "message"),
    [("milvus", "unknown store"), ("qdrant:http://x", "unknown store"), ("milvus:./notes", "neither a Milvus Lite file")],
)
def test_a_misnamed_store_is_refused_before_anything_loads(spec: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=message):
        spasmqa.build(tmp_path / "nowhere", tmp_path / "index", store=spec)
    assert not (tmp_path / "index").exists()


def test_without_pymilvus_the_milvus_store_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = write_corpus(tmp_path / "corpus", SMALL_CORPUS)
    monkeypatch.setitem(sys.modules, "pymilvus", None)  # as if it were not installed
    with pytest.raises(StoreError, match=r"pip install 'spasmqa\[milvus\]'"):
        spasmqa.build(corpus, tmp_path / "index", settings=spasmqa.ChunkSettings(max_tokens=48), store=f"milvus:{tmp_path / 'x.db'}")
    assert not (tmp_path / "index").exists()


def test_the_milvus_token_is_used_and_never_written_to_the_manifest(
    milvus_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPASMQA_MILVUS_TOKEN", "root:Milvus-secret-1")
    corpus = write_corpus(tmp_path / "corpus", SMALL_CORPUS)
    built = spasmqa.build(corpus, tmp_path / "index", settings=spasmqa.ChunkSettings(max_tokens=48), store=f"milvus:{milvus_uri}")
    assert built.ask("stretching", rerank=False)[0].doc_id.startswith("topic")
    assert "Milvus-secret-1" not in (tmp_path / "index" / "manifest.json").read_text()


def test_the_command_line_builds_into_milvus_and_says_what_it_reused(tmp_path: Path, spasmqa_home: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", SMALL_CORPUS)
    command = [sys.executable, "-m", "spasmqa", "build", "--corpus", str(corpus), "--out", str(tmp_path / "index"),
               "--max-tokens", "48", "--store", f"milvus:{tmp_path / 'lite.db'}"]
    first = run(command, spasmqa_home)
    assert first.returncode == 0, first.stderr
    assert f"store      milvus:{tmp_path / 'lite.db'}  (FLAT)" in first.stdout and "reused 0 from" in first.stdout
    again = run(command, spasmqa_home)
    assert again.returncode == 0 and "embedded   0 chunks" in again.stdout
    both = run([sys.executable, "-m", "spasmqa", "eval", "--store", f"milvus:{tmp_path / 'lite.db'}", "--index", "x"], spasmqa_home)
    assert both.returncode == 1 and "give one of them" in both.stderr
