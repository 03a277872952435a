"""Applies validated ingestion changes to the database: merge, upsert, tags, sessions, event ids, scoring jobs.

Merge semantics follow Langfuse's ingestion service: events for one entity apply in timestamp order (creates
before updates on ties); an absent field never overwrites; metadata is deep-merged; tags are unioned; a
trace's timestamp and environment, an observation's trace, start time and environment, and a score's trace
and timestamp are fixed by the first write.

Everything for one request happens in one transaction, committed before the caller answers: an event
acknowledged in a 207 is on disk.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy.orm import Session

from safewatch.store.db import Database
from safewatch.store.models import (
    IngestionEvent,
    Observation,
    Score,
    ScoringJob,
    Trace,
    TraceSession,
    TraceTag,
    utcnow,
)
from safewatch.store.upsert import chunks, insert_ignore, upsert
from safewatch.tracing.events import Change

TRACES: Table = Trace.__table__
OBSERVATIONS: Table = Observation.__table__
SCORES: Table = Score.__table__

_IMMUTABLE = {
    "trace": {"timestamp", "environment"},
    "observation": {"trace_id", "start_time", "environment"},
    "score": {"timestamp", "trace_id", "environment"},
}
_TABLES = {"trace": TRACES, "observation": OBSERVATIONS, "score": SCORES}
_TEXT_FIELDS = ("input", "output")
# Every column of each table, NULL: the starting row of an entity written whole.
_EMPTY_ROWS = {kind: dict.fromkeys(c.name for c in table.columns) for kind, table in _TABLES.items()}


@dataclass(frozen=True)
class JobRef:
    """One automatic-scoring job: score this trace (observation_id None) or this observation."""

    job_id: str
    project_id: str
    trace_id: str
    observation_id: str | None


@dataclass
class NewTrace:
    """A trace that safewatch writes whole itself (the gateway's): its ids are fresh, so nothing to merge or
    deduplicate. Row dicts use attribute names (`meta`, not `metadata`); absent fields are stored as NULL."""

    project_id: str
    trace: dict[str, Any]
    observations: list[dict[str, Any]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


@dataclass
class WriteResult:
    applied: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    jobs: list[JobRef] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)


def deep_merge(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for k, v in new.items():
            out[k] = deep_merge(old.get(k), v)
        return out
    return new


class IngestionWriter:
    """Writes changes for one project at a time; thread-safe (each call has its own session)."""

    def __init__(self, db: Database, redact: Callable[[Any], Any] | None = None) -> None:
        self.db = db
        self.redact = redact

    def apply(self, project_id: str, changes: list[Change], *, score_source: str | None = None) -> WriteResult:
        return self.apply_many([(project_id, changes, score_source)])[0]

    def apply_many(self, items: list[tuple[str, list[Change], str | None]]) -> list[WriteResult]:
        """Apply several requests' changes in ONE transaction (group commit: one commit for many requests)."""
        if not any(changes for _, changes, _ in items):
            return [WriteResult() for _ in items]
        with self.db.writing() as s:
            return [self._apply(s, project_id, changes, source) for project_id, changes, source in items]

    def prune_event_ids(self, older_than: datetime, chunk: int = 5000) -> int:
        """Forget applied event ids recorded before `older_than`; returns how many.

        The ids only guard against an SDK re-sending a batch (seconds to minutes later); kept forever they would
        grow the database by a row per event. Deleted in chunks, so no one transaction holds the write lock long.
        """
        removed = 0
        while True:
            with self.db.writing() as s:
                batch = s.execute(select(IngestionEvent.project_id, IngestionEvent.event_id)
                                  .where(IngestionEvent.created_at < older_than).limit(chunk)).all()
                by_project: dict[str, list[str]] = {}
                for project_id, event_id in batch:
                    by_project.setdefault(project_id, []).append(event_id)
                for project_id, ids in by_project.items():
                    for part in chunks(ids):
                        s.execute(delete(IngestionEvent).where(IngestionEvent.project_id == project_id,
                                                               IngestionEvent.event_id.in_(part)))
            removed += len(batch)
            if len(batch) < chunk:
                return removed

    def insert_new(self, records: list[NewTrace]) -> None:
        """Insert whole new traces in one transaction: plain inserts, none of the ingestion path's lookups."""
        if not records:
            return
        now = utcnow()
        rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in _TABLES}
        tags: list[dict[str, Any]] = []
        sessions: dict[tuple[str, str], dict[str, Any]] = {}
        for record in records:
            entities = [("trace", record.trace), *(("observation", o) for o in record.observations),
                        *(("score", sc) for sc in record.scores)]
            for kind, fields in entities:
                row = {**_EMPTY_ROWS[kind], **_to_columns(fields), "project_id": record.project_id,
                       "created_at": now, "updated_at": now}
                if kind != "score":
                    self._redact_texts(row)
                rows[kind].append(row)
            trace_id = record.trace["id"]
            tags.extend({"project_id": record.project_id, "trace_id": trace_id, "tag": t} for t in sorted(set(record.tags)))
            if record.trace.get("session_id"):
                key = (record.project_id, record.trace["session_id"])
                sessions[key] = {"project_id": key[0], "id": key[1],
                                 "environment": record.trace.get("environment"), "created_at": now}
        with self.db.writing() as s:
            for kind, table in _TABLES.items():
                insert_ignore(s, table, rows[kind], ["project_id", "id"])
            insert_ignore(s, TraceTag.__table__, tags, ["project_id", "trace_id", "tag"])
            insert_ignore(s, TraceSession.__table__, list(sessions.values()), ["project_id", "id"])

    def _redact_texts(self, fields: dict[str, Any]) -> None:
        """Mask PII in a trace's or observation's input and output before they are stored (when configured)."""
        if self.redact is None:
            return
        for name in _TEXT_FIELDS:
            if fields.get(name) is not None:
                fields[name] = self.redact(fields[name])

    def _apply(self, s: Session, project_id: str, changes: list[Change], score_source: str | None) -> WriteResult:
        result = WriteResult()
        if not changes:
            return result
        if not self.db.is_sqlite:
            # Read-merge-write must not interleave with another process writing the same project (several
            # workers or replicas); a transaction-scoped advisory lock per project serializes them without
            # the tuple writes SELECT ... FOR UPDATE would cost. (SQLite: the writer lock does this.)
            s.execute(text("SELECT pg_advisory_xact_lock(hashtext(:p))"), {"p": project_id})
        seen = self._seen_event_ids(s, project_id, [c.event_id for c in changes])
        fresh = [c for c in changes if c.event_id not in seen]
        result.duplicates = [c.event_id for c in changes if c.event_id in seen]
        # Creates before updates at the same instant, as Langfuse orders them.
        fresh.sort(key=lambda c: (c.timestamp, c.is_update))
        now = utcnow()
        rows = {kind: self._existing(s, table, project_id, [c.entity_id for c in fresh if c.kind == kind])
                for kind, table in _TABLES.items()}
        tags: set[tuple[str, str]] = set()
        scored: dict[tuple[str, str | None], None] = {}
        for change in fresh:
            if change.kind == "log":
                continue
            if change.kind != "score":
                self._redact_texts(change.fields)
            if score_source is not None and change.kind == "score":
                change.fields["source"] = score_source
            row = rows[change.kind].get(change.entity_id)
            if row is None:
                row = rows[change.kind][change.entity_id] = self._new_row(change, project_id, now)
            self._merge(row, change)
            row["updated_at"] = now
            if change.kind == "trace":
                tags.update((change.entity_id, t) for t in change.tags)
            if change.kind in ("trace", "observation") and any(change.fields.get(f) is not None for f in _TEXT_FIELDS):
                scored[(change.entity_id, change.kind)] = None
        self._add_implicit_traces(s, project_id, rows, now)
        for kind, table in _TABLES.items():
            upsert(s, table, [_to_columns(r) for r in rows[kind].values()], ["project_id", "id"])
        insert_ignore(s, TraceTag.__table__, [{"project_id": project_id, "trace_id": t, "tag": g} for t, g in sorted(tags)],
                      ["project_id", "trace_id", "tag"])
        sessions = {(r["session_id"], r.get("environment")) for r in rows["trace"].values() if r.get("session_id")}
        insert_ignore(s, TraceSession.__table__,
                      [{"project_id": project_id, "id": sid, "environment": env, "created_at": now} for sid, env in sessions],
                      ["project_id", "id"])
        insert_ignore(s, IngestionEvent.__table__,
                      [{"project_id": project_id, "event_id": c.event_id, "created_at": now} for c in fresh],
                      ["project_id", "event_id"])
        jobs = []
        for entity_id, kind in scored:
            if kind == "trace":
                jobs.append({"project_id": project_id, "trace_id": entity_id, "observation_id": None})
            else:
                jobs.append({"project_id": project_id, "trace_id": rows["observation"][entity_id]["trace_id"],
                             "observation_id": entity_id})
        result.jobs = add_jobs(s, jobs, now)
        result.applied = [c.event_id for c in fresh]
        result.trace_ids = list(rows["trace"])
        return result

    @staticmethod
    def _seen_event_ids(s: Session, project_id: str, event_ids: list[str]) -> set[str]:
        seen: set[str] = set()
        for part in chunks(sorted(set(event_ids))):
            seen.update(s.scalars(select(IngestionEvent.event_id).where(
                IngestionEvent.project_id == project_id, IngestionEvent.event_id.in_(part))))
        return seen

    def _existing(self, s: Session, table: Table, project_id: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for part in chunks(sorted(set(ids))):
            stmt = select(table).where(table.c.project_id == project_id, table.c.id.in_(part))
            for row in s.execute(stmt).mappings():
                found[row["id"]] = _from_columns(dict(row))
        return found

    @staticmethod
    def _new_row(change: Change, project_id: str, now) -> dict[str, Any]:
        table = _TABLES[change.kind]
        row = {_attr(c.name): None for c in table.columns}
        row.update(project_id=project_id, id=change.entity_id, created_at=now)
        if change.kind == "observation" and change.fields.get("trace_id") is None:
            change.fields["trace_id"] = str(uuid.uuid4())
        if change.kind == "trace" and change.fields.get("timestamp") is None:
            change.fields["timestamp"] = change.timestamp
        if change.kind in ("trace", "observation") and change.fields.get("environment") is None:
            change.fields["environment"] = "default"
        return row

    @staticmethod
    def _merge(row: dict[str, Any], change: Change) -> None:
        fixed = _IMMUTABLE[change.kind]
        for name, value in change.fields.items():
            if value is None or (name in fixed and row.get(name) is not None):
                continue
            if name == "meta":
                row[name] = deep_merge(row.get(name), value)
            elif name in ("usage", "cost_details") and row.get(name):
                row[name] = {**row[name], **value}
            else:
                row[name] = value

    def _add_implicit_traces(self, s: Session, project_id: str, rows: dict[str, dict], now) -> None:
        """An observation may arrive before (or without) its trace; give it a shallow one so reads find it."""
        wanted: dict[str, dict[str, Any]] = {}
        for obs in rows["observation"].values():
            tid = obs["trace_id"]
            if tid not in rows["trace"] and tid not in wanted:
                wanted[tid] = obs
        if not wanted:
            return
        have = set(self._existing(s, TRACES, project_id, list(wanted)))
        missing = [
            {"project_id": project_id, "id": tid, "timestamp": obs["start_time"], "environment": obs.get("environment") or "default",
             "created_at": now, "updated_at": now}
            for tid, obs in wanted.items() if tid not in have
        ]
        insert_ignore(s, TRACES, missing, ["project_id", "id"])


def add_jobs(s: Session, jobs: list[dict[str, Any]], now=None) -> list[JobRef]:
    """Persist scoring jobs in the caller's transaction and return them with their ids."""
    if not jobs:
        return []
    now = now or utcnow()
    rows = [{**j, "id": uuid.uuid4().hex, "attempts": 0, "created_at": now} for j in jobs]
    s.execute(insert(ScoringJob.__table__), rows)
    return [JobRef(r["id"], r["project_id"], r["trace_id"], r["observation_id"]) for r in rows]


def _attr(column: str) -> str:
    return "meta" if column == "metadata" else column


def _to_columns(row: dict[str, Any]) -> dict[str, Any]:
    return {("metadata" if k == "meta" else k): v for k, v in row.items()}


def _from_columns(row: dict[str, Any]) -> dict[str, Any]:
    return {_attr(k): v for k, v in row.items()}
