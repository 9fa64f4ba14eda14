"""Shared fixtures: one real index of the bundled corpus per test session, in a private SPASMQA_HOME."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import spasmqa
from spasmqa import api
from spasmqa.corpus import Document, load_corpus

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def spasmqa_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test runs with its own SPASMQA_HOME, so nothing touches the user's cache."""
    home = tmp_path_factory.mktemp("spasmqa-home")
    previous = os.environ.get("SPASMQA_HOME")
    os.environ["SPASMQA_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    yield home
    if previous is None:
        del os.environ["SPASMQA_HOME"]
    else:
        os.environ["SPASMQA_HOME"] = previous


@pytest.fixture(scope="session")
def index(spasmqa_home: Path) -> spasmqa.Index:
    """The default index of the bundled corpus, built once; ``spasmqa.ask()`` uses this same one."""
    return api.default_index()


@pytest.fixture(scope="session")
def corpus_docs() -> tuple[Document, ...]:
    return load_corpus()


@pytest.fixture(scope="session")
def docs_by_id(corpus_docs: tuple[Document, ...]) -> dict[str, Document]:
    return {doc.doc_id: doc for doc in corpus_docs}


def sentence_inner_products(index: spasmqa.Index, query: object) -> dict[int, list[float]]:
    """Chunk row -> the query's inner product with each of its sentences, read back one vector at a time."""
    vectors = index._stored.sentence_index
    scores: dict[int, list[float]] = {}
    first = 0
    for row, chunk in enumerate(index.chunks):
        rows = list(range(first, first + len(chunk.sentences)))
        scores[row] = [float(vector @ query) for vector in vectors.vectors(rows)]
        first += len(chunk.sentences)
    return scores


def subprocess_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SPASMQA_HOME"] = str(home)
    env["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    return env


def run_command(
    command: list[str], home: Path, *, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``command`` run from ``cwd`` with ``home`` as SPASMQA_HOME (and ``env`` on top), its output captured as text."""
    return subprocess.run(
        command, capture_output=True, text=True, env=subprocess_env(home) | (env or {}), cwd=cwd, timeout=timeout
    )


def spasmqa_command(*args: str) -> list[str]:
    """The ``spasmqa`` command line with ``args``, run by this interpreter."""
    return [sys.executable, "-m", "spasmqa", *args]


def python_code(code: str) -> list[str]:
    """A command that runs ``code`` in a new process of this interpreter."""
    return [sys.executable, "-c", code]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port, in a thread of this process; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
