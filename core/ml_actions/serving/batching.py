"""Micro-batching: concurrent requests for one model become one model call.

A Spark transform costs ~75 ms whether it scores one row or a hundred, so the first request
waits up to `max_wait` for company (or until `max_rows` rows are queued), and the rows of all
waiting requests go through the model together. One batch per model runs at a time; requests
arriving meanwhile form the next batch, so the batch grows with the load on its own. If a
batch raises, its requests are retried one by one, so a row that breaks the model fails only
the request that sent it.

A model that scores a row in microseconds (an ONNX form) gains nothing from company: with
`inline_rows` set, a request of at most that many rows is scored at once on the event loop,
without a queue, a wait or a thread hop (each would cost more than the model); larger ones
still go through the batch.

Nobody waits forever. The batch task is one coroutine per model: if it dies of an unexpected
exception (a bug, not a model error; those are handed to their requests), every request
waiting for it gets that exception at once (its caller answers 500) and the next request
starts a fresh task. And a batched request that has no answer after `timeout_s` (a hung
model, a starved thread pool) raises `ScoringTimeout` (its caller answers 504): its rows are
dropped from the queue if the batch has not taken them yet, and a late answer is discarded.
An inline request runs on the event loop and cannot be interrupted, which is why only models
that answer in microseconds are scored inline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

import numpy as np
import pandas as pd

Scorer = Callable[[pd.DataFrame], np.ndarray]
Waiting = list[tuple[pd.DataFrame, asyncio.Future]]
log = logging.getLogger("ml_actions.gateway")


class ScoringTimeout(TimeoutError):
    """The model gave no answer within the per-request timeout (the caller answers 504)."""


class BatcherStopped(RuntimeError):
    """The batch task was cancelled while requests were waiting for it."""


class MicroBatcher:
    def __init__(self, score: Scorer, executor: Executor, max_rows: int, max_wait_s: float,
                 on_batch: Callable[[int], None] | None = None, inline_rows: int = 0,
                 timeout_s: float | None = None):
        self._score = score
        self.timeout_s = timeout_s
        self.inline_rows = inline_rows
        self._executor = executor
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self._on_batch = on_batch or (lambda rows: None)
        self._pending: Waiting = []
        self._in_batch: Waiting = []  # taken from the queue, being scored
        self._pending_rows = 0
        self._wakeup: asyncio.Event | None = None
        self._full: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._closed = False

    async def score(self, frame: pd.DataFrame) -> np.ndarray:
        """P(fraud) for `frame`'s rows, computed in the next batch."""
        if len(frame) <= self.inline_rows:
            scores = self._score(frame)
            self._on_batch(len(frame))
            return scores
        if self._closed:  # released while this request was in flight: score it alone
            return await self._bounded(self._call(frame))
        if self._task is None:
            self._start()
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending.append((frame, future))
        self._pending_rows += len(frame)
        self._wakeup.set()
        if self._pending_rows >= self.max_rows:
            self._full.set()
        return await self._bounded(future)

    def score_now(self, score: Callable[[], np.ndarray], rows: int) -> np.ndarray | None:
        """`score()` at once on the event loop if a request of `rows` rows is scored inline
        here (counted as a batch like any inline call), else None: batch it with `score`.
        For a caller that has the model call ready without a DataFrame (the columnar path)."""
        if rows > self.inline_rows:
            return None
        scores = score()
        self._on_batch(rows)
        return scores

    async def _bounded(self, answer: Awaitable[np.ndarray]) -> np.ndarray:
        """`answer`, or `ScoringTimeout` after `timeout_s` (the wait is cancelled, not the
        model call already running in a thread: its result is discarded)."""
        if self.timeout_s is None:
            return await answer
        try:
            return await asyncio.wait_for(answer, self.timeout_s)
        except TimeoutError:
            raise ScoringTimeout(f"the model gave no answer within {self.timeout_s:g} s "
                                 "(gateway.request_timeout_seconds)") from None

    def _start(self) -> None:
        self._wakeup, self._full = asyncio.Event(), asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task) -> None:
        """A task cancelled before its first step never ran `_run`'s handler: do it here."""
        if self._task is task:
            self._stop(BatcherStopped("the batch task was cancelled") if task.cancelled()
                       else task.exception() or BatcherStopped("the batch task stopped"))

    def _stop(self, error: BaseException) -> None:
        """The batch task is gone: whoever waits for it gets `error` now, and the next request
        starts a new task (the queue is emptied first, so nothing is scored twice)."""
        waiting = [item for item in self._pending + self._in_batch if not item[1].done()]
        self._task = None
        self._pending, self._in_batch, self._pending_rows = [], [], 0
        if waiting or not isinstance(error, BatcherStopped):
            log.error("a batch task stopped (%s: %s); %d waiting request(s) fail with it, "
                      "the next request starts a new task", type(error).__name__, error,
                      len(waiting))
        for _, future in waiting:
            _settle(future, error=error)

    def close(self) -> None:
        """Finish what is queued, then stop; later calls are scored unbatched."""
        self._closed = True
        if self._wakeup is not None:
            self._wakeup.set()
            self._full.set()

    async def _call(self, frame: pd.DataFrame) -> np.ndarray:
        loop = asyncio.get_running_loop()
        scores = await loop.run_in_executor(self._executor, self._score, frame)
        self._on_batch(len(frame))
        return scores

    async def _run(self) -> None:
        try:
            await self._batches()
            self._task = None  # closed and drained: nothing to hand over
        except asyncio.CancelledError:
            self._stop(BatcherStopped("the batch task was cancelled"))
            raise
        except Exception as err:  # noqa: BLE001 - a bug must not leave callers waiting
            self._stop(err)

    async def _batches(self) -> None:
        while True:
            if not self._pending:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._pending_rows < self.max_rows and self.max_wait_s > 0 and not self._closed:
                self._full.clear()
                try:
                    await asyncio.wait_for(self._full.wait(), self.max_wait_s)
                except TimeoutError:
                    pass
            batch, rows = [], 0
            while self._pending and (not batch or rows + len(self._pending[0][0]) <= self.max_rows):
                frame, future = self._pending.pop(0)
                self._pending_rows -= len(frame)
                if future.done():  # timed out (or its client left) while it waited
                    continue
                batch.append((frame, future))
                rows += len(frame)
            self._in_batch = batch
            await self._execute(batch)
            self._in_batch = []

    async def _execute(self, batch: Waiting) -> None:
        groups: dict[tuple, list] = {}
        for item in batch:  # rows with different columns cannot share one frame
            groups.setdefault(tuple(item[0].columns), []).append(item)
        for items in groups.values():
            frame = pd.concat([f for f, _ in items], ignore_index=True)
            try:
                scores = await self._call(frame)
            except Exception as err:  # noqa: BLE001 - the model's fault, handed to its callers
                if len(items) == 1:
                    _settle(items[0][1], error=err)
                    continue
                for single, future in items:
                    try:
                        _settle(future, value=await self._call(single))
                    except Exception as one_err:  # noqa: BLE001
                        _settle(future, error=one_err)
                continue
            start = 0
            for single, future in items:
                _settle(future, value=scores[start:start + len(single)])
                start += len(single)


def _settle(future: asyncio.Future, value: object = None, error: BaseException | None = None):
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
