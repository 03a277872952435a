"""Prometheus metrics for the gateway, in a registry of the app's own (so several apps in one process
— tests, workers — never share or clash over counters)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from safewatch.gateway.upstream.base import UpstreamError
from safewatch.verdict import Verdict

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("safewatch_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("safewatch_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["method", "route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.verdicts = Counter("safewatch_verdicts", "Texts checked, by role and action",
                                ["role", "action"], registry=r)
        self.flagged = Counter("safewatch_flagged", "Flagged texts per category and action",
                               ["role", "category", "action"], registry=r)
        self.blocked = Counter("safewatch_chat_blocked", "Chat requests answered by the guard instead of the model",
                               ["stage"], registry=r)
        self.upstream_requests = Counter("safewatch_upstream_requests", "Upstream calls that succeeded",
                                         ["upstream"], registry=r)
        self.upstream_errors = Counter("safewatch_upstream_errors", "Upstreams that failed after their retries",
                                       ["upstream", "kind"], registry=r)
        self.upstream_retries = Counter("safewatch_upstream_retries", "Upstream attempts retried",
                                        ["upstream", "kind"], registry=r)
        self.detector_errors = Counter("safewatch_detector_errors", "Detector calls that raised", ["role"],
                                       registry=r)
        self.batch_size = Histogram("safewatch_detector_batch_size", "Texts per micro-batch",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r)
        self.rate_limited = Counter("safewatch_rate_limited", "Requests refused by the per-key rate limit",
                                    registry=r)
        self.judge_reviews = Counter("safewatch_judge_reviews", "Verdicts sent to the LLM judge, by outcome "
                                     "(used, cached, failed: the local verdict stood)", ["role", "outcome"], registry=r)

    def verdict(self, verdict: Verdict, role: str) -> None:
        action = verdict.action.value
        self.verdicts.labels(role, action).inc()
        for category in verdict.flagged_categories:
            self.flagged.labels(role, category, action).inc()
        if verdict.judge_outcome is not None:
            self.judge_reviews.labels(role, verdict.judge_outcome).inc()

    def upstream_retry(self, upstream: str, error: UpstreamError) -> None:
        self.upstream_retries.labels(upstream, error.kind).inc()

    def upstream_error(self, upstream: str, error: UpstreamError) -> None:
        self.upstream_errors.labels(upstream, error.kind).inc()

    def upstream_ok(self, upstream: str) -> None:
        self.upstream_requests.labels(upstream).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request, labelled by its route template (not the raw path, which would
    give one series per id)."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)
