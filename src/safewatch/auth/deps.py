"""FastAPI dependencies that turn a request's key into a ProjectContext."""

from __future__ import annotations

import base64
import binascii

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from safewatch.auth.context import ProjectContext
from safewatch.auth.errors import AuthError
from safewatch.auth.keys import KeyStore


def _keys(request: Request) -> KeyStore:
    return request.app.state.keys


_BEARER_HINT = "send 'Authorization: Bearer <secret key>'"
_BASIC_HINT = "use HTTP Basic auth with the public key as user and the secret key as password"


def _authorization(request: Request, hint: str) -> tuple[str, str]:
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise AuthError(f"Missing API key: {hint}.")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if not value:
        raise AuthError(f"Empty credentials in the {scheme} Authorization header.")
    return scheme.lower(), value


async def bearer_project(request: Request) -> ProjectContext:
    """`Authorization: Bearer <secret key>` (the OpenAI-compatible routes)."""
    scheme, value = _authorization(request, _BEARER_HINT)
    if scheme != "bearer":
        raise AuthError(f"Unsupported authorization scheme: {_BEARER_HINT}.")
    return await _verify(request, None, value)


async def basic_project(request: Request) -> ProjectContext:
    """HTTP Basic with public key as user and secret key as password (the Langfuse routes); Bearer secret too."""
    scheme, value = _authorization(request, _BASIC_HINT)
    if scheme == "bearer":
        return await _verify(request, None, value)
    if scheme != "basic":
        raise AuthError(f"Unsupported authorization scheme: {_BASIC_HINT}.")
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthError("Malformed Basic credentials.") from exc
    public_key, sep, secret = decoded.partition(":")
    if not sep or not public_key or not secret:
        raise AuthError("Basic credentials must be '<public key>:<secret key>'.")
    return await _verify(request, public_key, secret)


async def _verify(request: Request, public_key: str | None, secret: str) -> ProjectContext:
    keys = _keys(request)
    cached = keys.cached(secret, public_key)
    if cached is not None:
        return cached
    if public_key is None:
        return await run_in_threadpool(keys.verify_secret, secret)
    return await run_in_threadpool(keys.verify_pair, public_key, secret)
