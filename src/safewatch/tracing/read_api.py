"""Read API in Langfuse's shapes: traces, observations (v1 and v2), sessions, scores (v1, v2, v3); deletes."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy import Select, delete, exists, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from safewatch.auth import ProjectContext
from safewatch.auth.deps import basic_project
from safewatch.store.models import Observation, Score, Trace, TraceSession, TraceTag
from safewatch.tracing.events import naive_utc
from safewatch.tracing.views import iso, observation_view, score_v3_view, score_view, trace_rollup, trace_view

router = APIRouter(prefix="/api/public", tags=["read"])


async def _read(request: Request, fn: Callable[[Session], Any]) -> Any:
    def run() -> Any:
        with request.app.state.db.sessions() as s:
            return fn(s)

    return await run_in_threadpool(run)


def _not_found(what: str, ident: str) -> HTTPException:
    return HTTPException(404, f"{what} not found within authorized project: {ident}")


class Page:
    """page/limit pagination with Langfuse's `meta`."""

    def __init__(self, request: Request, page: int, limit: int) -> None:
        cap = request.app.state.settings.limits.max_page_limit
        if page < 1 or not 1 <= limit <= cap:
            raise HTTPException(400, f"Invalid request data: page >= 1 and 1 <= limit <= {cap}")
        self.page, self.limit = page, limit

    def apply(self, s: Session, stmt: Select, order) -> tuple[list, dict[str, int]]:
        total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        rows = s.scalars(stmt.order_by(*order).offset((self.page - 1) * self.limit).limit(self.limit)).all()
        meta = {"page": self.page, "limit": self.limit, "totalItems": total, "totalPages": math.ceil(total / self.limit)}
        return list(rows), meta


class Cursor:
    """Opaque cursor pagination (v2 observations, v3 scores): the cursor encodes an offset."""

    def __init__(self, cursor: str | None, limit: int, cap: int) -> None:
        if not 1 <= limit <= cap:
            raise HTTPException(400, f"Invalid request data: 1 <= limit <= {cap}")
        try:
            self.offset = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
        except ValueError as exc:
            raise HTTPException(400, "Invalid request data: bad cursor") from exc
        self.limit = limit

    def apply(self, s: Session, stmt: Select, order) -> tuple[list, dict[str, Any]]:
        rows = list(s.scalars(stmt.order_by(*order).offset(self.offset).limit(self.limit + 1)).all())
        meta: dict[str, Any] = {"limit": self.limit}
        if len(rows) > self.limit:
            rows = rows[: self.limit]
            meta["cursor"] = base64.urlsafe_b64encode(str(self.offset + self.limit).encode()).decode()
        return rows, meta


def _time(value: datetime | None) -> datetime | None:
    return naive_utc(value)


# --- traces -------------------------------------------------------------------------------------------------

_TRACE_ORDER = {"timestamp": Trace.timestamp, "name": Trace.name, "userId": Trace.user_id, "sessionId": Trace.session_id,
                "id": Trace.id, "createdAt": Trace.created_at, "updatedAt": Trace.updated_at, "release": Trace.release,
                "version": Trace.version}


def _order(order_by: str | None, columns: dict, default):
    if not order_by:
        return [default.desc()]
    column, _, direction = order_by.partition(".")
    if column not in columns or direction not in ("asc", "desc"):
        raise HTTPException(400, f"Invalid request data: orderBy must be <{'|'.join(columns)}>.<asc|desc>")
    col = columns[column]
    return [col.asc() if direction == "asc" else col.desc()]


def _tags(s: Session, project_id: str, trace_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {t: [] for t in trace_ids}
    if trace_ids:
        for trace_id, tag in s.execute(select(TraceTag.trace_id, TraceTag.tag).where(
                TraceTag.project_id == project_id, TraceTag.trace_id.in_(trace_ids))):
            out[trace_id].append(tag)
    return out


def _children(s: Session, project_id: str, trace_ids: list[str]) -> tuple[dict[str, list[Observation]], dict[str, list[Score]]]:
    obs: dict[str, list[Observation]] = {t: [] for t in trace_ids}
    scores: dict[str, list[Score]] = {t: [] for t in trace_ids}
    if trace_ids:
        for o in s.scalars(select(Observation).where(Observation.project_id == project_id, Observation.trace_id.in_(trace_ids))
                           .order_by(Observation.start_time)):
            obs[o.trace_id].append(o)
        for sc in s.scalars(select(Score).where(Score.project_id == project_id, Score.trace_id.in_(trace_ids))
                            .order_by(Score.timestamp)):
            scores[sc.trace_id].append(sc)
    return obs, scores


@router.get("/traces")
async def list_traces(
    request: Request, ctx: ProjectContext = Depends(basic_project), page: int = 1, limit: int = 50,
    userId: str | None = None, name: str | None = None, sessionId: str | None = None,  # noqa: N803
    fromTimestamp: datetime | None = None, toTimestamp: datetime | None = None,  # noqa: N803
    orderBy: str | None = None, tags: list[str] | None = Query(None), version: str | None = None,  # noqa: N803
    release: str | None = None, environment: list[str] | None = Query(None),
) -> dict[str, Any]:
    pager = Page(request, page, limit)
    order = _order(orderBy, _TRACE_ORDER, Trace.timestamp)
    pid = ctx.project_id

    def run(s: Session) -> dict[str, Any]:
        stmt = select(Trace).where(Trace.project_id == pid)
        for column, value in ((Trace.user_id, userId), (Trace.name, name), (Trace.session_id, sessionId),
                              (Trace.version, version), (Trace.release, release)):
            if value is not None:
                stmt = stmt.where(column == value)
        if fromTimestamp:
            stmt = stmt.where(Trace.timestamp >= _time(fromTimestamp))
        if toTimestamp:
            stmt = stmt.where(Trace.timestamp < _time(toTimestamp))
        if environment:
            stmt = stmt.where(Trace.environment.in_(environment))
        for tag in tags or []:
            stmt = stmt.where(exists().where(TraceTag.project_id == pid, TraceTag.trace_id == Trace.id, TraceTag.tag == tag))
        rows, meta = pager.apply(s, stmt, [*order, Trace.id])
        ids = [t.id for t in rows]
        tag_map = _tags(s, pid, ids)
        obs, scores = _children(s, pid, ids)
        data = [{**trace_view(t, tag_map[t.id]), **trace_rollup(obs[t.id]),
                 "observations": [o.id for o in obs[t.id]], "scores": [x.id for x in scores[t.id]]} for t in rows]
        return {"data": data, "meta": meta}

    return await _read(request, run)


@router.get("/traces/{trace_id}")
async def get_trace(trace_id: str, request: Request, ctx: ProjectContext = Depends(basic_project)) -> dict[str, Any]:
    pid = ctx.project_id

    def run(s: Session) -> dict[str, Any] | None:
        t = s.get(Trace, (pid, trace_id))
        if t is None:
            return None
        obs, scores = _children(s, pid, [trace_id])
        return {**trace_view(t, _tags(s, pid, [trace_id])[trace_id]), **trace_rollup(obs[trace_id]),
                "observations": [observation_view(o) for o in obs[trace_id]],
                "scores": [score_view(x) for x in scores[trace_id]]}

    found = await _read(request, run)
    if found is None:
        raise _not_found("Trace", trace_id)
    return found


def _delete_traces(request: Request, project_id: str, trace_ids: list[str]) -> Any:
    def run() -> None:
        with request.app.state.db.writing() as s:
            for model in (Observation, Score, TraceTag):
                s.execute(delete(model).where(model.project_id == project_id, model.trace_id.in_(trace_ids)))
            s.execute(delete(Trace).where(Trace.project_id == project_id, Trace.id.in_(trace_ids)))

    return run_in_threadpool(run)


@router.delete("/traces/{trace_id}")
async def delete_trace(trace_id: str, request: Request, ctx: ProjectContext = Depends(basic_project)) -> dict[str, str]:
    await _delete_traces(request, ctx.project_id, [trace_id])
    return {"message": "Trace deleted successfully"}


@router.delete("/traces")
async def delete_traces(request: Request, ctx: ProjectContext = Depends(basic_project)) -> dict[str, str]:
    body = await request.json() if await request.body() else {}
    ids = body.get("traceIds") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not 1 <= len(ids) <= 1000:
        raise HTTPException(400, "Invalid request data: traceIds must be a list of 1 to 1000 ids")
    await _delete_traces(request, ctx.project_id, ids)
    return {"message": "Traces deleted successfully"}


# --- observations -------------------------------------------------------------------------------------------


def _observation_query(pid: str, *, name, userId, type, traceId, parentObservationId, environment,  # noqa: N803
                       fromStartTime, toStartTime, version, level=None, sessionId=None) -> Select:  # noqa: N803
    stmt = select(Observation).where(Observation.project_id == pid)
    for column, value in ((Observation.name, name), (Observation.type, type), (Observation.trace_id, traceId),
                          (Observation.parent_observation_id, parentObservationId), (Observation.version, version),
                          (Observation.level, level)):
        if value is not None:
            stmt = stmt.where(column == value)
    if environment:
        stmt = stmt.where(Observation.environment.in_(environment))
    if fromStartTime:
        stmt = stmt.where(Observation.start_time >= _time(fromStartTime))
    if toStartTime:
        stmt = stmt.where(Observation.start_time < _time(toStartTime))
    if userId is not None or sessionId is not None:
        trace_filter = [Trace.project_id == pid, Trace.id == Observation.trace_id]
        if userId is not None:
            trace_filter.append(Trace.user_id == userId)
        if sessionId is not None:
            trace_filter.append(Trace.session_id == sessionId)
        stmt = stmt.where(exists().where(*trace_filter))
    return stmt


@router.get("/observations")
async def list_observations(
    request: Request, ctx: ProjectContext = Depends(basic_project), page: int = 1, limit: int = 50,
    name: str | None = None, userId: str | None = None, type: str | None = None, traceId: str | None = None,  # noqa: N803
    parentObservationId: str | None = None, environment: list[str] | None = Query(None),  # noqa: N803
    fromStartTime: datetime | None = None, toStartTime: datetime | None = None, version: str | None = None,  # noqa: N803
) -> dict[str, Any]:
    pager = Page(request, page, limit)
    stmt = _observation_query(ctx.project_id, name=name, userId=userId, type=type, traceId=traceId,
                              parentObservationId=parentObservationId, environment=environment,
                              fromStartTime=fromStartTime, toStartTime=toStartTime, version=version)

    def run(s: Session) -> dict[str, Any]:
        rows, meta = pager.apply(s, stmt, [Observation.start_time.desc(), Observation.id])
        return {"data": [observation_view(o) for o in rows], "meta": meta}

    return await _read(request, run)


@router.get("/observations/{observation_id}")
async def get_observation(observation_id: str, request: Request, ctx: ProjectContext = Depends(basic_project)) -> dict[str, Any]:
    o = await _read(request, lambda s: s.get(Observation, (ctx.project_id, observation_id)))
    if o is None:
        raise _not_found("Observation", observation_id)
    return observation_view(o)


@router.get("/v2/observations")
async def list_observations_v2(
    request: Request, ctx: ProjectContext = Depends(basic_project), limit: int = 50, cursor: str | None = None,
    fields: str | None = None, name: str | None = None, userId: str | None = None, sessionId: str | None = None,  # noqa: N803
    type: str | None = None, traceId: str | None = None, level: str | None = None,  # noqa: N803
    parentObservationId: str | None = None, environment: list[str] | None = Query(None),  # noqa: N803
    fromStartTime: datetime | None = None, toStartTime: datetime | None = None, version: str | None = None,  # noqa: N803
) -> dict[str, Any]:
    """SDK 5's `api.observations.get_many`: cursor pagination; every field group is returned."""
    pager = Cursor(cursor, limit, request.app.state.settings.limits.max_page_limit)
    pid = ctx.project_id
    stmt = _observation_query(pid, name=name, userId=userId, type=type, traceId=traceId,
                              parentObservationId=parentObservationId, environment=environment,
                              fromStartTime=fromStartTime, toStartTime=toStartTime, version=version, level=level,
                              sessionId=sessionId)

    def run(s: Session) -> dict[str, Any]:
        rows, meta = pager.apply(s, stmt, [Observation.start_time.desc(), Observation.id])
        trace_ids = sorted({o.trace_id for o in rows if o.trace_id})
        traces = {t.id: t for t in s.scalars(select(Trace).where(Trace.project_id == pid, Trace.id.in_(trace_ids)))}
        tag_map = _tags(s, pid, trace_ids)
        data = []
        for o in rows:
            view = observation_view(o, traces.get(o.trace_id))
            view["tags"] = sorted(tag_map.get(o.trace_id, []))
            data.append(view)
        return {"data": data, "meta": meta}

    return await _read(request, run)


# --- sessions -----------------------------------------------------------------------------------------------


def _session_view(x: TraceSession) -> dict[str, Any]:
    return {"id": x.id, "createdAt": iso(x.created_at), "projectId": x.project_id, "environment": x.environment or "default"}


@router.get("/sessions")
async def list_sessions(
    request: Request, ctx: ProjectContext = Depends(basic_project), page: int = 1, limit: int = 50,
    fromTimestamp: datetime | None = None, toTimestamp: datetime | None = None,  # noqa: N803
    environment: list[str] | None = Query(None),
) -> dict[str, Any]:
    pager = Page(request, page, limit)
    stmt = select(TraceSession).where(TraceSession.project_id == ctx.project_id)
    if fromTimestamp:
        stmt = stmt.where(TraceSession.created_at >= _time(fromTimestamp))
    if toTimestamp:
        stmt = stmt.where(TraceSession.created_at < _time(toTimestamp))
    if environment:
        stmt = stmt.where(TraceSession.environment.in_(environment))

    def run(s: Session) -> dict[str, Any]:
        rows, meta = pager.apply(s, stmt, [TraceSession.created_at.desc(), TraceSession.id])
        return {"data": [_session_view(x) for x in rows], "meta": meta}

    return await _read(request, run)


@router.get("/sessions/{session_id}")
async def get_session(session_id: str, request: Request, ctx: ProjectContext = Depends(basic_project)) -> dict[str, Any]:
    pid = ctx.project_id

    def run(s: Session) -> dict[str, Any] | None:
        x = s.get(TraceSession, (pid, session_id))
        if x is None:
            return None
        traces = list(s.scalars(select(Trace).where(Trace.project_id == pid, Trace.session_id == session_id)
                                .order_by(Trace.timestamp)))
        tag_map = _tags(s, pid, [t.id for t in traces])
        return {**_session_view(x), "traces": [trace_view(t, tag_map[t.id]) for t in traces]}

    found = await _read(request, run)
    if found is None:
        raise _not_found("Session", session_id)
    return found


# --- scores -------------------------------------------------------------------------------------------------

_OPERATORS = {"<": "__lt__", ">": "__gt__", "<=": "__le__", ">=": "__ge__", "=": "__eq__", "!=": "__ne__"}


def _score_query(pid: str, q: dict[str, Any]) -> Select:
    stmt = select(Score).where(Score.project_id == pid)
    for column, key in ((Score.name, "name"), (Score.source, "source"), (Score.data_type, "dataType"),
                        (Score.trace_id, "traceId"), (Score.observation_id, "observationId"),
                        (Score.session_id, "sessionId"), (Score.config_id, "configId"), (Score.id, "id"),
                        (Score.author_user_id, "authorUserId")):
        if q.get(key) is not None:
            stmt = stmt.where(column == q[key])
    if q.get("fromTimestamp"):
        stmt = stmt.where(Score.timestamp >= _time(q["fromTimestamp"]))
    if q.get("toTimestamp"):
        stmt = stmt.where(Score.timestamp < _time(q["toTimestamp"]))
    if q.get("environment"):
        stmt = stmt.where(Score.environment.in_(q["environment"]))
    if q.get("scoreIds"):
        stmt = stmt.where(Score.id.in_([i.strip() for i in q["scoreIds"].split(",") if i.strip()]))
    if q.get("value") is not None:
        op = _OPERATORS.get(q.get("operator") or "=")
        if op is None:
            raise HTTPException(400, f"Invalid request data: operator must be one of {list(_OPERATORS)}")
        stmt = stmt.where(getattr(Score.value, op)(q["value"]))
    if q.get("valueMin") is not None:
        stmt = stmt.where(Score.value >= q["valueMin"])
    if q.get("valueMax") is not None:
        stmt = stmt.where(Score.value <= q["valueMax"])
    trace_filter = []
    if q.get("userId") is not None:
        trace_filter.append(Trace.user_id == q["userId"])
    if trace_filter:
        stmt = stmt.where(exists().where(Trace.project_id == pid, Trace.id == Score.trace_id, *trace_filter))
    for tag in q.get("traceTags") or []:
        stmt = stmt.where(exists().where(TraceTag.project_id == pid, TraceTag.trace_id == Score.trace_id, TraceTag.tag == tag))
    return stmt


def _with_trace(s: Session, pid: str, rows: list[Score]) -> list[dict[str, Any]]:
    trace_ids = sorted({x.trace_id for x in rows if x.trace_id})
    traces = {t.id: t for t in s.scalars(select(Trace).where(Trace.project_id == pid, Trace.id.in_(trace_ids)))}
    tag_map = _tags(s, pid, trace_ids)
    out = []
    for x in rows:
        t = traces.get(x.trace_id)
        trace = {"userId": t.user_id, "tags": sorted(tag_map[t.id]), "environment": t.environment or "default"} if t else None
        out.append({**score_view(x), "trace": trace})
    return out


async def _list_scores(request: Request, ctx: ProjectContext, page: int, limit: int, q: dict[str, Any]) -> dict[str, Any]:
    pager = Page(request, page, limit)
    stmt = _score_query(ctx.project_id, q)

    def run(s: Session) -> dict[str, Any]:
        rows, meta = pager.apply(s, stmt, [Score.timestamp.desc(), Score.id])
        return {"data": _with_trace(s, ctx.project_id, rows), "meta": meta}

    return await _read(request, run)


@router.get("/scores")
@router.get("/v2/scores")
async def list_scores(
    request: Request, ctx: ProjectContext = Depends(basic_project), page: int = 1, limit: int = 50,
    userId: str | None = None, name: str | None = None, fromTimestamp: datetime | None = None,  # noqa: N803
    toTimestamp: datetime | None = None, environment: list[str] | None = Query(None), source: str | None = None,  # noqa: N803
    operator: str | None = None, value: float | None = None, scoreIds: str | None = None,  # noqa: N803
    configId: str | None = None, dataType: str | None = None, traceTags: list[str] | None = Query(None),  # noqa: N803
    traceId: str | None = None, observationId: str | None = None, sessionId: str | None = None,  # noqa: N803
) -> dict[str, Any]:
    q = dict(userId=userId, name=name, fromTimestamp=fromTimestamp, toTimestamp=toTimestamp, environment=environment,
             source=source, operator=operator, value=value, scoreIds=scoreIds, configId=configId, dataType=dataType,
             traceTags=traceTags, traceId=traceId, observationId=observationId, sessionId=sessionId)
    return await _list_scores(request, ctx, page, limit, q)


@router.get("/v3/scores")
async def list_scores_v3(
    request: Request, ctx: ProjectContext = Depends(basic_project), limit: int = 50, cursor: str | None = None,
    id: str | None = None, name: str | None = None, source: str | None = None, dataType: str | None = None,  # noqa: N803
    environment: list[str] | None = Query(None), configId: str | None = None, authorUserId: str | None = None,  # noqa: N803
    valueMin: float | None = None, valueMax: float | None = None, traceId: str | None = None,  # noqa: N803
    sessionId: str | None = None, observationId: str | None = None, fromTimestamp: datetime | None = None,  # noqa: N803
    toTimestamp: datetime | None = None,  # noqa: N803
) -> dict[str, Any]:
    """SDK 5's `api.scores.get_many`."""
    pager = Cursor(cursor, limit, request.app.state.settings.limits.max_page_limit)
    stmt = _score_query(ctx.project_id, dict(id=id, name=name, source=source, dataType=dataType, environment=environment,
                                             configId=configId, authorUserId=authorUserId, valueMin=valueMin,
                                             valueMax=valueMax, traceId=traceId, sessionId=sessionId,
                                             observationId=observationId, fromTimestamp=fromTimestamp,
                                             toTimestamp=toTimestamp))

    def run(s: Session) -> dict[str, Any]:
        rows, meta = pager.apply(s, stmt, [Score.timestamp.desc(), Score.id])
        return {"data": [score_v3_view(x) for x in rows], "meta": meta}

    return await _read(request, run)


@router.get("/scores/{score_id}")
@router.get("/v2/scores/{score_id}")
async def get_score(score_id: str, request: Request, ctx: ProjectContext = Depends(basic_project)) -> dict[str, Any]:
    x = await _read(request, lambda s: s.get(Score, (ctx.project_id, score_id)))
    if x is None:
        raise _not_found("Score", score_id)
    return score_view(x)


@router.delete("/scores/{score_id}", status_code=202)
async def delete_score(score_id: str, request: Request, ctx: ProjectContext = Depends(basic_project)) -> dict[str, str]:
    def run() -> None:
        with request.app.state.db.writing() as s:
            s.execute(delete(Score).where(Score.project_id == ctx.project_id, Score.id == score_id))

    await run_in_threadpool(run)
    return {"message": "Score deleted"}
