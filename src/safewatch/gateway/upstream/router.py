"""Which upstream answers: canary by a stable hash of the user id, then the primary, then the fallback.

Each upstream gets its own retries (rotating its keys); when they are spent the next one in the chain tries.
A 4xx about the request itself stops the chain at once: no other upstream would accept it either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from safewatch.gateway.settings import GatewaySettings, UpstreamSettings
from safewatch.gateway.upstream.anthropic import AnthropicUpstream
from safewatch.gateway.upstream.base import ChunkStream, UpstreamClient, UpstreamError, UpstreamStatusError
from safewatch.gateway.upstream.http import make_client
from safewatch.gateway.upstream.openai import OpenAIUpstream
from safewatch.gateway.upstream.retry import KeyRing, RetryPolicy, with_retries

T = TypeVar("T")


class UpstreamEvents(Protocol):
    """Where the router reports what happened (metrics)."""

    def upstream_retry(self, upstream: str, error: UpstreamError) -> None: ...

    def upstream_error(self, upstream: str, error: UpstreamError) -> None: ...

    def upstream_ok(self, upstream: str) -> None: ...


class AllUpstreamsFailed(Exception):
    def __init__(self, errors: list[tuple[str, UpstreamError]]) -> None:
        super().__init__("; ".join(f"{name}: {err}" for name, err in errors) or "no upstream configured")
        self.errors = errors

    @property
    def timed_out(self) -> bool:
        return bool(self.errors) and all(err.kind == "timeout" for _, err in self.errors)


@dataclass
class Upstream:
    client: UpstreamClient
    keys: KeyRing

    @property
    def name(self) -> str:
        return self.client.name


def canary_bucket(user_id: str) -> float:
    """A stable number in [0, 100) for a user: the same user always lands on the same side of the split."""
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 / 100


def build_upstream(settings: UpstreamSettings, connect_timeout_s: float, read_timeout_s: float) -> Upstream:
    http = make_client(connect_timeout_s, read_timeout_s)
    client: UpstreamClient
    if settings.kind == "anthropic":
        client = AnthropicUpstream(settings.name, settings.base_url, http,
                                   default_max_tokens=settings.default_max_tokens, version=settings.anthropic_version)
    else:
        client = OpenAIUpstream(settings.name, settings.base_url, http)
    return Upstream(client, KeyRing(settings.keys))


class UpstreamRouter:
    def __init__(
        self,
        primary: Upstream | None,
        *,
        fallback: Upstream | None = None,
        canary: Upstream | None = None,
        canary_percent: float = 0.0,
        retry: RetryPolicy | None = None,
        events: UpstreamEvents | None = None,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.canary = canary
        self.canary_percent = canary_percent
        self.retry = retry or RetryPolicy()
        self.events = events

    @classmethod
    def from_settings(cls, s: GatewaySettings, events: UpstreamEvents | None = None) -> UpstreamRouter:
        def build(u: UpstreamSettings | None) -> Upstream | None:
            return build_upstream(u, s.connect_timeout_s, s.read_timeout_s) if u else None

        retry = RetryPolicy(s.max_retries, s.backoff_base_s, s.backoff_max_s, s.max_retry_after_s)
        return cls(build(s.upstream), fallback=build(s.fallback), canary=build(s.canary),
                   canary_percent=s.canary_percent, retry=retry, events=events)

    @property
    def configured(self) -> bool:
        return any((self.primary, self.fallback, self.canary))

    def chain(self, user_id: str | None) -> list[Upstream]:
        in_canary = (self.canary is not None and user_id is not None
                     and canary_bucket(user_id) < self.canary_percent)
        order = [self.canary if in_canary else None, self.primary, self.fallback]
        return [u for u in order if u is not None]

    async def _first_success(self, user_id: str | None, call: Callable[[Upstream, str], Awaitable[T]]) -> tuple[T, str]:
        errors: list[tuple[str, UpstreamError]] = []
        for upstream in self.chain(user_id):
            def on_retry(err: UpstreamError, name: str = upstream.name) -> None:
                if self.events:
                    self.events.upstream_retry(name, err)

            async def attempt(key: str, upstream: Upstream = upstream) -> T:
                return await call(upstream, key)

            try:
                result = await with_retries(attempt, keys=upstream.keys, policy=self.retry, on_retry=on_retry)
            except UpstreamError as err:
                if self.events:
                    self.events.upstream_error(upstream.name, err)
                if isinstance(err, UpstreamStatusError) and err.is_client_error:
                    raise
                errors.append((upstream.name, err))
                continue
            if self.events:
                self.events.upstream_ok(upstream.name)
            return result, upstream.name
        raise AllUpstreamsFailed(errors)

    async def complete(self, body: dict, user_id: str | None = None) -> tuple[dict, str]:
        return await self._first_success(user_id, lambda u, key: u.client.complete(body, key))

    async def open_stream(self, body: dict, user_id: str | None = None) -> tuple[ChunkStream, str]:
        return await self._first_success(user_id, lambda u, key: u.client.open_stream(body, key))

    async def aclose(self) -> None:
        for u in (self.primary, self.fallback, self.canary):
            if u is not None:
                await u.client.aclose()
