"""The HTTP server: one FastAPI app for the gateway, tracing and the native API."""

from safewatch.server.app import create_app

__all__ = ["create_app"]
