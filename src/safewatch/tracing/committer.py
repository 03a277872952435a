"""Group commit: concurrent ingestion requests share one transaction (one commit, one writer at a time).

SQLite has one writer anyway; queueing requests and writing whatever has gathered in one transaction turns
that limit into batching, and cuts the per-commit cost that dominates small batches on any backend. A request
is answered only after the transaction holding its events has committed.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from safewatch.aio import cancel_and_wait
from safewatch.tracing.events import Change
from safewatch.tracing.writer import IngestionWriter, WriteResult

log = logging.getLogger("safewatch.tracing")

_Item = tuple[str, list[Change], str | None, asyncio.Future]


class GroupCommitter:
    def __init__(self, writer: IngestionWriter, max_events: int = 5000) -> None:
        self.writer = writer
        self.max_events = max_events
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="safewatch-group-commit")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
            self._queue = None

    async def write(self, project_id: str, changes: list[Change], score_source: str | None = None) -> WriteResult:
        if self._queue is None:  # not started: write directly
            return await run_in_threadpool(self.writer.apply, project_id, changes, score_source=score_source)
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((project_id, changes, score_source, future))
        return await future

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            size = len(group[0][1])
            while size < self.max_events and not self._queue.empty():
                item = self._queue.get_nowait()
                group.append(item)
                size += len(item[1])
            await self._commit(group)

    async def _commit(self, group: list[_Item]) -> None:
        try:
            results = await run_in_threadpool(self.writer.apply_many, [(p, c, s) for p, c, s, _ in group])
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0][3], exc=exc)
                return
            # One request's data broke the shared transaction: retry each alone so the others still land.
            log.warning("group commit of %d requests failed (%s); retrying one by one", len(group), exc)
            for item in group:
                await self._commit([item])
            return
        for (_, _, _, future), result in zip(group, results, strict=True):
            _settle(future, result=result)


def _settle(future: asyncio.Future, result: WriteResult | None = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
