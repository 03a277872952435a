"""`POST /v1/moderations` (OpenAI's schema) and `POST /api/v1/check` (full verdicts)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from safewatch.auth.context import ProjectContext
from safewatch.gateway.errors import InvalidRequest, ModelNotFound
from safewatch.gateway.guard import blocks, strongest
from safewatch.gateway.schemas import (
    DEFAULT_MODERATION_MODEL,
    MODERATION_MODELS,
    CheckRequest,
    ModerationRequest,
    moderation_response,
    read_json,
)
from safewatch.gateway.settings import GatewaySettings
from safewatch.gateway.state import authorized, gateway

router = APIRouter()


def _check_limits(texts: list[str], settings: GatewaySettings) -> None:
    if not texts:
        raise InvalidRequest("input must not be empty", param="input")
    if len(texts) > settings.max_inputs:
        raise InvalidRequest(f"input has {len(texts)} items; at most {settings.max_inputs} are allowed",
                             param="input")
    for i, text in enumerate(texts):
        if len(text) > settings.max_text_chars:
            raise InvalidRequest(f"input[{i}] has {len(text)} characters; at most {settings.max_text_chars} "
                                 "are allowed", param="input")


@router.post("/v1/moderations")
async def moderations(request: Request, project: ProjectContext = Depends(authorized)) -> JSONResponse:
    state = gateway(request)
    start = time.perf_counter()
    body = await read_json(request, ModerationRequest, state.settings.max_body_bytes)
    model = body.model or DEFAULT_MODERATION_MODEL
    if model not in MODERATION_MODELS:
        raise ModelNotFound(f"The model '{model}' does not exist; use one of: {', '.join(MODERATION_MODELS)}",
                            param="model")
    texts = body.texts()
    _check_limits(texts, state.settings)
    verdicts = await state.guard.verdicts(texts, "input")
    top = strongest(verdicts)
    state.record(
        project.project_id, name="moderation", user_id=request.headers.get("x-safewatch-user-id"),
        session_id=request.headers.get("x-safewatch-session-id"), input=texts[0] if len(texts) == 1 else texts,
        output=None, model=model, input_verdict=top, output_verdict=None,
        blocked="input" if blocks(top) else None, usage=None,
        latency_ms=(time.perf_counter() - start) * 1000, metadata={"route": "/v1/moderations"},
    )
    # A JSONResponse of plain dicts skips FastAPI's generic encoder: this is the hot path.
    return JSONResponse(moderation_response(model, verdicts))


@router.post("/api/v1/check")
async def check(request: Request, project: ProjectContext = Depends(authorized)) -> JSONResponse:
    state = gateway(request)
    body = await read_json(request, CheckRequest, state.settings.max_body_bytes)
    texts = body.texts()
    _check_limits(texts, state.settings)
    verdicts = await state.guard.verdicts(texts, body.role)
    return JSONResponse({"results": [v.to_dict() for v in verdicts]})


@router.get("/v1/models")
async def models(project: ProjectContext = Depends(authorized)) -> JSONResponse:
    """The moderation models this server answers to (chat models are the upstream's to list)."""
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "safewatch"} for m in MODERATION_MODELS]
    return JSONResponse({"object": "list", "data": data})
