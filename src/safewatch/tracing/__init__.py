"""Langfuse-compatible tracing: ingestion (batch API and OTLP), read API, automatic safety scores."""

from __future__ import annotations

from fastapi import FastAPI

from safewatch.tracing.service import TracingService


def install(app: FastAPI) -> None:
    """Add the tracing routes and `app.state.tracer` (started and stopped with the app)."""
    from safewatch.tracing import ingest_api, otel_api, read_api
    from safewatch.tracing.redact import make_redactor
    from safewatch.tracing.scoring import AutoScorer
    from safewatch.tracing.writer import IngestionWriter

    settings = app.state.settings
    redact = make_redactor() if settings.redact_pii_in_storage else None
    scorer = None
    if settings.scoring_enabled:
        scorer = AutoScorer(app.state.db, app.state.detector, queue_size=settings.scoring_queue_size,
                            batch_size=settings.scoring_batch_size)
    tracer = TracingService(IngestionWriter(app.state.db, redact=redact), scorer,
                            event_id_retention_s=settings.ingestion_dedupe_hours * 3600)
    app.state.tracer = tracer
    app.state.startup_hooks.append(tracer.start)
    app.state.shutdown_hooks.append(tracer.stop)
    for module in (ingest_api, otel_api, read_api):
        app.include_router(module.router)


__all__ = ["TracingService", "install"]
