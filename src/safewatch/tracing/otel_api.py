"""`POST /api/public/otel/v1/traces`: OTLP over HTTP, protobuf or JSON, gzip or not."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request

from safewatch.auth import ProjectContext
from safewatch.auth.deps import basic_project
from safewatch.tracing.http import read_body
from safewatch.tracing.otel import OtlpError, decode, export_changes

router = APIRouter(prefix="/api/public/otel", tags=["tracing"])


@router.post("/v1/traces")
async def otel_traces(request: Request, ctx: ProjectContext = Depends(basic_project)) -> dict:
    body = await read_body(request, request.app.state.settings.limits.max_body_bytes)
    try:
        changes = export_changes(decode(body, request.headers.get("content-type", "")))
    except OtlpError as exc:
        raise HTTPException(400, str(exc)) from exc
    await request.app.state.tracer.ingest(ctx.project_id, changes)
    return {}
