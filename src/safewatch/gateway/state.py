"""The gateway's per-app state (`app.state.gateway`) and the dependency every route starts with."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from fastapi import Depends, Request

from safewatch.auth.context import ProjectContext
from safewatch.auth.deps import bearer_project
from safewatch.gateway.errors import RateLimited
from safewatch.gateway.guard import Guard
from safewatch.gateway.metrics import GatewayMetrics
from safewatch.gateway.ratelimit import RateLimiter
from safewatch.gateway.settings import GatewaySettings
from safewatch.gateway.upstream import UpstreamRouter

log = logging.getLogger("safewatch.gateway")


@dataclass
class GatewayState:
    settings: GatewaySettings
    metrics: GatewayMetrics
    guard: Guard
    router: UpstreamRouter
    limiter: RateLimiter | None
    tracer: object | None = None
    _background: set[asyncio.Task] = field(default_factory=set)

    def record(self, project_id: str, **fields) -> None:
        """Send a trace to the tracer without waiting for it: tracing must never fail or slow a request."""
        if self.tracer is None or not hasattr(self.tracer, "record_gateway"):
            return

        async def run() -> None:
            try:
                await self.tracer.record_gateway(project_id, **fields)
            except Exception:
                log.warning("recording a gateway trace failed", exc_info=True)

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self, timeout_s: float = 5.0) -> None:
        if self._background:
            await asyncio.wait(set(self._background), timeout=timeout_s)


def gateway(request: Request) -> GatewayState:
    return request.app.state.gateway


async def authorized(request: Request, project: ProjectContext = Depends(bearer_project)) -> ProjectContext:
    """The caller's project, once its key is valid and within its rate limit."""
    state = gateway(request)
    if state.limiter is not None:
        try:
            wait = await state.limiter.hit(project.key_id)
        except Exception:  # a limiter outage (Redis down) must not take the gateway down with it
            log.warning("rate limiter failed; letting the request through", exc_info=True)
            wait = None
        if wait is not None:
            state.metrics.rate_limited.inc()
            raise RateLimited(f"Rate limit of {state.settings.rate_limit_per_minute} requests per minute "
                              f"reached for this key; retry in {wait:.1f}s.", retry_after_s=wait)
    return project
