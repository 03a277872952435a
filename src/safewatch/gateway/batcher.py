"""Micro-batching: concurrent detector calls are merged into one `check_batch`, run off the event loop.

No timer: while one batch runs in the worker thread, new texts queue up, and the next batch takes everything
queued. A lone request therefore waits for nothing, and under load batches grow by themselves, which is where
the embedding model is fastest per text.

With an LLM judge configured, the batch thread runs only the local cascade; the ambiguous verdicts go to the
judge in a task of their own, so a judge call (up to its timeout) delays only the requests it concerns.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from safewatch.aio import cancel_and_wait
from safewatch.verdict import Verdict

log = logging.getLogger(__name__)


class BatcherClosed(RuntimeError):
    pass


@dataclass
class _Item:
    text: str
    role: str
    future: asyncio.Future


class MicroBatcher:
    def __init__(self, detector, *, max_batch: int = 64,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.detector = detector
        self._max_batch = max_batch
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Item] | None = None
        self._worker: asyncio.Task | None = None
        # One thread: batches run one after another, so the next batch is as large as it can be.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="safewatch-detect")
        # Judge reviews wait on the network, not the CPU: several may be in flight while batches go on.
        self._review_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="safewatch-review")
        self._reviews: set[asyncio.Task] = set()

    @property
    def _judged(self) -> bool:
        # Read on each batch: the server may swap the detector after making the batcher.
        return getattr(self.detector, "judge", None) is not None

    async def start(self) -> None:
        if self._worker is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run(), name="safewatch-batcher")

    async def stop(self) -> None:
        await cancel_and_wait(self._worker)
        self._worker = None
        for task in list(self._reviews):
            await cancel_and_wait(task)
        if self._queue is not None:
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if not item.future.done():
                    item.future.set_exception(BatcherClosed("the detector is shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._review_executor.shutdown(wait=False, cancel_futures=True)

    async def check_many(self, texts: list[str], role: str = "input") -> list[Verdict]:
        if self._worker is None:
            await self.start()
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        futures = []
        for text in texts:
            future = loop.create_future()
            self._queue.put_nowait(_Item(text, role, future))
            futures.append(future)
        return list(await asyncio.gather(*futures))

    async def check(self, text: str, role: str = "input") -> Verdict:
        return (await self.check_many([text], role))[0]

    def _take_batch(self, first: _Item) -> list[_Item]:
        assert self._queue is not None
        batch = [first]
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = self._take_batch(await self._queue.get())
            if self._on_batch is not None:
                self._on_batch(len(batch))
            for role in ("input", "output"):
                items = [i for i in batch if i.role == role and not i.future.cancelled()]
                if items:
                    await self._check(loop, items, role)

    async def _check(self, loop: asyncio.AbstractEventLoop, items: list[_Item], role: str) -> None:
        try:
            check = functools.partial(self.detector.check_batch, [i.text for i in items], role)
            if self._judged:
                check = functools.partial(check, review=False)
            verdicts = await loop.run_in_executor(self._executor, check)
            if len(verdicts) != len(items):
                raise RuntimeError(f"detector returned {len(verdicts)} verdicts for {len(items)} texts")
        except Exception as exc:
            if len(items) > 1:
                # One bad text must not fail the unrelated requests batched with it: check them one by one.
                for item in items:
                    await self._check(loop, [item], role)
                return
            if not items[0].future.done():
                items[0].future.set_exception(exc)  # the caller decides, per policy
            return
        ambiguous = [k for k, v in enumerate(verdicts) if self.detector.needs_review([v])] if self._judged else []
        if ambiguous:
            # The sure verdicts answer now; only the requests the judge must read wait for it.
            sure = sorted(set(range(len(items))) - set(ambiguous))
            _resolve([items[k] for k in sure], [verdicts[k] for k in sure])
            task = asyncio.create_task(self._review(loop, [items[k] for k in ambiguous], [verdicts[k] for k in ambiguous],
                                                    role), name="safewatch-judge-review")
            self._reviews.add(task)
            task.add_done_callback(self._reviews.discard)
            return
        _resolve(items, verdicts)

    async def _review(self, loop: asyncio.AbstractEventLoop, items: list[_Item], verdicts: list[Verdict],
                      role: str) -> None:
        try:
            verdicts = await loop.run_in_executor(self._review_executor, self.detector.review,
                                                  [i.text for i in items], verdicts, role)
        except asyncio.CancelledError:
            for item in items:
                if not item.future.done():
                    item.future.set_exception(BatcherClosed("the detector is shutting down"))
            raise
        except Exception:
            # The judge is a second opinion: whatever breaks there, the local verdicts stand.
            log.exception("judge review failed; the local verdicts stand")
        _resolve(items, verdicts)


def _resolve(items: list[_Item], verdicts: list[Verdict]) -> None:
    for item, verdict in zip(items, verdicts, strict=True):
        if not item.future.done():
            item.future.set_result(verdict)
