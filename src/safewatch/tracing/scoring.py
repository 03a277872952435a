"""Automatic safety scoring of every trace and observation, off the request path.

Ingestion writes a scoring job row in the same transaction as the data (so kill -9 loses none) and hands the
job to a bounded in-memory queue. One worker task drains the queue in batches, runs the detector in a
thread (it is CPU-bound; the event loop never waits on it), and writes `safety.*` scores and trace tags.
When the queue is full the job simply stays in the table (the persisted backlog) and the worker reads it
from there once the queue is empty; a restarted server resumes the backlog the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from starlette.concurrency import run_in_threadpool

from safewatch.aio import cancel_and_wait
from safewatch.store.db import Database
from safewatch.store.models import Observation, Score, ScoringJob, Trace, TraceTag, utcnow
from safewatch.store.upsert import chunks, insert_ignore, upsert
from safewatch.tracing.tags import RISK_TAGS, UNSAFE, VIOLATION_SUFFIX, safety_tags
from safewatch.tracing.text import extract_text
from safewatch.tracing.writer import JobRef
from safewatch.verdict import Verdict

log = logging.getLogger("safewatch.tracing.scoring")

SCORE_OVERALL = "safety.overall"
SCORE_FLAGGED = "safety.flagged"
SCORE_CATEGORY = "safety.category"
MAX_ATTEMPTS = 5


@dataclass
class _Entity:
    project_id: str
    trace_id: str
    observation_id: str | None
    environment: str | None
    input_text: str
    output_text: str


@dataclass
class Assessment:
    overall: float
    flagged: bool
    categories: list[str]
    top: str | None
    action: str
    details: dict[str, Any]


def score_id(project_id: str, trace_id: str, observation_id: str | None, name: str) -> str:
    """Stable per entity and score name: rescoring replaces, never duplicates."""
    key = f"{project_id}|{trace_id}|{observation_id or ''}|{name}"
    return "sw-" + hashlib.sha256(key.encode()).hexdigest()[:32]


class AutoScorer:
    def __init__(self, db: Database, detector, *, queue_size: int = 10_000, batch_size: int = 64,
                 idle_sweep_s: float = 30.0) -> None:
        self.db = db
        self.detector = detector
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.idle_sweep_s = idle_sweep_s
        self._queue: asyncio.Queue[JobRef] | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        # True when jobs may sit in the table but not in the queue: at start (a previous process may have
        # left some) and after an overflow.
        self._backlog = True
        self.stats = {"scored": 0, "overflowed": 0, "failed_batches": 0}

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._queue = asyncio.Queue(self.queue_size)
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="safewatch-auto-scorer")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def submit(self, jobs: Iterable[JobRef]) -> None:
        """Hand over jobs already persisted; never blocks, never drops (overflow stays in the table)."""
        if self._queue is None:
            return
        for job in jobs:
            try:
                self._queue.put_nowait(job)
            except asyncio.QueueFull:
                self._backlog = True
                self.stats["overflowed"] += 1
        self._wake.set()

    async def drain(self, timeout: float = 60.0) -> bool:
        """Wait until no job is left (for tests and benchmarks); True when drained in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await run_in_threadpool(self.pending) == 0:
                return True
            await asyncio.sleep(0.05)
        return False

    def pending(self) -> int:
        with self.db.sessions() as s:
            return s.scalar(select(func.count()).select_from(ScoringJob).where(ScoringJob.attempts < MAX_ATTEMPTS)) or 0

    # --- worker --------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            jobs = self._take()
            if not jobs and self._backlog:
                jobs = await run_in_threadpool(self._load_backlog)
                if len(jobs) < self.batch_size:
                    self._backlog = False
            if not jobs:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.idle_sweep_s)
                except TimeoutError:
                    # Another worker process may have died with jobs in the shared table.
                    self._backlog = True
                continue
            try:
                await run_in_threadpool(self.process, jobs)
            except Exception:
                self.stats["failed_batches"] += 1
                log.exception("automatic scoring failed for %d jobs; they stay in the backlog", len(jobs))
                await run_in_threadpool(self._count_attempt, [j.job_id for j in jobs])
                self._backlog = True
                await asyncio.sleep(1.0)

    def _take(self) -> list[JobRef]:
        jobs: list[JobRef] = []
        while len(jobs) < self.batch_size:
            try:
                jobs.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return jobs

    def _load_backlog(self) -> list[JobRef]:
        with self.db.sessions() as s:
            rows = s.execute(
                select(ScoringJob.id, ScoringJob.project_id, ScoringJob.trace_id, ScoringJob.observation_id)
                .where(ScoringJob.attempts < MAX_ATTEMPTS)
                .order_by(ScoringJob.created_at, ScoringJob.id).limit(self.batch_size)
            ).all()
        return [JobRef(*r) for r in rows]

    def _count_attempt(self, job_ids: list[str]) -> None:
        with self.db.writing() as s:
            s.execute(update(ScoringJob).where(ScoringJob.id.in_(job_ids)).values(attempts=ScoringJob.attempts + 1))

    # --- one batch -----------------------------------------------------------------------------------

    def process(self, jobs: list[JobRef]) -> None:
        """Score the entities of `jobs`, write scores and tags, and delete the jobs (one transaction)."""
        entities = self._load_entities(jobs)
        assessments = self._assess(entities)
        now = utcnow()
        with self.db.writing() as s:
            rows = []
            for entity, a in zip(entities, assessments, strict=True):
                if a is not None:
                    rows.extend(score_rows(entity.project_id, entity.trace_id, entity.observation_id, entity.environment, a, now))
            upsert(s, Score.__table__, rows, ["project_id", "id"])
            self._retag(s, {(e.project_id, e.trace_id) for e in entities}, now)
            for part in chunks([j.job_id for j in jobs]):
                s.execute(delete(ScoringJob).where(ScoringJob.id.in_(part)))
        self.stats["scored"] += len(entities)

    def _load_entities(self, jobs: list[JobRef]) -> list[_Entity]:
        wanted = {(j.project_id, j.trace_id, j.observation_id) for j in jobs}
        out: list[_Entity] = []
        by_project: dict[str, tuple[set[str], set[str]]] = {}
        for project_id, trace_id, obs_id in wanted:
            traces, observations = by_project.setdefault(project_id, (set(), set()))
            (observations if obs_id else traces).add(obs_id or trace_id)
        with self.db.sessions() as s:
            for project_id, (trace_ids, obs_ids) in by_project.items():
                for part in chunks(sorted(trace_ids)):
                    for t in s.execute(select(Trace.id, Trace.environment, Trace.input, Trace.output)
                                       .where(Trace.project_id == project_id, Trace.id.in_(part))):
                        out.append(_Entity(project_id, t.id, None, t.environment,
                                           extract_text(t.input), extract_text(t.output)))
                for part in chunks(sorted(obs_ids)):
                    for o in s.execute(select(Observation.id, Observation.trace_id, Observation.environment,
                                              Observation.input, Observation.output)
                                       .where(Observation.project_id == project_id, Observation.id.in_(part))):
                        out.append(_Entity(project_id, o.trace_id, o.id, o.environment,
                                           extract_text(o.input), extract_text(o.output)))
        return out

    def _assess(self, entities: list[_Entity]) -> list[Assessment | None]:
        verdicts: dict[tuple[int, str], Verdict] = {}
        for role in ("input", "output"):
            idx = [i for i, e in enumerate(entities) if getattr(e, f"{role}_text")]
            if idx:
                texts = [getattr(entities[i], f"{role}_text") for i in idx]
                for i, v in zip(idx, self.detector.check_batch(texts, role=role), strict=True):
                    verdicts[(i, role)] = v
        out: list[Assessment | None] = []
        for i in range(len(entities)):
            parts = {role: verdicts[(i, role)] for role in ("input", "output") if (i, role) in verdicts}
            out.append(assess_verdicts(parts) if parts else None)
        return out

    @staticmethod
    def _retag(s, traces: set[tuple[str, str]], now) -> None:
        """Recompute the safety tags of each trace from all its entities' `safety.overall` scores."""
        by_project: dict[str, list[str]] = {}
        for project_id, trace_id in traces:
            by_project.setdefault(project_id, []).append(trace_id)
        for project_id, trace_ids in by_project.items():
            for part in chunks(sorted(trace_ids)):
                best: dict[str, float] = {}
                flagged: dict[str, set[str]] = {t: set() for t in part}
                for trace_id, value, meta in s.execute(
                    select(Score.trace_id, Score.value, Score.meta).where(
                        Score.project_id == project_id, Score.trace_id.in_(part), Score.name == SCORE_OVERALL)):
                    best[trace_id] = max(best.get(trace_id, 0.0), value or 0.0)
                    flagged[trace_id].update((meta or {}).get("categories") or [])
                s.execute(delete(TraceTag).where(
                    TraceTag.project_id == project_id, TraceTag.trace_id.in_(part),
                    or_(TraceTag.tag.in_((UNSAFE, *RISK_TAGS)),
                        TraceTag.tag.like(f"%{VIOLATION_SUFFIX.replace('_', '!_')}", escape="!"))))
                rows = [{"project_id": project_id, "trace_id": t, "tag": tag}
                        for t in best for tag in sorted(safety_tags(best[t], flagged[t]))]
                insert_ignore(s, TraceTag.__table__, rows, ["project_id", "trace_id", "tag"])
                s.execute(update(Trace).where(Trace.project_id == project_id, Trace.id.in_(list(best)))
                          .values(updated_at=now))


def score_rows(project_id: str, trace_id: str, observation_id: str | None, environment: str | None,
               a: Assessment, now) -> list[dict[str, Any]]:
    """The `safety.*` score rows of one trace or observation (ids stable per entity and name)."""
    base = {"project_id": project_id, "trace_id": trace_id, "observation_id": observation_id,
            "session_id": None, "source": "EVAL", "config_id": None, "author_user_id": None,
            "environment": environment or "default", "timestamp": now, "created_at": now, "updated_at": now,
            "comment": f"action={a.action}" + (f" top={a.top}" if a.top else "")}
    meta = {"categories": a.categories, "action": a.action, **a.details}

    def row(name: str, data_type: str, value: float | None, string_value: str | None) -> dict[str, Any]:
        return {**base, "id": score_id(project_id, trace_id, observation_id, name), "name": name,
                "data_type": data_type, "value": value, "string_value": string_value, "metadata": meta}

    return [
        row(SCORE_OVERALL, "NUMERIC", round(a.overall, 6), None),
        row(SCORE_FLAGGED, "BOOLEAN", 1.0 if a.flagged else 0.0, "True" if a.flagged else "False"),
        row(SCORE_CATEGORY, "CATEGORICAL", None, a.top or "none"),
    ]


def assess_verdicts(parts: dict[str, Verdict]) -> Assessment:
    """One assessment from the input and/or output verdicts of an entity."""
    overall = max(v.overall_score for v in parts.values())
    categories = sorted({c for v in parts.values() for c in v.flagged_categories})
    scores: dict[str, float] = {}
    for v in parts.values():
        for c in v.flagged_categories:
            scores[c] = max(scores.get(c, 0.0), v.category_scores.get(c, 0.0))
    top = max(categories, key=lambda c: scores.get(c, 0.0)) if categories else None
    action = max((v.action for v in parts.values()), key=lambda a: a.severity).value
    details = {role: {"flagged": v.flagged, "action": v.action.value, "overall_score": v.overall_score,
                      "categories": v.flagged_categories, "language": v.language, "decided_by": v.decided_by,
                      "policy_version": v.policy_version}
               for role, v in parts.items()}
    return Assessment(overall, bool(categories) or any(v.flagged for v in parts.values()), categories, top, action,
                       details)
