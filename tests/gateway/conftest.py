"""Gateway fixtures: a scriptable fake upstream on loopback, and gateways made with `create_app`, served by
uvicorn in a thread on a free port, configured by environment variables like a real deployment.

- ``upstream``: a started `FakeUpstream` (tests/fakes/upstream.py), emptied for each test.
- ``make_gateway(env=..., detector=..., tracer=..., database_url=...) -> Gateway``: a running gateway (its own
  SQLite file unless `database_url` is given); `env` holds SAFEWATCH_* variables (the upstream defaults to
  ``upstream`` as an OpenAI-compatible one, with fast timeouts and retries).
- ``gateway``: `make_gateway()` with the defaults.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import httpx
import openai
import pytest
import uvicorn

from fakes.upstream import FakeUpstream
from gateway.doubles import PhraseDetector, RecordingTracer
from safewatch.auth import create_project
from safewatch.config import Settings
from safewatch.server.app import create_app


@dataclass
class Gateway:
    base_url: str
    app: object
    secret_key: str
    project_id: str
    detector: PhraseDetector
    tracer: RecordingTracer | None

    def client(self, **kwargs) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 20)
        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=self.secret_key, **kwargs)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret_key}"}

    def post(self, path: str, **kwargs) -> httpx.Response:
        kwargs.setdefault("headers", self.headers)
        return httpx.post(f"{self.base_url}{path}", timeout=20, **kwargs)


def _fast_env(upstream: FakeUpstream) -> dict[str, str]:
    return {
        "SAFEWATCH_UPSTREAM_URL": upstream.openai_url,
        "SAFEWATCH_UPSTREAM_KEY": "sk-upstream-a,sk-upstream-b",
        "SAFEWATCH_UPSTREAM_KIND": "openai",
        "SAFEWATCH_UPSTREAM_TIMEOUT": "2",
        "SAFEWATCH_UPSTREAM_RETRIES": "2",
        "SAFEWATCH_UPSTREAM_BACKOFF_BASE": "0.01",
        "SAFEWATCH_UPSTREAM_BACKOFF_MAX": "0.05",
        "SAFEWATCH_STREAM_WINDOW_CHARS": "24",
        "SAFEWATCH_STREAM_OVERLAP_CHARS": "16",
    }


_GATEWAY_ENV = ("SAFEWATCH_UPSTREAM_", "SAFEWATCH_FALLBACK_", "SAFEWATCH_CANARY_", "SAFEWATCH_GATEWAY_",
                "SAFEWATCH_RATE_LIMIT", "SAFEWATCH_REDIS_URL", "SAFEWATCH_STREAM_", "SAFEWATCH_CONFIG",
                "SAFEWATCH_METRICS_PUBLIC", "SAFEWATCH_BATCH_", "SAFEWATCH_JUDGE_")


@pytest.fixture(scope="session")
def _upstream_server():
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture
def upstream(_upstream_server) -> FakeUpstream:
    _upstream_server.reset()
    return _upstream_server


@pytest.fixture
def make_gateway(upstream):
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def make(env: dict[str, str] | None = None, *, detector: PhraseDetector | None = None,
             tracer: RecordingTracer | None = None, database_url: str = "") -> Gateway:
        data_dir = Path(tempfile.mkdtemp(prefix="safewatch-gw-"))
        # No automatic trace scoring: it would load the real models, which these tests replace.
        settings = Settings(data_dir=data_dir, database_url=database_url, warm_up=False, scoring_enabled=False)
        clean = {k: v for k, v in os.environ.items() if not k.startswith(_GATEWAY_ENV)}
        with mock.patch.dict(os.environ, {**clean, **_fast_env(upstream), **(env or {})}, clear=True):
            app = create_app(settings)
        detector = detector or PhraseDetector()
        app.state.detector = detector
        if tracer is not None:
            app.state.tracer = tracer
        key = create_project(app.state.db, f"gateway-test-{uuid.uuid4().hex[:8]}")

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        return Gateway(f"http://127.0.0.1:{port}", app, key.secret_key, key.project_id, detector, tracer)

    yield make
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def gateway(make_gateway) -> Gateway:
    return make_gateway()
