"""`GET /metrics` in Prometheus' text format; needs a key unless SAFEWATCH_METRICS_PUBLIC is set."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from safewatch.auth.deps import bearer_project
from safewatch.gateway.state import gateway

router = APIRouter()


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    state = gateway(request)
    if not state.settings.metrics_public:
        await bearer_project(request)
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
