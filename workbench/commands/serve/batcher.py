"""The micro-batcher: concurrent requests gathered into one forward pass.

Requests are queued by the HTTP handlers; one asyncio task takes them off the queue in
batches of up to ``max_batch`` and runs each batch on a single worker thread (the model never
runs twice at once, and the event loop keeps answering /health while it computes). While a
batch computes, new requests pile up in the queue and form the next batch: under load the
batch size follows the load by itself.

Waiting for stragglers costs latency, so a batch waits (at most ``max_wait_ms`` after its
first request) only when more requests are expected: some are already arriving (their bodies
being read or decoded, counted by ``arrivals``), or the previous batch was bigger than the
present one (recent concurrency). A lone client never waits: its request runs at once.

A batch whose ``predict`` raises is retried one item at a time, so that one bad request fails
alone; its error goes to its own handler, never to the server.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("workbench.serve")

_DONE = object()  # end of a stream


@dataclass
class _Item:
    value: Any
    future: asyncio.Future[Any]
    stream: asyncio.Queue[Any] | None = None  # chunks of a streamed output, then _DONE
    cancelled: threading.Event = field(default_factory=threading.Event)
    sent: bool = False  # a chunk of this stream went out (a failed batch is then not retried)


@dataclass
class BatchStats:
    """Counters for /ready and the tests: batches run and the items they held."""

    batches: int = 0
    items: int = 0
    largest: int = 0

    def add(self, n: int) -> None:
        self.batches += 1
        self.items += n
        self.largest = max(self.largest, n)


class MicroBatcher:
    """``await submit(x)`` -> ``predict([..., x, ...])[i]``, with concurrent submits batched.

    ``context`` is entered around every call of ``predict`` on the worker thread (inference
    mode and autocast are thread-local, so they are entered there, not in the event loop)."""

    def __init__(self, predict: Callable[[list[Any]], Any], *, max_batch: int, max_wait_ms: float,
                 stream: bool = False,
                 context: Callable[[], AbstractContextManager[Any]] | None = None) -> None:
        self.predict, self.max_batch, self.max_wait = predict, max_batch, max_wait_ms / 1000
        self.stream, self.context = stream, context
        self.arrivals: Any = None  # .count: requests admitted but not yet submitted (guards.Arrivals)
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="workbench-serve-model")
        self._task: asyncio.Task[None] | None = None
        self._last_size = 1
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="workbench-serve-batcher")

    async def stop(self) -> None:
        """After the server drained: no request is waiting any more."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)

    def run_sync(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the model thread under the context (warm-up, tests)."""
        return self._executor.submit(self._call, fn).result()

    # ------------------------------------------------------------------ requests
    async def submit(self, value: Any) -> Any:
        """The output for ``value`` (raises what predict raised for it alone)."""
        item = self._enqueue(value)
        return await item.future

    async def submit_stream(self, value: Any) -> tuple[str, Any]:
        """(first chunk, async iterator of the rest) for a streamed output; the first chunk is
        awaited here so that an error before any output is still an HTTP error status."""
        item = self._enqueue(value, stream=True)
        assert item.stream is not None
        first = await item.stream.get()
        if isinstance(first, BaseException):
            raise first
        if first is _DONE:
            return "", _empty()
        return first, self._rest(item)

    def _enqueue(self, value: Any, stream: bool = False) -> _Item:
        loop = asyncio.get_running_loop()
        item = _Item(value, loop.create_future(), asyncio.Queue() if stream else None)
        self._queue.put_nowait(item)
        return item

    async def _rest(self, item: _Item) -> Any:
        assert item.stream is not None
        try:
            while True:
                chunk = await item.stream.get()
                if chunk is _DONE:
                    return
                if isinstance(chunk, BaseException):  # after the first chunk: end the text
                    yield f"\n[error: {chunk}]\n"
                    return
                yield chunk
        finally:  # the client left (or the stream ended): stop generating for it
            item.cancelled.set()

    # ------------------------------------------------------------------ the batching loop
    async def _next_batch(self) -> list[_Item]:
        batch = [await self._queue.get()]
        deadline = time.perf_counter() + self.max_wait
        while len(batch) < self.max_batch:
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            arriving = self.arrivals is not None and self.arrivals.count > 0
            expecting = arriving or len(batch) < self._last_size
            remaining = deadline - time.perf_counter()
            if len(batch) >= self.max_batch or not expecting or remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        self._last_size = len(batch)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            batch = [i for i in batch if not i.future.cancelled()]
            if not batch:
                continue
            self.stats.add(len(batch))
            work = self._run_stream if self.stream else self._run_batch
            try:
                await loop.run_in_executor(self._executor, work, batch)
            except Exception as e:  # noqa: BLE001 - never let the loop die
                log.exception("batch failed")
                for item in batch:
                    self._fail(item, e)

    def _call(self, fn: Callable[[], Any]) -> Any:
        if self.context is None:
            return fn()
        with self.context():
            return fn()

    def _run_batch(self, batch: list[_Item]) -> None:
        """On the model thread: one predict for the batch; on failure, one per item."""
        try:
            outputs = self._call(lambda: list(self.predict([i.value for i in batch])))
            if len(outputs) != len(batch):
                raise RuntimeError(f"predict returned {len(outputs)} outputs for {len(batch)} "
                                   "inputs; it must return one per input")
        except Exception as e:  # noqa: BLE001 - retry alone, so one bad input fails alone
            if len(batch) == 1:
                self._fail(batch[0], e)
                return
            for item in batch:
                self._run_batch([item])
            return
        for item, out in zip(batch, outputs, strict=True):
            self._resolve(item, out)

    def _run_stream(self, batch: list[_Item]) -> None:
        """On the model thread: step the batched generator, handing each item its chunk."""
        try:
            self._call(lambda: self._stream_steps(batch))
        except Exception as e:  # noqa: BLE001
            if len(batch) > 1 and not any(i.sent for i in batch):
                for item in batch:  # nothing sent yet: retry alone
                    self._run_stream([item])
                return
            for item in batch:
                self._push(item, e)
            return
        for item in batch:
            self._push(item, _DONE)

    def _stream_steps(self, batch: list[_Item]) -> None:
        steps: Iterator[list[str]] = iter(self.predict([i.value for i in batch]))
        try:
            for chunks in steps:
                for item, chunk in zip(batch, chunks, strict=True):
                    if chunk:
                        self._push(item, chunk)
                if all(i.cancelled.is_set() for i in batch):
                    break  # every client left
        finally:
            close = getattr(steps, "close", None)
            if close is not None:
                close()

    # ------------------------------------------------------------------ thread -> loop
    def _resolve(self, item: _Item, value: Any) -> None:
        assert self._loop is not None

        def set_result() -> None:
            if not item.future.done():
                item.future.set_result(value)

        self._loop.call_soon_threadsafe(set_result)

    def _fail(self, item: _Item, error: BaseException) -> None:
        if item.stream is not None:
            self._push(item, error)
            return
        assert self._loop is not None

        def set_exception() -> None:
            if not item.future.done():
                item.future.set_exception(error)

        self._loop.call_soon_threadsafe(set_exception)

    def _push(self, item: _Item, chunk: Any) -> None:
        assert self._loop is not None and item.stream is not None
        item.sent = item.sent or isinstance(chunk, str)
        self._loop.call_soon_threadsafe(item.stream.put_nowait, chunk)


async def _empty() -> Any:
    return
    yield  # an async generator with nothing in it
