"""The pymilvus client as spasmqa uses it: every call under a timeout, every failure a spasmqa error naming the fix.

A server that goes away or freezes gives ``StoreUnavailableError`` within the timeout instead of a hang;
an operation Milvus refuses gives ``StoreError``. Used by the reading (``milvus_store``) and the writing
(``milvus_write``) sides of the Milvus store.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from spasmqa.errors import StoreError, StoreUnavailableError
from spasmqa.store.manifest import StoreInfo

logger = logging.getLogger(__name__)
T = TypeVar("T")

TIMEOUT_SECONDS = 10.0  # per call; SPASMQA_MILVUS_TIMEOUT overrides it
# Bulk calls take minutes, not seconds, at 10^6 rows: a build's (flushing, indexing) and the checks and reads
# of opening an index (counting a generation's rows took over 10 s in Milvus Lite). They get this many timeouts.
BULK_PATIENCE = 30
BULK_METHODS = frozenset({"insert", "flush", "create_index", "load_collection", "delete"})
KEEPALIVE_MS = 300_000  # gRPC's default minimum interval between a client's pings


def check_reachable(store: StoreInfo) -> None:
    client = Client.connect(store)
    try:
        client.call("list_collections")
    finally:
        client.close()


def rebuild_hint(path: Path, store: StoreInfo) -> str:
    return f"rebuild it with `spasmqa build --out {path} --store milvus:{store.uri}`"


class Client:
    """A ``MilvusClient`` whose every call has a timeout and whose failures are spasmqa errors naming the fix."""

    def __init__(self, client: Any, uri: str) -> None:
        self._client = client
        self.uri = uri

    @classmethod
    def connect(cls, store: StoreInfo) -> Client:
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:
            raise StoreError(
                "the Milvus store needs pymilvus and milvus-lite; install them with `pip install 'spasmqa[milvus]'`"
            ) from exc
        uri = str(store.uri)
        token = os.environ.get("SPASMQA_MILVUS_TOKEN", "")
        # pymilvus pings every 10 s even between calls; a gRPC server with default settings (Milvus Lite's) allows
        # one ping per 5 minutes, answers more with GOAWAY "too many pings", and the reconnect then failed (seen in CI
        # while a slow build embedded). Per-call timeouts, not pings, are what catch a dead server here. The connection
        # is dedicated: pymilvus shares one per address among clients, with the options of whichever came first.
        options = {"grpc.keepalive_time_ms": KEEPALIVE_MS, "grpc.keepalive_permit_without_calls": 0}
        return cls(_guarded(uri, lambda: MilvusClient(
            uri=uri, token=token, timeout=_timeout(), grpc_options=options, dedicated=True
        )), uri)

    def call(self, method: str, *args: Any, bulk: bool = False, **kwargs: Any) -> Any:
        """``MilvusClient.<method>(*args, **kwargs)`` with the timeout: it bounds pymilvus's retries and reconnects too.

        ``bulk`` (and the bulk methods) wait ``BULK_PATIENCE`` timeouts: a call over every row, not a question's.
        """
        operation = getattr(self._client, method)
        timeout = _timeout() * (BULK_PATIENCE if bulk or method in BULK_METHODS else 1)
        return _guarded(self.uri, lambda: operation(*args, timeout=timeout, **kwargs), timeout)

    def close(self) -> None:
        self._client.close()

    def drop_quietly(self, name: str) -> None:
        try:
            self._client.drop_collection(name)
        except Exception as exc:  # noqa: BLE001 - cleaning up after another failure, which is the one raised
            logger.warning("could not drop Milvus collection %s at %s: %s", name, self.uri, exc)


def _guarded(uri: str, operation: Callable[[], T], timeout: float | None = None) -> T:
    import grpc
    from pymilvus import Status
    from pymilvus.exceptions import MilvusException, MilvusUnavailableException

    try:
        return operation()
    except (MilvusException, grpc.RpcError) as exc:
        detail = exc.message if isinstance(exc, MilvusException) else exc.details() or str(exc.code())
        unreachable = isinstance(exc, MilvusUnavailableException) or (
            exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            if isinstance(exc, grpc.RpcError)
            else exc.code == Status.CONNECT_FAILED
        )
        if unreachable:
            raise StoreUnavailableError(
                f"the Milvus server at {uri} is not answering ({detail}; this call waited at most {timeout or _timeout():g} s); "
                "start it, check the address, or raise SPASMQA_MILVUS_TIMEOUT"
            ) from exc
        raise StoreError(f"Milvus at {uri} refused the operation: {detail}") from exc


def _timeout() -> float:
    configured = os.environ.get("SPASMQA_MILVUS_TIMEOUT")
    try:
        return float(configured) if configured else TIMEOUT_SECONDS
    except ValueError:
        raise StoreError(f"SPASMQA_MILVUS_TIMEOUT={configured!r} is not a number of seconds; set it to e.g. 30") from None
