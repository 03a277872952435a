"""Write routes: `/api/public/ingestion` (SDK v2 batches), `/api/public/scores` (SDK 5), `/api/public/projects`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from safewatch.auth import ProjectContext
from safewatch.auth.deps import basic_project
from safewatch.store.models import Organization
from safewatch.tracing.events import EventError, ScoreBody, parse_event, score_change
from safewatch.tracing.http import parse_json, read_body

router = APIRouter(prefix="/api/public", tags=["tracing"])


def _service(request: Request):
    return request.app.state.tracer


def _limits(request: Request):
    return request.app.state.settings.limits


@router.post("/ingestion")
async def ingestion(request: Request, ctx: ProjectContext = Depends(basic_project)) -> JSONResponse:
    limits = _limits(request)
    payload = parse_json(await read_body(request, limits.max_body_bytes))
    batch = payload.get("batch") if isinstance(payload, dict) else None
    if not isinstance(batch, list):
        raise HTTPException(400, "Invalid request data: expected an object with a 'batch' array")
    if len(batch) > limits.max_batch_events:
        raise HTTPException(413, f"a batch holds at most {limits.max_batch_events} events")
    changes, errors = [], []
    for raw in batch:
        try:
            changes.append(parse_event(raw))
        except EventError as exc:
            event_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else "unknown"
            errors.append({"id": event_id, "status": exc.status, "message": exc.message, "error": exc.message})
    await _service(request).ingest(ctx.project_id, changes)
    successes = [{"id": c.event_id, "status": 201} for c in changes]
    return JSONResponse({"successes": successes, "errors": errors}, status_code=207)


@router.post("/scores")
async def create_scores(request: Request, ctx: ProjectContext = Depends(basic_project)) -> JSONResponse:
    """SDK 5 posts a JSON array; the v2 REST client one object (answered with its id)."""
    payload = parse_json(await read_body(request, _limits(request).max_body_bytes))
    items: list[Any] = payload if isinstance(payload, list) else [payload]
    now = datetime.now(UTC).replace(tzinfo=None)
    changes, errors = [], []
    for item in items:
        try:
            if not isinstance(item, dict):
                raise EventError("a score must be an object")
            body = ScoreBody.model_validate(item)
            changes.append(score_change(f"score:{body.id or uuid.uuid4()}", now, body))
        except EventError as exc:
            errors.append({"message": exc.message})
        except ValueError as exc:  # pydantic.ValidationError
            errors.append({"message": f"Invalid request data: {exc}"})
    if not isinstance(payload, list):
        if errors:
            raise HTTPException(400, errors[0]["message"])
        await _service(request).ingest(ctx.project_id, changes)
        return JSONResponse({"id": changes[0].entity_id}, status_code=200)
    await _service(request).ingest(ctx.project_id, changes)
    if errors:
        return JSONResponse({"accepted": len(changes), "rejected": len(errors), "errors": errors}, status_code=207)
    return JSONResponse({"message": "Accepted"}, status_code=202)


@router.get("/projects")
async def projects(request: Request, ctx: ProjectContext = Depends(basic_project)) -> dict[str, Any]:
    """What `auth_check()` reads: the key's own project, with its organisation (SDK 5 requires both keys)."""
    db = request.app.state.db

    def org_name() -> str | None:
        with db.sessions() as s:
            return s.scalar(select(Organization.name).where(Organization.id == ctx.org_id))

    name = await run_in_threadpool(org_name)
    return {"data": [{"id": ctx.project_id, "name": ctx.project_name,
                      "organization": {"id": ctx.org_id, "name": name or ""}, "metadata": {}}]}
