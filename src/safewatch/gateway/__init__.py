"""The gateway: OpenAI-compatible `/v1/moderations`, the guarded `/v1/chat/completions` proxy, the native
`/api/v1/check`, and `/metrics`.

`install(app)` adds it to the server made by `safewatch.server.app.create_app`, which provides
`app.state.detector` (shared) and runs `app.state.startup_hooks` / `shutdown_hooks`.
"""

from __future__ import annotations

from fastapi import FastAPI

from safewatch.gateway.batcher import MicroBatcher
from safewatch.gateway.errors import GatewayError, install_error_handler
from safewatch.gateway.guard import Guard
from safewatch.gateway.metrics import GatewayMetrics, MetricsMiddleware
from safewatch.gateway.ratelimit import make_limiter
from safewatch.gateway.settings import GatewaySettings, UpstreamSettings
from safewatch.gateway.state import GatewayState
from safewatch.gateway.upstream import UpstreamRouter

__all__ = ["GatewayError", "GatewaySettings", "GatewayState", "UpstreamSettings", "install"]


def install(app: FastAPI, settings: GatewaySettings | None = None) -> GatewayState:
    settings = settings or GatewaySettings.load()
    metrics = GatewayMetrics()
    detector = app.state.detector
    batcher = MicroBatcher(detector, max_batch=settings.batch_max_size, on_batch=metrics.batch_size.observe)
    state = GatewayState(
        settings=settings,
        metrics=metrics,
        guard=Guard(batcher, detector.policy, metrics),
        router=UpstreamRouter.from_settings(settings, events=metrics),
        limiter=make_limiter(settings.rate_limit_per_minute, settings.redis_url),
    )
    app.state.gateway = state
    install_error_handler(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    from safewatch.gateway import chat, metrics_route, moderations

    app.include_router(moderations.router, tags=["gateway"])
    app.include_router(chat.router, tags=["gateway"])
    app.include_router(metrics_route.router, tags=["metrics"])

    async def start() -> None:
        # Looked up again when the server starts: the tracer may be installed after us, and a test or an
        # embedding application may have swapped the detector since create_app.
        state.tracer = getattr(app.state, "tracer", None)
        batcher.detector = app.state.detector
        state.guard.policy = app.state.detector.policy
        await batcher.start()

    async def stop() -> None:
        await state.drain()
        await batcher.stop()
        await state.router.aclose()
        if state.limiter is not None:
            await state.limiter.aclose()

    app.state.startup_hooks.append(start)
    app.state.shutdown_hooks.append(stop)
    return state
