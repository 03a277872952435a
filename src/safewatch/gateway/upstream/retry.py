"""Retries with exponential backoff and full jitter, honouring the upstream's Retry-After.

Full jitter (a uniform delay in [0, min(cap, base * 2**attempt)]) spreads the retries of many clients that
failed together, so they do not hit the recovering upstream in lock-step.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TypeVar

from safewatch.gateway.upstream.base import UpstreamError

T = TypeVar("T")


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait, from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


@dataclass
class RetryPolicy:
    max_retries: int = 2
    base_s: float = 0.25
    cap_s: float = 8.0
    # A Retry-After beyond this is not worth waiting for: give up on this upstream and let the next one try.
    max_retry_after_s: float = 20.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, error: UpstreamError) -> float | None:
        """Seconds to sleep before retry number `attempt` (0-based), or None to stop retrying."""
        if not error.retryable or attempt >= self.max_retries:
            return None
        if error.retry_after_s is not None:
            return error.retry_after_s if error.retry_after_s <= self.max_retry_after_s else None
        return self.rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


class KeyRing:
    """Rotates through an upstream's API keys, one per attempt."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = keys or [""]
        self._next = 0

    def take(self) -> str:
        key = self._keys[self._next % len(self._keys)]
        self._next += 1
        return key


async def with_retries(
    attempt: Callable[[str], Awaitable[T]],
    *,
    keys: KeyRing,
    policy: RetryPolicy,
    on_retry: Callable[[UpstreamError], None] | None = None,
) -> T:
    """Run `attempt(api_key)` until it succeeds, or raise the last error once the policy says stop."""
    n = 0
    while True:
        try:
            return await attempt(keys.take())
        except UpstreamError as exc:
            delay = policy.delay(n, exc)
            if delay is None:
                raise
            if on_retry is not None:
                on_retry(exc)
            n += 1
            await asyncio.sleep(delay)
