"""Bad input, stale corpora, builds killed or racing, many threads, read-only installs, nothing unsafe."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spasmqa
from spasmqa import api
from spasmqa.corpus import bundled_corpus_dir
from spasmqa.embedding import Embedder, OnnxQueryEncoder
from spasmqa.errors import IndexWriteError, QueryError, StaleIndexError
from spasmqa.evaluation import load_questions
from spasmqa.store.manifest import MANIFEST_FILE
from tests.conftest import REPO, python_code, run_command, spasmqa_command, subprocess_env

# --- input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["dense", "lexical"])
@pytest.mark.parametrize(
    "question",
    [
        "cramp " * 20_000,  # 120,000 characters
        "why do my legs 🦵 cramp 😫 at night??",
        "почему сводит ногу ночью",
        "为什么晚上腿抽筋",
        "leg\x00cramps\x07 at\x1b[31m night",
        "why\r\ndo my legs\rcramp\nat night",
        "\ud83d broken surrogate cramps",
    ],
)
def test_odd_questions_are_answered(index: spasmqa.Index, question: str, mode: str) -> None:
    answer = index.ask(question, k=3, mode=mode)
    assert answer.question == question.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    assert len(answer) == 3 or mode == "lexical"


@settings(max_examples=150, deadline=None)
@given(question=st.text(alphabet=st.characters(codec=None), max_size=300), k=st.integers(1, 200))
def test_arbitrary_text_never_raises_anything_unexpected(index: spasmqa.Index, question: str, k: int) -> None:
    for mode in ("dense", "lexical"):
        try:
            answer = index.ask(question, k=k, mode=mode)
        except QueryError:
            assert not question.strip()
        else:
            assert len(answer) <= min(k, len(index.chunks))
            assert mode == "lexical" or len(answer) == min(k, len(index.chunks))


# --- a stale index ----------------------------------------------------------------------------------


@pytest.fixture()
def own_corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in ("000_a0a6bbaa604853ac.txt", "002_4cc4aa2cfbbe76c8.txt", "004_aa0505687b79af88.txt"):
        shutil.copy(bundled_corpus_dir() / name, folder / name)
    return folder


def test_a_stale_index_names_what_changed_and_can_rebuild(own_corpus: Path, tmp_path: Path) -> None:
    built = spasmqa.build(own_corpus, tmp_path / "index")
    ids = sorted(doc.doc_id for doc in built.documents())
    with (own_corpus / "000_a0a6bbaa604853ac.txt").open("a", encoding="utf-8") as handle:
        handle.write("\nA new closing paragraph about cramps in swimmers.\n")
    (own_corpus / "004_aa0505687b79af88.txt").unlink()
    (own_corpus / "new-notes.md").write_text("# Notes\n\nCramps while swimming are common.\n", encoding="utf-8")
    with pytest.raises(StaleIndexError) as raised:
        spasmqa.load(tmp_path / "index")
    assert raised.value.changed == (ids[0],) and raised.value.removed == (ids[2],) and raised.value.added == ("new-notes",)
    assert "changed: 000-a0a6bbaa604853ac; added: new-notes; removed: 004-aa0505687b79af88" in str(raised.value)
    assert "rebuild_if_stale=True" in str(raised.value)
    rebuilt = spasmqa.load(tmp_path / "index", rebuild_if_stale=True)
    assert rebuilt.ask("swimming cramps", k=1, mode="lexical")[0].doc_id in {"new-notes", ids[0]}
    assert spasmqa.load(tmp_path / "index").manifest.chunking == built.manifest.chunking


def test_the_default_index_rebuilds_itself_when_stale(
    index: spasmqa.Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    shutil.copytree(index.path, home / "indexes" / "default")
    manifest_path = home / "indexes" / "default" / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["documents"][1]["text_sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    monkeypatch.setenv("SPASMQA_HOME", str(home))
    with caplog.at_level("INFO", logger="spasmqa"):
        rebuilt = api._load_or_build_default()
    assert "building the default index" in caplog.text and "changed: mff-twitching-and-spasm" in caplog.text
    assert rebuilt.manifest.documents == index.manifest.documents


def test_an_index_whose_corpus_is_gone_still_answers(own_corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spasmqa.build(own_corpus, tmp_path / "index")
    shutil.rmtree(own_corpus)
    with caplog.at_level("WARNING", logger="spasmqa"):
        loaded = spasmqa.load(tmp_path / "index")
    assert "is gone" in caplog.text
    assert len(loaded.ask("cramps", k=2)) == 2
    with pytest.raises(spasmqa.SpasmqaError, match="is not there"):
        loaded.documents()


# --- builds killed or racing ------------------------------------------------------------------------

BUILD = "import sys, spasmqa; spasmqa.build(index_dir=sys.argv[1], settings=spasmqa.ChunkSettings(max_tokens={}))"


def start_build(target: Path, home: Path, max_tokens: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", BUILD.format(max_tokens), str(target)],
        env=subprocess_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def visible_entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


# A build of ``sys.argv[1]`` into ``sys.argv[2]`` that exits at its ``sys.argv[3]``-th step of writing and
# swapping the index (0: never, and print how many steps there were): half-way through each file write,
# after each file, before each rename of the swap, and before the retired index is deleted.
CRASHING_BUILD = """
import io, os, shutil, sys
from pathlib import Path
import spasmqa
from spasmqa.store import directory

corpus, target, crash_at = Path(sys.argv[1]), Path(sys.argv[2]).resolve(), int(sys.argv[3])
steps = 0

def step():
    global steps
    steps += 1
    if steps == crash_at:
        os._exit(CRASHED)

def write_file(path, write):
    buffer = io.BytesIO()
    write(buffer)
    data = buffer.getvalue()
    with path.open("wb") as handle:
        handle.write(data[: len(data) // 2])
        handle.flush()
        step()
        handle.write(data[len(data) // 2 :])
    step()

real_rename, real_rmtree = Path.rename, shutil.rmtree

def rename(self, destination):
    if self.parent == target.parent:
        step()
    return real_rename(self, destination)

def rmtree(path, *args, **kwargs):
    if ".old-" in Path(path).name:
        step()
    return real_rmtree(path, *args, **kwargs)

directory._write_file, Path.rename, directory.shutil.rmtree = write_file, rename, rmtree
spasmqa.build(corpus, target)
print(steps)
""".replace("CRASHED", "77")


def versioned_corpora(tmp_path: Path) -> tuple[Path, Path]:
    """Two corpus folders: the first with one article, the second with that one and another."""
    first, second = tmp_path / "corpus-1", tmp_path / "corpus-2"
    for folder, names in ((first, ["000_a0a6bbaa604853ac.txt"]), (second, ["000_a0a6bbaa604853ac.txt", "003_8e38ed0a39b4260a.txt"])):
        folder.mkdir()
        for name in names:
            shutil.copy(bundled_corpus_dir() / name, folder / name)
    return first, second


def crashing_build(corpus: Path, target: Path, crash_at: int, home: Path) -> subprocess.CompletedProcess[str]:
    return run_command([*python_code(CRASHING_BUILD), str(corpus), str(target), str(crash_at)], home)


def test_a_crash_at_any_step_of_writing_or_swapping_leaves_an_index(index: spasmqa.Index, spasmqa_home: Path, tmp_path: Path) -> None:
    old, new = versioned_corpora(tmp_path)
    target = tmp_path / "indexes" / "index"
    spasmqa.build(old, target)
    counted = crashing_build(new, target, 0, spasmqa_home)
    assert counted.returncode == 0, counted.stderr
    steps = int(counted.stdout.split()[-1])
    assert steps == 4 * 2 + 3  # four files, each half and whole; two renames; deleting the retired index
    for crash_at in range(1, steps + 1):
        spasmqa.build(old, target)
        crashed = crashing_build(new, target, crash_at, spasmqa_home)
        assert crashed.returncode == 77, (crash_at, crashed.stderr)
        survivor = spasmqa.load(target)  # the previous index, or the new one once the second rename is done
        assert len(survivor.manifest.documents) == (1 if crash_at < steps else 2), crash_at
        spasmqa.build(old, target)  # the next build clears what the crash left
        assert visible_entries(target.parent) == ["index"], crash_at


def test_two_builds_racing_for_one_directory(spasmqa_home: Path, tmp_path: Path) -> None:
    target = tmp_path / "index"
    builds = [start_build(target, spasmqa_home, size) for size in (96, 160)]
    assert [b.wait(timeout=600) for b in builds] == [0, 0]
    loaded = spasmqa.load(target)
    assert loaded.manifest.chunking.max_tokens in (96, 160)
    assert visible_entries(tmp_path) == ["index"]


def test_an_interrupted_swap_is_recovered(index: spasmqa.Index, tmp_path: Path) -> None:
    # The state a crash between the two renames of a swap leaves: the old index retired, none in place.
    shutil.copytree(index.path, tmp_path / ".index.old-1234abcd")
    assert spasmqa.load(tmp_path / "index").manifest.files == index.manifest.files
    assert visible_entries(tmp_path) == ["index"]


# --- many threads -----------------------------------------------------------------------------------


def count_model_loads(embedder: Embedder) -> list[int]:
    loads: list[int] = []
    real_load = embedder._load

    def counting_load() -> object:
        loads.append(threading.get_ident())
        time.sleep(0.2)  # widen the window in which other threads arrive
        return real_load()

    embedder._load = counting_load  # type: ignore[method-assign]
    return loads


def run_at_once(work: Callable[[], object], threads: int = 8) -> list[object]:
    barrier = threading.Barrier(threads)
    results: list[object] = []

    def run() -> None:
        barrier.wait()
        results.append(work())

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def test_the_query_encoder_loads_once_when_many_threads_ask_at_once(index: spasmqa.Index, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = spasmqa.load(index.path)
    model_loads = count_model_loads(fresh.embedder)
    opens: list[int] = []
    real_open = OnnxQueryEncoder.open

    def counting_open(folder: Path | None, model_id: str) -> OnnxQueryEncoder | None:
        opens.append(threading.get_ident())
        time.sleep(0.2)
        return real_open(folder, model_id)

    monkeypatch.setattr(OnnxQueryEncoder, "open", counting_open)
    answers = run_at_once(lambda: fresh.ask("night cramps", k=3).passages)
    # The ONNX export made at build time answers questions, so the torch model is not loaded at all.
    assert len(opens) == 1 and model_loads == []
    assert len(answers) == 8 and all(a == answers[0] for a in answers)


def test_an_embedder_loads_its_model_once_for_many_threads() -> None:
    embedder = Embedder()
    loads = count_model_loads(embedder)
    vectors = run_at_once(lambda: embedder.encode(["night cramps"]).tolist())
    assert len(loads) == 1 and all(v == vectors[0] for v in vectors)


def test_eight_threads_give_the_serial_answers(index: spasmqa.Index) -> None:
    texts = [q.text for q in load_questions()]
    questions = [(texts[i % len(texts)], ("dense", "lexical")[i % 2]) for i in range(200)]
    serial = [index.ask(text, k=5, mode=mode).passages for text, mode in questions]
    results: dict[int, list[tuple[spasmqa.Passage, ...]]] = {}
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            results[worker] = [index.ask(text, k=5, mode=mode).passages for text, mode in questions]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(results[n] == serial for n in range(8))


# --- read-only installs -----------------------------------------------------------------------------


def tree_state(folder: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if "__pycache__" not in p.parts)


def test_asking_writes_nothing_to_the_package_or_corpus(tmp_path: Path) -> None:
    package = Path(spasmqa.__file__).parent
    before = (tree_state(package), tree_state(bundled_corpus_dir()))
    code = "import spasmqa; spasmqa.ask('night cramps'); spasmqa.documents()"
    result = run_command(python_code(code), tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert (tree_state(package), tree_state(bundled_corpus_dir())) == before
    assert (tmp_path / "home" / "indexes" / "default" / MANIFEST_FILE).is_file()


def test_no_writable_place_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPASMQA_HOME", "/proc/spasmqa-cannot-be-here")
    with pytest.raises(IndexWriteError, match="set SPASMQA_HOME to a folder you can write to"):
        api._load_or_build_default()


# --- nothing unsafe ---------------------------------------------------------------------------------


def test_no_pickle_eval_or_exec_in_the_library() -> None:
    source = "\n".join(p.read_text() for p in (REPO / "spasmqa").rglob("*.py"))
    # (torch's Module.eval() switches a model to inference mode; the builtin eval() is what must not appear)
    assert not re.search(r"\bpickle\b|(?<![.\w])eval\(|(?<![.\w])exec\(|allow_pickle|torch\.load|marshal", source)


def test_cli_usage_errors_are_one_line_and_exit_1(tmp_path: Path) -> None:
    for args in (["ask", "cramps", "-k", "many"], ["ask"], ["nonsense"], ["ask", "cramps", "--mode", "fuzzy"]):
        result = run_command(spasmqa_command(*args), tmp_path, timeout=120)
        assert result.returncode == 1, args
        assert result.stderr.startswith("spasmqa: error: ") and result.stderr.count("\n") == 1, result.stderr


def test_a_second_build_waits_until_the_first_releases_the_lock(spasmqa_home: Path, tmp_path: Path) -> None:
    from spasmqa.store.directory import _locked

    corpus, _ = versioned_corpora(tmp_path)
    target = tmp_path / "indexes" / "index"
    target.parent.mkdir()
    with _locked(target.resolve(), "build"):
        build = subprocess.Popen(
            [sys.executable, "-c", "import sys, spasmqa; spasmqa.build(sys.argv[1], sys.argv[2])", str(corpus), str(target)],
            env=subprocess_env(spasmqa_home), stderr=subprocess.PIPE, text=True,
        )
        assert build.stderr is not None
        # the build says it waits (and then blocks) only when it finds the lock taken
        said = next((line for line in iter(build.stderr.readline, "") if "waiting for another build of" in line), None)
        assert said is not None, "the second build never waited for the lock"
        assert build.poll() is None and not target.exists()
    assert build.wait(timeout=600) == 0
    assert len(spasmqa.load(target).manifest.documents) == 1
