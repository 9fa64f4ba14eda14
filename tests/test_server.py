"""``spasmqa serve`` through HTTP: the JSON API, its schema, every error and limit, the page without JavaScript,
concurrency, slow and vanished clients, and the command itself as a process."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path
from urllib.parse import quote

import pytest

import spasmqa
from spasmqa import errors
from spasmqa.reranking import Reranker
from spasmqa.results import Highlight, Passage, SourceSpan
from tests.conftest import REPO, free_port, run_command, serving, spasmqa_command, subprocess_env

httpx = pytest.importorskip("httpx", reason="the server tests need `pip install 'spasmqa[serve]' httpx`")
pytest.importorskip("fastapi", reason="the server tests need `pip install 'spasmqa[serve]'`")

from spasmqa.server.app import create_app, status_of  # noqa: E402
from spasmqa.server.settings import ServerSettings  # noqa: E402

QUESTIONS = [
    "why do my legs cramp at night",
    "what is a charley horse",
    "my eyelid keeps twitching, should I worry",
    "does magnesium help with cramps",
    "how do I stretch a calf cramp",
    "what causes muscle spasms in the back",
]
UNCOVERED = "zqxv blorft wibbleton"  # no word of it occurs in the documents: declined for certain
LIMITS = ServerSettings(max_question_chars=60, max_k=3, max_body_bytes=400, timeout_seconds=30.0, batch_size=4)


@pytest.fixture(scope="module")
def url(index: spasmqa.Index) -> Iterator[str]:
    with serving(create_app(index)) as base:
        yield base


@pytest.fixture(scope="module")
def limited_url(index: spasmqa.Index) -> Iterator[str]:
    with serving(create_app(index, LIMITS)) as base:
        yield base


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=120) as c:
        yield c


def error_of(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}, body
    assert "Traceback" not in response.text
    return body["error"]  # type: ignore[no-any-return]


# --- the API ---------------------------------------------------------------------------------------------


def test_health_names_what_is_loaded(client: httpx.Client, index: spasmqa.Index) -> None:
    health = client.get("/health").json()
    assert health["ready"] is True and health["problem"] == ""
    assert health["index"] == str(index.path) and health["model"] == index.manifest.model_id
    assert health["reranker"] == index.reranker.reranker_id and health["store"] == "faiss"
    assert (health["documents"], health["chunks"]) == (len(index.manifest.documents), len(index.chunks))
    assert health["limits"] == ServerSettings().to_dict()


def test_the_app_loads_every_model_before_its_first_request(index: spasmqa.Index) -> None:
    cold = spasmqa.load(index.path)
    assert (cold.embedder._query_encoder, cold.reranker._scorer, cold._lexical_cache) == (None, None, None)
    create_app(cold)
    assert None not in (cold.embedder._query_encoder, cold.reranker._scorer, cold._lexical_cache)


@pytest.mark.parametrize("options", [{}, {"k": 3, "mode": "lexical", "rerank": False}, {"k": 7, "mode": "dense"}])
def test_ask_returns_what_index_ask_returns(client: httpx.Client, index: spasmqa.Index, options: dict[str, object]) -> None:
    response = client.post("/ask", json={"question": QUESTIONS[0], **options})
    assert response.status_code == 200
    expected = index.ask(QUESTIONS[0], **options).to_dict()  # type: ignore[arg-type]
    assert response.json() == json.loads(json.dumps(expected))


def test_the_openapi_schema_describes_every_route_and_the_answer_exactly(client: httpx.Client, index: spasmqa.Index) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/ask", "/documents", "/documents/{doc_id}", "/health"} <= set(schema["paths"])
    components = schema["components"]["schemas"]
    answer = index.ask(QUESTIONS[1]).to_dict()
    assert set(components["Answer"]["properties"]) == set(answer)
    assert set(components["Passage"]["properties"]) == {f.name for f in fields(Passage)}
    assert set(components["Highlight"]["properties"]) == {f.name for f in fields(Highlight)}
    assert set(components["SourceSpan"]["properties"]) == {f.name for f in fields(SourceSpan)}
    ask = components["AskRequest"]["properties"]
    assert ask["question"]["maxLength"] == ServerSettings().max_question_chars
    assert ask["k"]["maximum"] == ServerSettings().max_k
    assert set(ask["mode"]["enum"]) == set(spasmqa.retrieval.MODES)
    assert "ErrorResponse" in components


def test_documents_list_and_one_document_with_a_marked_span(client: httpx.Client, index: spasmqa.Index) -> None:
    listed = client.get("/documents").json()
    assert [d["doc_id"] for d in listed] == [d.doc_id for d in index.documents()]
    passage = index.ask(QUESTIONS[2])[0]
    body = client.get(f"/documents/{quote(passage.doc_id)}", params={"start": passage.start, "end": passage.end}).json()
    document = index.get_document(passage.doc_id)
    assert (body["text"], body["title"], body["source"]) == (document.text, document.title, document.source)
    assert body["span"] == {"start": passage.start, "end": passage.end, "text": passage.text}
    assert client.get(f"/documents/{quote(passage.doc_id)}").json()["span"] is None


# --- errors: one JSON shape, the right status, a message that names the fix --------------------------------


@pytest.mark.parametrize(
    ("body", "status", "kind", "names"),
    [
        ({"question": "   "}, 400, "QueryError", "empty"),
        ({}, 422, "ValidationError", "question"),
        ({"question": "cramps", "k": 0}, 422, "ValidationError", "k"),
        ({"question": "cramps", "k": "5"}, 422, "ValidationError", "k"),
        ({"question": "cramps", "mode": "fuzzy"}, 422, "ValidationError", "mode"),
        ({"question": "cramps", "rerank": "yes"}, 422, "ValidationError", "rerank"),
        ({"question": "cramps", "colour": "red"}, 422, "ValidationError", "colour"),
        ({"question": ["cramps"]}, 422, "ValidationError", "question"),
    ],
)
def test_a_bad_question_gets_a_json_error(client: httpx.Client, body: dict[str, object], status: int, kind: str, names: str) -> None:
    response = client.post("/ask", json=body)
    assert response.status_code == status
    error = error_of(response)
    assert error["type"] == kind and names in error["message"]


def test_a_body_that_is_not_json_gets_422(client: httpx.Client) -> None:
    response = client.post("/ask", content=b"{question: cramps", headers={"content-type": "application/json"})
    assert response.status_code == 422 and error_of(response)["type"] == "ValidationError"


def test_an_unknown_document_is_404_and_lists_the_ids(client: httpx.Client, index: spasmqa.Index) -> None:
    response = client.get("/documents/no-such-article")
    assert response.status_code == 404
    error = error_of(response)
    assert error["type"] == "DocumentNotFoundError" and index.documents()[0].doc_id in error["message"]


@pytest.mark.parametrize("path", ["/documents/..%2F..%2Fpyproject.toml", "/documents/../../etc/passwd",
                                  "/documents/%2e%2e%2fcorpus", "/static/..%2Fapp.py", "/static/../settings.py"])
def test_a_doc_id_with_dot_dot_reads_no_file(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, response.text
    assert "[project]" not in response.text and "root:" not in response.text and "ServerSettings" not in response.text


@pytest.mark.parametrize("params", [{"start": 5}, {"start": 9, "end": 3}, {"start": -1, "end": 4}, {"start": 0, "end": 10**9}])
def test_a_span_outside_the_document_is_400(client: httpx.Client, index: spasmqa.Index, params: dict[str, int]) -> None:
    response = client.get(f"/documents/{index.documents()[0].doc_id}", params=params)
    assert response.status_code == 400
    assert "0 <= start < end <=" in error_of(response)["message"]


def test_unknown_paths_and_methods_get_json_errors(client: httpx.Client) -> None:
    assert client.get("/nothing-here").status_code == 404 and error_of(client.get("/nothing-here"))["type"] == "HTTPError"
    assert client.get("/ask").status_code == 405 and error_of(client.get("/ask"))["type"] == "HTTPError"
    assert client.get("/docs").status_code == 404  # the interactive docs load from a CDN: off


def test_an_index_whose_documents_are_gone_is_503(index: spasmqa.Index) -> None:
    without_corpus = spasmqa.Index(index._stored, index.embedder, None, index.reranker)
    with serving(create_app(without_corpus)) as base:
        response = httpx.get(f"{base}/documents", timeout=60)
    assert response.status_code == 503
    error = error_of(response)
    assert error["type"] == "CorpusError" and "rebuild" in error["message"]


class StoreThatGoesDown:
    """The session's store, until ``down`` is set: then every search fails as an unreachable Milvus server's does;
    with ``delay`` every search first waits that many seconds, as a server's that hangs."""

    def __init__(self, stored: object) -> None:
        self._stored = stored
        self.down = False
        self.delay = 0.0

    def __getattr__(self, name: str) -> object:
        return getattr(self._stored, name)

    def search(self, *args: object) -> object:
        time.sleep(self.delay)
        if self.down:
            raise errors.StoreUnavailableError("the Milvus server at http://127.0.0.1:1 is not answering; start it")
        return self._stored.search(*args)  # type: ignore[attr-defined]


def test_a_store_that_goes_away_makes_health_not_ready_and_questions_503(index: spasmqa.Index) -> None:
    store = StoreThatGoesDown(index._stored)
    with serving(create_app(spasmqa.Index(store, index.embedder, index.documents(), index.reranker))) as base:  # type: ignore[arg-type]
        assert httpx.get(f"{base}/health", timeout=60).json()["ready"] is True
        store.down = True
        health = httpx.get(f"{base}/health", timeout=60)
        asked = httpx.post(f"{base}/ask", json={"question": QUESTIONS[0]}, timeout=60)
    assert health.status_code == 503
    assert health.json()["ready"] is False and "StoreUnavailableError" in health.json()["problem"]
    assert asked.status_code == 503 and error_of(asked)["type"] == "StoreUnavailableError"


def test_health_is_not_ready_when_the_fast_path_outlasts_the_timeout(index: spasmqa.Index) -> None:
    store = StoreThatGoesDown(index._stored)
    slow = spasmqa.Index(store, index.embedder, index.documents(), index.reranker)  # type: ignore[arg-type]
    app = create_app(slow, ServerSettings(timeout_seconds=0.5))
    with serving(app) as base:
        store.delay = 2.0
        health = httpx.get(f"{base}/health", timeout=60)
        store.delay = 0.0
    assert health.status_code == 503
    assert health.json()["ready"] is False and health.json()["problem"].startswith("AnswerTimeoutError")


class HeldReranker(Reranker):
    """The index's reranker, except that once ``hold`` is set its next call waits until ``release`` is set."""

    def __init__(self, reranker: Reranker) -> None:
        self._reranker = reranker
        self.hold, self.holding, self.release = threading.Event(), threading.Event(), threading.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self._reranker, name)

    def score(self, pairs: object) -> object:
        if self.hold.is_set():
            self.holding.set()
            self.release.wait(timeout=120)
        return self._reranker.score(pairs)  # type: ignore[arg-type]


def test_health_answers_while_a_question_is_being_answered(index: spasmqa.Index) -> None:
    reranker = HeldReranker(index.reranker)
    with serving(create_app(spasmqa.Index(index._stored, index.embedder, index.documents(), reranker))) as base:
        reranker.hold.set()
        with ThreadPoolExecutor(1) as pool:
            asked = pool.submit(httpx.post, f"{base}/ask", json={"question": QUESTIONS[0]}, timeout=120)
            assert reranker.holding.wait(timeout=60), "the question never reached the reranker"
            try:  # the question is still being answered: the queue is busy, the server is not dead
                health = httpx.get(f"{base}/health", timeout=20)
            finally:
                reranker.release.set()
            assert asked.result().status_code == 200
    assert health.status_code == 200 and health.json()["ready"] is True


def test_every_spasmqa_error_maps_to_a_status_of_its_kind() -> None:
    def tree(kind: type[errors.SpasmqaError]) -> list[type[errors.SpasmqaError]]:
        return [kind] + [sub for child in kind.__subclasses__() for sub in tree(child)]

    for kind in tree(errors.SpasmqaError):
        status = status_of(kind.__new__(kind))
        client_fault = issubclass(kind, (errors.QueryError, errors.DocumentNotFoundError, errors.RequestTooLargeError))
        assert (400 <= status < 500) == client_fault, kind
    assert status_of(errors.StaleIndexError("", changed=(), added=(), removed=())) == 503
    assert status_of(errors.StoreUnavailableError("")) == 503
    assert status_of(errors.AnswerTimeoutError("")) == 504


# --- limits: each one configurable, each one enforced ------------------------------------------------------


def test_the_limits_are_this_servers_own(limited_url: str) -> None:
    with httpx.Client(base_url=limited_url, timeout=120) as c:
        long_question = c.post("/ask", json={"question": "cramp " * 11})
        assert long_question.status_code == 422 and "60" in error_of(long_question)["message"]
        too_many = c.post("/ask", json={"question": "cramps", "k": 4})
        assert too_many.status_code == 422 and "3" in error_of(too_many)["message"]
        assert c.post("/ask", json={"question": "cramps", "k": 3}).status_code == 200
        assert c.get("/health").json()["limits"] == LIMITS.to_dict()
        assert c.get("/openapi.json").json()["components"]["schemas"]["AskRequest"]["properties"]["k"]["maximum"] == 3


def test_a_body_over_the_limit_is_413_declared_or_streamed(limited_url: str) -> None:
    big = json.dumps({"question": "cramps", "padding": "x" * 500}).encode()
    declared = httpx.post(f"{limited_url}/ask", content=big, headers={"content-type": "application/json"}, timeout=60)
    assert declared.status_code == 413
    error = error_of(declared)
    assert error["type"] == "RequestTooLargeError" and "--max-body-bytes" in error["message"]

    def chunks() -> Iterator[bytes]:  # no content-length: the server counts what arrives
        for start in range(0, len(big), 100):
            yield big[start : start + 100]

    streamed = httpx.post(f"{limited_url}/ask", content=chunks(), headers={"content-type": "application/json"}, timeout=60)
    assert streamed.status_code == 413 and error_of(streamed)["type"] == "RequestTooLargeError"


def test_a_question_not_answered_in_time_is_504(index: spasmqa.Index) -> None:
    with serving(create_app(index, ServerSettings(timeout_seconds=0.001))) as base:
        response = httpx.post(f"{base}/ask", json={"question": QUESTIONS[3]}, timeout=60)
        assert response.status_code == 504
        error = error_of(response)
        assert error["type"] == "AnswerTimeoutError" and "--timeout" in error["message"]
        assert httpx.get(f"{base}/documents", timeout=60).status_code == 200  # and the server goes on


def test_limits_out_of_range_are_refused_naming_the_flag() -> None:
    with pytest.raises(errors.ServeError, match="--max-body-bytes"):
        ServerSettings(max_body_bytes=0)
    with pytest.raises(errors.ServeError, match="set --timeout above 0"):
        ServerSettings(timeout_seconds=-1.0)


# --- concurrency, slow and vanished clients ----------------------------------------------------------------


def test_concurrent_requests_get_the_answers_serial_ones_get(client: httpx.Client, url: str) -> None:
    serial = [client.post("/ask", json={"question": q, "k": 4}).json() for q in QUESTIONS]
    asked = QUESTIONS * 3

    def ask(question: str) -> dict[str, object]:
        return httpx.post(f"{url}/ask", json={"question": question, "k": 4}, timeout=300).json()  # type: ignore[no-any-return]

    with ThreadPoolExecutor(max_workers=len(asked)) as pool:
        concurrent = list(pool.map(ask, asked))
    assert concurrent == serial * 3


def test_a_slow_client_does_not_block_others(client: httpx.Client, url: str) -> None:
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.sendall(b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"quest")
        response = client.post("/ask", json={"question": QUESTIONS[4]}, timeout=60)  # a bound against a hang, not a speed target
        assert response.status_code == 200 and response.json()["passages"]


def test_a_client_that_goes_away_leaves_the_server_answering(client: httpx.Client, url: str) -> None:
    port = int(url.rsplit(":", 1)[1])
    body = json.dumps({"question": QUESTIONS[5]}).encode()
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", port)) as gone:
            gone.sendall(b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    assert client.post("/ask", json={"question": QUESTIONS[5]}).status_code == 200
    assert client.get("/health").json()["ready"] is True


# --- the page without JavaScript ---------------------------------------------------------------------------


def test_the_page_is_a_form_that_posts_and_names_its_field(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<form id="ask-form" method="post" action="/"' in page.text
    assert '<label for="q">' in page.text and 'id="q" name="q"' in page.text
    assert '<meta name="viewport"' in page.text and 'lang="en"' in page.text
    assert not re.search(r"""(src|href)=["']https?://""", page.text)  # nothing from another host
    for asset in ("/static/page.css", "/static/page.js"):
        assert client.get(asset).status_code == 200


def test_a_form_post_shows_the_answers_marked_with_links_into_the_documents(client: httpx.Client, index: spasmqa.Index) -> None:
    answer = index.ask(QUESTIONS[0], k=5)
    page = client.post("/", data={"q": QUESTIONS[0]}).text
    assert page.count('<li class="passage">') == len(answer)
    top = answer[0]
    assert f"<mark style=\"font-weight:600\">{_escaped(top.highlights[0].text)}</mark>" in page
    link = re.search(r'href="(/view/[^"]+)"', page)
    assert link is not None
    view = client.get(link.group(1).replace("&amp;", "&"))
    document = index.get_document(top.doc_id)
    marked = re.search(r'<mark id="passage" class="span">(.*?)</mark>', view.text, re.S)
    assert marked is not None and marked.group(1) == _escaped(document.text[top.start : top.end])
    assert client.get("/", params={"q": QUESTIONS[0]}).text.count('<li class="passage">') == len(answer)


def test_the_page_declines_what_the_documents_do_not_cover(client: httpx.Client) -> None:
    page = client.post("/", data={"q": UNCOVERED}).text
    assert "These documents do not cover that" in page and "The closest passages, which are not answers" in page
    assert "<mark" not in page  # a declined answer marks no sentence as answering


def test_page_errors_are_pages(client: httpx.Client) -> None:
    empty = client.post("/", data={"q": "  "})
    assert empty.status_code == 400 and 'role="alert"' in empty.text and "empty" in empty.text
    missing = client.get("/view/no-such-article")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")


def _escaped(text: str) -> str:
    import html

    return html.escape(text).replace("\n", "<br>")


# --- escaping, on a corpus written to attack the page ------------------------------------------------------

HOSTILE = '<script>alert("title")</script> Cramps & "quotes"'


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory: pytest.TempPathFactory) -> spasmqa.Index:
    folder = tmp_path_factory.mktemp("hostile-corpus")
    (folder / "attack.md").write_text(
        f"# {HOSTILE}\n\n## Night cramps <img src=x onerror=alert(1)>\n\n"
        "Night cramps in the calf <script>alert('text')</script> are eased by stretching the calf before bed. "
        "Drinking water during the day also helps some people with cramps.\n",
        encoding="utf-8",
    )
    (folder / "plain.md").write_text(
        "# Eyelid twitching\n\nAn eyelid twitch is usually harmless and goes away with rest and less caffeine.\n",
        encoding="utf-8",
    )
    return spasmqa.build(folder, tmp_path_factory.mktemp("hostile-index") / "index")


def test_document_text_and_questions_are_escaped_everywhere(hostile_index: spasmqa.Index) -> None:
    with serving(create_app(hostile_index)) as base, httpx.Client(base_url=base, timeout=120) as c:
        question = "how do I ease night cramps <script>alert('q')</script>"
        answers = c.post("/", data={"q": question}).text
        view = c.get("/view/attack", params={"start": 0, "end": 10, "q": question}).text
        fragment = c.get("/answer", params={"q": question}).text
        listed = c.get("/documents").json()
    for html_text in (answers, view, fragment):
        assert "<script>alert" not in html_text and "<img src=x" not in html_text
        assert "&lt;script&gt;alert(" in html_text
    assert any(d["title"] == HOSTILE for d in listed)  # JSON carries the text as it is


# --- the command ---------------------------------------------------------------------------------------------


def _wait_for_health(process: subprocess.Popen[str], base: str) -> dict[str, object]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"spasmqa serve exited {process.returncode}: {process.stderr.read() if process.stderr else ''}")
        try:
            return httpx.get(f"{base}/health", timeout=5).json()  # type: ignore[no-any-return]
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("spasmqa serve did not answer /health within 300 s")


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    return stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_spasmqa_serve_warms_the_index_before_it_opens_the_port(index: spasmqa.Index, spasmqa_home: Path, workers: int) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "spasmqa", "serve", "--index", str(index.path), "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=subprocess_env(spasmqa_home), cwd=REPO,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert _wait_for_health(process, base)["ready"] is True
        answer = httpx.post(f"{base}/ask", json={"question": QUESTIONS[1], "k": 3}, timeout=120).json()
        assert answer == json.loads(json.dumps(index.ask(QUESTIONS[1], k=3).to_dict()))
    finally:
        stderr = _stop(process)
    warm = [i for i, line in enumerate(stderr.splitlines()) if "loaded and warm" in line]
    listening = [i for i, line in enumerate(stderr.splitlines()) if "Uvicorn running on" in line]
    assert len(warm) == workers and listening, stderr
    if workers == 1:
        assert warm[0] < listening[0], stderr


def test_spasmqa_serve_on_a_taken_port_says_so_before_loading(spasmqa_home: Path, index: spasmqa.Index) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = run_command(spasmqa_command("serve", "--index", str(index.path), "--port", str(port)), spasmqa_home, timeout=120)
    assert done.returncode == 1
    assert f"127.0.0.1:{port}" in done.stderr and "--port" in done.stderr and "loaded" not in done.stderr
