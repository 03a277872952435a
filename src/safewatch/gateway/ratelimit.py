"""Per-key rate limits: a token bucket in process, or a shared window counter in Redis.

With several workers or replicas the in-process bucket would let each one grant the full rate, so
SAFEWATCH_REDIS_URL switches to Redis, where every replica counts against the same key.
"""

from __future__ import annotations

import time
from typing import Protocol


class RateLimiter(Protocol):
    async def hit(self, key: str) -> float | None:
        """Take one request from `key`'s allowance: None when allowed, else seconds until it would be."""
        ...

    async def aclose(self) -> None: ...


class TokenBucketLimiter:
    """`per_minute` requests a minute per key, with bursts up to the same number."""

    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)

    async def hit(self, key: str) -> float | None:
        now = self._clock()
        tokens, when = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - when) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    async def aclose(self) -> None:
        return None


class RedisWindowLimiter:
    """A fixed one-minute window per key, counted in Redis so all replicas share it."""

    def __init__(self, per_minute: int, url: str, prefix: str = "safewatch:ratelimit:") -> None:
        import redis.asyncio as redis

        self.per_minute = per_minute
        self._redis = redis.from_url(url)
        self._prefix = prefix

    async def hit(self, key: str) -> float | None:
        window = int(time.time() // 60)
        name = f"{self._prefix}{key}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, 61)
            count, _ = await pipe.execute()
        if count <= self.per_minute:
            return None
        return max(0.001, (window + 1) * 60 - time.time())

    async def aclose(self) -> None:
        await self._redis.aclose()


def make_limiter(per_minute: int, redis_url: str | None) -> RateLimiter | None:
    if per_minute <= 0:
        return None
    if redis_url:
        return RedisWindowLimiter(per_minute, redis_url)
    return TokenBucketLimiter(per_minute)
