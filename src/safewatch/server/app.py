"""`create_app(settings)`: the one server process (gateway, tracing, native API)."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

import safewatch
from safewatch.auth import KeyStore
from safewatch.config import Settings
from safewatch.server.errors import install_error_handlers
from safewatch.store import Database, upgrade

log = logging.getLogger("safewatch.server")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()
    db = Database(settings.database_url)
    if settings.migrate_on_start:
        upgrade(db)

    app = FastAPI(title="safewatch", version=safewatch.__version__, lifespan=_lifespan)
    app.state.settings = settings
    app.state.db = db
    app.state.keys = KeyStore(db)
    app.state.detector = safewatch.Detector(policy=settings.policy_path, judge=settings.judge)
    app.state.startup_hooks = []
    app.state.shutdown_hooks = []
    install_error_handlers(app)

    @app.get("/api/public/health", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "OK", "version": safewatch.__version__}

    from safewatch import gateway, tracing

    # Starlette matches routes in order: the gateway's hot routes go first, ahead of the many tracing routes.
    gateway.install(app)
    tracing.install(app)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI):
    settings: Settings = app.state.settings
    if settings.warm_up:
        try:
            await run_in_threadpool(app.state.detector.warm_up)
        except Exception:
            # A detector that cannot load must not take tracing and the read API down with it; requests
            # that need it fail (or pass) per the policy's fail_mode.
            log.exception("detector warm-up failed; detection will be retried per request")
    for hook in list(app.state.startup_hooks):
        await hook()
    try:
        yield
    finally:
        for hook in reversed(list(app.state.shutdown_hooks)):
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook %r failed", hook)
        close_detector = getattr(app.state.detector, "close", None)
        if close_detector is not None:
            close_detector()
        app.state.db.dispose()
