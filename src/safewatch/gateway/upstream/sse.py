"""Reading server-sent events from an httpx response, shared by the OpenAI and Anthropic clients."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from safewatch.gateway.upstream.base import UpstreamConnectError, UpstreamProtocolError, UpstreamTimeout


@dataclass
class Event:
    event: str | None
    data: str

    def json(self) -> dict:
        try:
            value = json.loads(self.data)
        except ValueError as exc:
            raise UpstreamProtocolError(f"malformed chunk from upstream: {self.data[:80]!r}") from exc
        if not isinstance(value, dict):
            raise UpstreamProtocolError(f"malformed chunk from upstream: {self.data[:80]!r}")
        return value


async def iter_events(response: httpx.Response) -> AsyncIterator[Event]:
    """Events as the SSE spec frames them: `event:`/`data:` lines, ended by a blank line."""
    event: str | None = None
    data: list[str] = []
    try:
        async for line in response.aiter_lines():
            if not line:
                if data:
                    yield Event(event, "\n".join(data))
                event, data = None, []
                continue
            if line.startswith(":"):
                continue  # a comment, often a keep-alive
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
        if data:
            yield Event(event, "\n".join(data))
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout("upstream stream timed out") from exc
    except httpx.TransportError as exc:
        raise UpstreamConnectError(f"upstream stream broke: {exc}") from exc
