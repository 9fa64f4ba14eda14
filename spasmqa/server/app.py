"""The ASGI app: a JSON API and the page over one loaded ``Index``, with its limits and its errors.

FastAPI, because the OpenAPI schema at ``/openapi.json`` then comes from the very dataclasses that
``Answer.to_dict()`` serialises and from the request model that enforces the limits, so the schema
cannot drift from what the server does. Its interactive docs are off: they load scripts from a CDN.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations at run time, and the
# body model of POST /ask is made per app (its limits are the app's), so it exists only as a local name.
import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, Optional
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spasmqa._version import __version__
from spasmqa.answers import Index
from spasmqa.corpus import Document
from spasmqa.display import checked_span
from spasmqa.errors import (
    AnswerTimeoutError,
    CorpusError,
    DocumentNotFoundError,
    IndexDirectoryError,
    QueryError,
    RequestTooLargeError,
    SpasmqaError,
    StoreError,
)
from spasmqa.results import Answer
from spasmqa.retrieval import DEFAULT_MODE, MODES
from spasmqa.server import page
from spasmqa.server.batching import Batcher
from spasmqa.server.settings import ServerSettings

logger = logging.getLogger("spasmqa.server")

STATIC = Path(__file__).parent / "static"
PAGE_PASSAGES = 5
WARM_UP_QUESTION = "what helps a muscle cramp?"
_PAGE_PATHS = ("/view/",)  # and "/": errors there are shown as a page, elsewhere as JSON


class Health(BaseModel):
    ready: bool = Field(description="whether the index answers a question now")
    problem: str = Field(description="why not, when not ready")
    index: str
    model: str
    reranker: str
    store: str
    documents: int
    chunks: int
    version: str
    limits: dict[str, float]


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    source: str
    publisher: str | None
    chars: int


class Span(BaseModel):
    start: int
    end: int
    text: str


class DocumentText(DocumentSummary):
    text: str
    span: Span | None = Field(None, description="the characters start:end of text, when both were given")


class ErrorBody(BaseModel):
    type: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


def create_app(index: Index, settings: Optional[ServerSettings] = None) -> FastAPI:
    """The app over ``index``, enforcing ``settings``; it answers one question each way first, so every model
    is loaded before the first request (``/health`` says ``ready``)."""
    settings = settings or ServerSettings()
    for rerank in (True, False):
        index.ask(WARM_UP_QUESTION, k=1, rerank=rerank)
    batcher = Batcher(index, settings.batch_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await batcher.close()

    app = FastAPI(
        title="spasmqa", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
        description="Passages of a document collection that answer a question, with exact provenance.",
        responses={code: {"model": ErrorResponse} for code in (400, 404, 413, 422, 503, 504)},
    )
    app.add_middleware(_BodyLimit, max_bytes=settings.max_body_bytes)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_error_handlers(app)
    ask_request = _ask_request_model(settings)

    async def within_timeout(answering: Awaitable[Answer]) -> Answer:
        try:
            return await asyncio.wait_for(answering, settings.timeout_seconds)
        except asyncio.TimeoutError:
            raise AnswerTimeoutError(
                f"no answer within {settings.timeout_seconds:g} s (the server is busy or slow); try again, or start "
                "the server with a larger --timeout"
            ) from None

    async def answer(question: str, k: int, mode: str, rerank: bool) -> Answer:
        return await within_timeout(batcher.ask(question, k=k, mode=mode, rerank=rerank))

    @app.post("/ask", response_model=Answer, summary="The passages that answer a question, best first")
    async def ask(request: ask_request) -> dict[str, Any]:  # type: ignore[valid-type]
        asked = request.model_dump()  # type: ignore[attr-defined]
        return (await answer(asked["question"], asked["k"], asked["mode"], asked["rerank"])).to_dict()

    @app.get("/documents", response_model=list[DocumentSummary], summary="The documents of the index")
    def documents() -> list[DocumentSummary]:
        return [_summary(document) for document in index.documents()]

    @app.get("/documents/{doc_id}", response_model=DocumentText, summary="One document's text, a span marked")
    def document(doc_id: str, start: int | None = None, end: int | None = None) -> DocumentText:
        found = index.get_document(doc_id)
        span = checked_span(found, start, end)
        marked = None if span is None else Span(start=span[0], end=span[1], text=found.text[span[0] : span[1]])
        return DocumentText(**_summary(found).model_dump(), text=found.text, span=marked)

    @app.get("/health", response_model=Health, summary="What is loaded, and whether it answers",
             responses={503: {"model": Health, "description": "the index does not answer"}})
    async def health() -> JSONResponse:
        # the fast path end to end (a store that went away, a Milvus server, makes this server not ready), on its
        # own thread: behind the question queue a busy server would look dead to whatever restarts dead ones
        try:
            await within_timeout(run_in_threadpool(index.ask, WARM_UP_QUESTION, k=1, mode=DEFAULT_MODE, rerank=False))
            problem = ""
        except SpasmqaError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        manifest = index.manifest
        report = Health(
            ready=not problem, problem=problem, index=str(index.path), model=manifest.model_id,
            reranker=index.reranker.reranker_id, store=manifest.store.spec, documents=len(manifest.documents),
            chunks=manifest.chunk_count, version=__version__, limits=settings.to_dict(),
        )
        return JSONResponse(report.model_dump(), 503 if problem else 200)

    count = len(index.manifest.documents)

    async def page_for(question: str) -> HTMLResponse:
        if not question:
            return HTMLResponse(page.page(page.intro_section(), title="spasmqa", documents=count))
        body, status = await answer_or_error(question)
        return HTMLResponse(page.page(body, title=f"{question[:80]} · spasmqa", question=question, documents=count), status)

    async def answer_or_error(question: str) -> tuple[str, int]:
        try:
            if len(question) > settings.max_question_chars:
                raise QueryError(f"the question is {len(question)} characters long; this server takes up to "
                                 f"{settings.max_question_chars}: shorten it")
            return page.answer_section(await answer(question, PAGE_PASSAGES, DEFAULT_MODE, True)), 200
        except SpasmqaError as exc:
            return page.error_section(str(exc)), status_of(exc)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home(q: str = "") -> HTMLResponse:
        return await page_for(q)

    @app.post("/", response_class=HTMLResponse, include_in_schema=False)
    async def home_form(request: Request) -> HTMLResponse:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))  # the page's form: one field, q
        return await page_for(form.get("q", [""])[0])

    @app.get("/answer", response_class=HTMLResponse, include_in_schema=False)
    async def answer_fragment(q: str = "") -> HTMLResponse:
        body, status = await answer_or_error(q)
        return HTMLResponse(body, status)

    @app.get("/view/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    def view(doc_id: str, start: int | None = None, end: int | None = None, q: str = "") -> HTMLResponse:
        found = index.get_document(doc_id)
        start, end = checked_span(found, start, end) or (None, None)
        body = page.document_view(found, start, end, question=q)
        return HTMLResponse(page.page(body, title=f"{found.title} · spasmqa", question=q, documents=count))

    return app


def _ask_request_model(settings: ServerSettings) -> type[BaseModel]:
    """The body of ``POST /ask``, its limits those of this server (so the schema shows them)."""

    class AskRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        question: str = Field(min_length=1, max_length=settings.max_question_chars, description="in plain words")
        k: int = Field(5, ge=1, le=settings.max_k, description="how many passages")
        mode: Literal[MODES] = Field(DEFAULT_MODE, description="the retriever")  # type: ignore[valid-type]
        rerank: bool = Field(True, description="reorder with the cross-encoder (false: the faster path)")

    return AskRequest


def _summary(document: Document) -> DocumentSummary:
    return DocumentSummary(
        doc_id=document.doc_id, title=document.title, source=document.source, publisher=document.publisher,
        chars=len(document.text),
    )


def status_of(exc: SpasmqaError) -> int:
    """The HTTP status of a spasmqa error: the client's fault (4xx), or the index's or the server's (5xx)."""
    statuses: tuple[tuple[type[SpasmqaError], int], ...] = (
        (DocumentNotFoundError, 404),
        (RequestTooLargeError, 413),
        (QueryError, 400),
        (AnswerTimeoutError, 504),
        (IndexDirectoryError, 503),
        (StoreError, 503),
        (CorpusError, 503),
    )
    return next((status for kind, status in statuses if isinstance(exc, kind)), 500)


def _error(request: Request, status: int, kind: str, message: str) -> Response:
    if request.url.path == "/answer":  # the page's script puts this into the page it shows
        return HTMLResponse(page.error_section(message), status)
    if request.url.path == "/" or request.url.path.startswith(_PAGE_PATHS):
        return HTMLResponse(page.page(page.error_section(message), title="spasmqa"), status)
    return JSONResponse({"error": {"type": kind, "message": message}}, status)


def _add_error_handlers(app: FastAPI) -> None:
    async def spasmqa_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SpasmqaError)
        status = status_of(exc)
        if status >= 500:
            logger.warning("%s %s: %s", request.method, request.url.path, exc)
        return _error(request, status, type(exc).__name__, str(exc))

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        return _error(request, 422, "ValidationError", f"the request does not fit the schema at /openapi.json: {problems}")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = f"no such page: {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        return _error(request, exc.status_code, "HTTPError", message)

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("%s %s failed", request.method, request.url.path)
        return _error(request, 500, "InternalError", "the server failed on this request; its log has the details")

    app.add_exception_handler(SpasmqaError, spasmqa_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


class _BodyLimit:
    """Reads a request's body up to ``max_bytes`` before the app sees it; a larger one gets 413 unread."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its body arrived
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = (f"the request body is over this server's {self.max_bytes} bytes; send a shorter question "
                   "or start the server with a larger --max-body-bytes")
        response = _error(Request(scope), 413, RequestTooLargeError.__name__, message)
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # what comes after the body: a disconnect
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
