"""Upstream model clients (OpenAI-compatible, Anthropic), retries and routing."""

from safewatch.gateway.upstream.base import (
    ChunkStream,
    UpstreamClient,
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from safewatch.gateway.upstream.retry import KeyRing, RetryPolicy, parse_retry_after, with_retries
from safewatch.gateway.upstream.router import AllUpstreamsFailed, Upstream, UpstreamRouter, canary_bucket

__all__ = [
    "AllUpstreamsFailed", "ChunkStream", "KeyRing", "RetryPolicy", "Upstream", "UpstreamClient",
    "UpstreamConnectError", "UpstreamError", "UpstreamProtocolError", "UpstreamRouter", "UpstreamStatusError",
    "UpstreamTimeout", "canary_bucket", "parse_retry_after", "with_retries",
]
