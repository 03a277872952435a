"""What every upstream client offers, and how it fails.

Clients speak OpenAI's chat format to the gateway whatever they speak on the wire: `complete` returns a
`chat.completion` dict, `open_stream` returns an async iterator of `chat.completion.chunk` dicts. Opening a
stream (connect, status) can be retried; once chunks flow, a failure ends the stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class UpstreamError(Exception):
    """An upstream call failed. `retryable` says whether another attempt (or upstream) may succeed."""

    retryable = True
    kind = "error"

    def __init__(self, message: str, *, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class UpstreamStatusError(UpstreamError):
    """The upstream answered with an HTTP error status."""

    kind = "status"

    def __init__(self, message: str, *, status: int, retry_after_s: float | None = None, body: dict | None = None):
        super().__init__(message, status=status, retry_after_s=retry_after_s)
        self.body = body
        self.retryable = status in (408, 409, 429) or status >= 500

    @property
    def is_client_error(self) -> bool:
        """A 4xx about the request itself: no other upstream would take it either."""
        return 400 <= self.status < 500 and self.status not in (401, 403, 408, 409, 429)


class UpstreamTimeout(UpstreamError):
    kind = "timeout"


class UpstreamConnectError(UpstreamError):
    kind = "connect"


class UpstreamProtocolError(UpstreamError):
    """The upstream's answer could not be understood (bad JSON, a malformed chunk, an error event)."""

    kind = "protocol"


class ChunkStream(Protocol):
    def __aiter__(self) -> AsyncIterator[dict]: ...

    async def aclose(self) -> None: ...


class UpstreamClient(Protocol):
    name: str
    kind: str

    async def complete(self, body: dict, api_key: str) -> dict: ...

    async def open_stream(self, body: dict, api_key: str) -> ChunkStream: ...

    async def aclose(self) -> None: ...
