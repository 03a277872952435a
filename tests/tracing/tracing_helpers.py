"""Helpers shared by the tracing tests (servers and projects come from tests/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
CLIENTS = Path(__file__).parent / "clients"
LANGFUSE2_PYTHON = REPO / ".venv-langfuse2" / "bin" / "python"


def wait_for(check, timeout: float = 60.0, interval: float = 0.2):
    """Poll `check()` until it returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s; last value: {last!r}")


def ingest(keys, batch: list[dict], **kw) -> httpx.Response:
    return httpx.post(f"{keys.base_url}/api/public/ingestion", json={"batch": batch}, auth=keys.basic_auth,
                      timeout=30, **kw)


def event(type_: str, body: dict, *, ts: str = "2025-01-01T00:00:00.000Z", event_id: str | None = None) -> dict:
    return {"id": event_id or str(uuid.uuid4()), "type": type_, "timestamp": ts, "body": body}


def get(keys, path: str, **params) -> httpx.Response:
    return httpx.get(f"{keys.base_url}/api/public/{path}", params=params, auth=keys.basic_auth, timeout=30)


def trace_tags(keys, trace_id: str) -> set[str]:
    r = get(keys, f"traces/{trace_id}")
    return set(r.json()["tags"]) if r.status_code == 200 else set()


def safety_scores(keys, trace_id: str) -> dict[str, dict]:
    r = get(keys, f"traces/{trace_id}")
    if r.status_code != 200:
        return {}
    return {s["name"]: s for s in r.json()["scores"] if s["name"].startswith("safety.") and s["observationId"] is None}


def run_client(python: Path | str, script: str, keys, run: str, timeout: float = 180) -> dict:
    proc = subprocess.run([str(python), str(CLIENTS / script), keys.base_url, keys.public_key, keys.secret_key, run],
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])
