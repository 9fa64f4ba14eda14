"""``spasmqa serve``: load the index, make the app (which warms every model), then listen."""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import asdict
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from spasmqa.answers import Index
from spasmqa.errors import ServeError
from spasmqa.server.app import create_app
from spasmqa.server.settings import ServerSettings

_CONFIG = "SPASMQA_SERVE_CONFIG"  # how the worker processes of --workers N learn the index and the limits


def serve(index_dir: str | Path | None, *, host: str, port: int, workers: int, settings: ServerSettings) -> None:
    """Serve the index at ``index_dir`` (default: the bundled corpus's) until interrupted."""
    if workers < 1:
        raise ServeError(f"--workers must be at least 1, got {workers}")
    _check_port_free(host, port)
    if workers == 1:
        app = warm_app(index_dir, settings)  # the model is warm before the port opens
        uvicorn.run(app, host=host, port=port, log_level="info")
        return
    # Each worker process loads and warms its own index before it takes a connection.
    os.environ[_CONFIG] = json.dumps({"index_dir": None if index_dir is None else str(index_dir), **asdict(settings)})
    uvicorn.run("spasmqa.server.run:app_from_environment", factory=True, host=host, port=port, workers=workers,
                log_level="info")


def warm_app(index_dir: str | Path | None, settings: ServerSettings) -> FastAPI:
    index = _load(index_dir)
    app = create_app(index, settings)
    print(f"spasmqa: index at {index.path} loaded and warm", file=sys.stderr, flush=True)
    return app


def app_from_environment() -> FastAPI:
    """The app of one worker of ``spasmqa serve --workers N`` (uvicorn's factory)."""
    config = json.loads(os.environ[_CONFIG])
    index_dir = config.pop("index_dir")
    return warm_app(index_dir, ServerSettings(**config))


def _load(index_dir: str | Path | None) -> Index:
    import spasmqa

    return spasmqa.default_index() if index_dir is None else spasmqa.load(index_dir)


def _check_port_free(host: str, port: int) -> None:
    """Refuse a taken port before the index loads, rather than after (uvicorn would only log it)."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another with --port, or stop "
                         "what is using it") from None
