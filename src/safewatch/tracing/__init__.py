"""Langfuse-compatible tracing: ingestion (batch API and OTLP), read API, automatic safety scores."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the tracing routes and `app.state.tracer` to the app."""
