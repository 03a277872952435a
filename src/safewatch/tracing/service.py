"""`app.state.tracer`: writes changes, feeds the auto-scorer, and records gateway traffic as traces."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from starlette.concurrency import run_in_threadpool

from safewatch.aio import cancel_and_wait
from safewatch.store.models import utcnow
from safewatch.tracing.committer import GroupCommitter
from safewatch.tracing.events import Change, normalize_usage
from safewatch.tracing.scoring import AutoScorer, assess_verdicts, score_rows
from safewatch.tracing.tags import BLOCKED_INPUT, BLOCKED_OUTPUT, safety_tags
from safewatch.tracing.writer import IngestionWriter, NewTrace, WriteResult
from safewatch.verdict import Verdict

log = logging.getLogger("safewatch.tracing")


class TracingService:
    def __init__(self, writer: IngestionWriter, scorer: AutoScorer | None, *, gateway_queue_size: int = 10_000,
                 gateway_batch: int = 200, gateway_linger_s: float = 0.1, event_id_retention_s: float = 7 * 86400,
                 prune_every_s: float = 3600.0) -> None:
        self.writer = writer
        self.committer = GroupCommitter(writer)
        self.scorer = scorer
        self._gateway_queue_size = gateway_queue_size
        self._gateway_batch = gateway_batch
        self._gateway_linger_s = gateway_linger_s
        self._gateway: asyncio.Queue[NewTrace] | None = None
        self._flusher: asyncio.Task | None = None
        self._event_id_retention_s = event_id_retention_s
        self._prune_every_s = prune_every_s
        self._pruner: asyncio.Task | None = None

    async def start(self) -> None:
        await self.committer.start()
        self._gateway = asyncio.Queue(self._gateway_queue_size)
        self._flusher = asyncio.create_task(self._flush_gateway(), name="safewatch-gateway-traces")
        self._pruner = asyncio.create_task(self._prune_event_ids(), name="safewatch-prune-event-ids")
        if self.scorer is not None:
            await self.scorer.start()

    async def stop(self) -> None:
        await cancel_and_wait(self._pruner)
        self._pruner = None
        if self._flusher is not None:
            await self._gateway.join()
            self._flusher.cancel()
            self._flusher = None
        if self.scorer is not None:
            await self.scorer.stop()
        await self.committer.stop()

    async def ingest(self, project_id: str, changes: list[Change], *, score_source: str | None = None) -> WriteResult:
        """Apply and commit `changes` (group-committed, in a thread), then queue their scoring jobs."""
        result = await self.committer.write(project_id, changes, score_source)
        if self.scorer is not None:
            self.scorer.submit(result.jobs)
        return result

    async def prune_event_ids(self) -> int:
        """Forget the ingestion event ids older than the retention (they only catch an SDK's re-sent batch)."""
        cutoff = utcnow() - timedelta(seconds=self._event_id_retention_s)
        removed = await run_in_threadpool(self.writer.prune_event_ids, cutoff)
        if removed:
            log.info("forgot %d ingestion event ids recorded before %s", removed, cutoff.isoformat(timespec="seconds"))
        return removed

    async def _prune_event_ids(self) -> None:
        while True:
            try:
                await self.prune_event_ids()
            except Exception:  # housekeeping: retried at the next round, never takes ingestion down
                log.exception("pruning ingestion event ids failed")
            await asyncio.sleep(self._prune_every_s)

    # --- gateway traffic -------------------------------------------------------------------------------

    async def record_gateway(
        self,
        project_id: str,
        *,
        name: str,
        user_id: str | None,
        session_id: str | None,
        input: object,
        output: object | None,
        model: str | None,
        input_verdict: Verdict | None,
        output_verdict: Verdict | None,
        blocked: str | None,
        usage: dict | None,
        latency_ms: float,
        metadata: dict | None,
    ) -> str:
        """Queue a trace with one GENERATION for a gateway request and return its id at once.

        The gateway already has the verdicts, so the trace's `safety.*` scores and tags are written with it
        instead of being recomputed by the auto-scorer. Writes are batched by a background task that waits
        up to `gateway_linger_s` for company, so even sequential traffic shares transactions; when its queue
        is full the caller waits for room rather than the trace being dropped.
        """
        trace_id = uuid.uuid4().hex
        obs_id = f"{trace_id}-gen"
        now = utcnow()
        started = now - timedelta(milliseconds=latency_ms)
        parts = {k: v for k, v in (("input", input_verdict), ("output", output_verdict)) if v is not None}
        verdicts = {k: v.to_dict() for k, v in parts.items()}
        meta = {**(metadata or {}), "source": "safewatch-gateway"}
        if verdicts:
            meta["gateway_verdicts"] = {k: {"action": v["action"], "flagged": v["flagged"],
                                            "overall_score": v["overall_score"]} for k, v in verdicts.items()}
        tags = [t for t, on in ((BLOCKED_INPUT, blocked == "input"), (BLOCKED_OUTPUT, blocked == "output")) if on]
        scores: list[dict] = []
        if parts:
            assessment = assess_verdicts(parts)
            tags.extend(safety_tags(assessment.overall, assessment.categories))
            # Trace-level only: the trace and its one generation hold the same texts.
            scores = score_rows(project_id, trace_id, None, "default", assessment, now)
        usage_details, _ = normalize_usage(usage, None)
        record = NewTrace(
            project_id,
            trace={"id": trace_id, "timestamp": started, "name": name, "user_id": user_id, "session_id": session_id,
                   "input": input, "output": output, "meta": meta, "environment": "default"},
            observations=[{
                "id": obs_id, "trace_id": trace_id, "type": "GENERATION", "name": name, "start_time": started,
                "end_time": now, "input": input, "output": output, "model": model,
                "usage": usage_details or None, "level": "WARNING" if blocked else "DEFAULT",
                "status_message": f"blocked {blocked}" if blocked else None, "environment": "default",
                "meta": {"blocked": blocked, "verdicts": verdicts} if verdicts or blocked else None}],
            scores=scores, tags=tags)
        if self._gateway is None:  # not started (e.g. used outside the app lifespan): write directly
            await run_in_threadpool(self.writer.insert_new, [record])
        else:
            await self._gateway.put(record)
        return trace_id

    async def _flush_gateway(self) -> None:
        while True:
            first = await self._gateway.get()
            if self._gateway.qsize() + 1 < self._gateway_batch:
                await asyncio.sleep(self._gateway_linger_s)
            records = [first]
            while len(records) < self._gateway_batch:
                try:
                    records.append(self._gateway.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                await run_in_threadpool(self.writer.insert_new, records)
            except Exception:
                log.exception("could not store %d gateway traces", len(records))
            for _ in records:
                self._gateway.task_done()
