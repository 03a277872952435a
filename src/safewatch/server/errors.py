"""Error bodies in the dialect of the API being called: OpenAI's under /v1/, Langfuse's elsewhere."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from safewatch.auth import AuthError

OPENAI_PREFIX = "/v1/"
LANGFUSE_PREFIX = "/api/public/"


def openai_error(message: str, status: int, *, type_: str = "invalid_request_error", code: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


def langfuse_error(message: str, status: int, **extra: object) -> JSONResponse:
    return JSONResponse({"message": message, **extra}, status_code=status)


async def _auth_error(request: Request, exc: AuthError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="safewatch"'} if exc.status == 401 else None
    if request.url.path.startswith(OPENAI_PREFIX):
        response = openai_error(exc.message, exc.status, code="invalid_api_key")
    else:
        response = langfuse_error(exc.message, exc.status)
    if headers and not request.url.path.startswith(OPENAI_PREFIX):
        response.headers.update(headers)
    return response


async def _http_error(request: Request, exc: StarletteHTTPException):
    if request.url.path.startswith(LANGFUSE_PREFIX):
        return langfuse_error(str(exc.detail), exc.status_code)
    return await http_exception_handler(request, exc)


async def _validation_error(request: Request, exc: RequestValidationError):
    if request.url.path.startswith(LANGFUSE_PREFIX):
        return langfuse_error("Invalid request data", 400, error=_describe(exc))
    return await request_validation_exception_handler(request, exc)


def _describe(exc: RequestValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AuthError, _auth_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
