"""Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

Every failure under the gateway's routes is raised as a `GatewayError` subclass and rendered by one handler,
so the official SDKs raise their usual exception classes (BadRequestError, RateLimitError, ...).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class GatewayError(Exception):
    status_code = 400
    error_type = "invalid_request_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status_code, headers=self.headers)


class InvalidRequest(GatewayError):
    """Malformed JSON, wrong types, values out of range."""


class ModelNotFound(GatewayError):
    status_code = 404
    code = "model_not_found"


class PayloadTooLarge(GatewayError):
    status_code = 413
    code = "payload_too_large"


class RateLimited(GatewayError):
    status_code = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        seconds = max(1, int(retry_after_s + 0.999))
        super().__init__(message, headers={"Retry-After": str(seconds)})
        self.retry_after_s = retry_after_s


class DetectorUnavailable(GatewayError):
    """The detector failed and the policy fails closed (or the route has no way to fail open)."""

    status_code = 503
    error_type = "server_error"
    code = "detector_error"


class UpstreamUnavailable(GatewayError):
    """Every configured upstream failed; the message is localized to the user's language."""

    status_code = 502
    error_type = "upstream_error"
    code = "upstream_unavailable"


class UpstreamRejected(GatewayError):
    """The upstream refused the request itself (a 4xx that retrying cannot fix): passed on to the caller."""

    error_type = "invalid_request_error"
    code = "upstream_rejected"


class NotConfigured(GatewayError):
    status_code = 503
    error_type = "server_error"
    code = "upstream_not_configured"


# Shown to end users when no upstream answers, in the language their message was written in.
_UNAVAILABLE = {
    "en": "The assistant is temporarily unavailable. Please try again in a moment.",
    "vi": "Trợ lý tạm thời không khả dụng. Vui lòng thử lại sau giây lát.",
    "zh": "助手暂时无法使用，请稍后再试。",
}


def unavailable_message(language: str) -> str:
    return _UNAVAILABLE.get(language, _UNAVAILABLE["en"])


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return exc.response()


def install_error_handler(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _handle)
