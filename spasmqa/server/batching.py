"""Questions that arrive while another is being answered wait, then go to ``Index.ask_many`` together.

One call for a batch runs each model once for all of its questions (the reranker's pairs sorted by
length across them), which is what keeps throughput up with many clients on two cores; ``ask_many``
gives the same answers as ``ask`` (tested), so batching never changes what a client gets.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from spasmqa.answers import Index
from spasmqa.results import Answer


@dataclass(frozen=True)
class _Request:
    question: str
    k: int
    mode: str
    rerank: bool
    future: asyncio.Future[Answer] = field(compare=False)

    @property
    def options(self) -> tuple[int, str, bool]:
        return self.k, self.mode, self.rerank


class Batcher:
    """Answers questions one batch at a time, on a worker thread, in arrival order."""

    def __init__(self, index: Index, batch_size: int) -> None:
        self._index = index
        self._batch_size = batch_size
        self._queue: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task[None] | None = None

    async def ask(self, question: str, *, k: int, mode: str, rerank: bool) -> Answer:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._answer_batches(self._queue))
        request = _Request(question, k, mode, rerank, asyncio.get_running_loop().create_future())
        await self._queue.put(request)
        return await request.future

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    async def _answer_batches(self, queue: asyncio.Queue[_Request]) -> None:
        while True:
            waiting = [await queue.get()]
            while len(waiting) < self._batch_size and not queue.empty():
                waiting.append(queue.get_nowait())
            # a client that timed out or went away no longer waits: its question is not answered
            waiting = [request for request in waiting if not request.future.done()]
            for options in dict.fromkeys(request.options for request in waiting):
                await self._answer([r for r in waiting if r.options == options])

    async def _answer(self, batch: list[_Request]) -> None:
        k, mode, rerank = batch[0].options
        try:
            answers = await run_in_threadpool(
                self._index.ask_many, [r.question for r in batch], k=k, mode=mode, rerank=rerank
            )
        except Exception as exc:  # noqa: BLE001 - each waiting request gets the error its own call raises
            if len(batch) > 1:  # one unusable question must not fail the others: answer them one by one
                for request in batch:
                    await self._answer([request])
            elif not batch[0].future.done():
                batch[0].future.set_exception(exc)
            return
        for request, answer in zip(batch, answers):
            if not request.future.done():
                request.future.set_result(answer)
