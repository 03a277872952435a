"""One HTTP exchange with an upstream, with transport failures mapped onto `UpstreamError`s."""

from __future__ import annotations

import json

import httpx

from safewatch.gateway.upstream.base import (
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from safewatch.gateway.upstream.retry import parse_retry_after


def make_client(connect_timeout_s: float, read_timeout_s: float) -> httpx.AsyncClient:
    timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s, pool=connect_timeout_s)
    return httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))


def _status_error(response: httpx.Response, raw: bytes) -> UpstreamStatusError:
    body: dict | None = None
    message = f"upstream answered HTTP {response.status_code}"
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        body = parsed
        err = parsed.get("error")
        detail = err.get("message") if isinstance(err, dict) else err if isinstance(err, str) else None
        if detail:
            message = f"{message}: {detail}"
    return UpstreamStatusError(
        message, status=response.status_code, retry_after_s=parse_retry_after(response.headers), body=body
    )


async def post_json(client: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict) -> dict:
    try:
        response = await client.post(url, json=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"upstream timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise UpstreamConnectError(f"cannot reach upstream: {exc}") from exc
    if response.status_code >= 400:
        raise _status_error(response, response.content)
    try:
        data = response.json()
    except ValueError as exc:
        raise UpstreamProtocolError("upstream answered with malformed JSON") from exc
    if not isinstance(data, dict):
        raise UpstreamProtocolError("upstream answered with JSON that is not an object")
    return data


async def open_stream(client: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict) -> httpx.Response:
    """Send the request and wait for the status line; the caller reads (and must close) the body."""
    request = client.build_request("POST", url, json=body, headers={**headers, "accept": "text/event-stream"})
    try:
        response = await client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"upstream timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise UpstreamConnectError(f"cannot reach upstream: {exc}") from exc
    if response.status_code >= 400:
        try:
            raw = await response.aread()
        except httpx.HTTPError:
            raw = b""
        finally:
            await response.aclose()
        raise _status_error(response, raw)
    return response
