"""`redact_pii_in_storage`: PII in inputs and outputs is masked before it is written."""

from __future__ import annotations

from fastapi.testclient import TestClient

from safewatch.auth import create_project
from safewatch.config import Settings
from safewatch.server.app import create_app


def _stored_trace(tmp_path, redact: bool) -> dict:
    app = create_app(Settings(data_dir=tmp_path, warm_up=False, scoring_enabled=False, redact_pii_in_storage=redact))
    keys = create_project(app.state.db, "pii")
    auth = (keys.public_key, keys.secret_key)
    batch = [{"id": "e1", "type": "trace-create", "timestamp": "2025-01-01T00:00:00Z",
              "body": {"id": "t1", "input": {"messages": [{"role": "user", "content": "mail me at jane.doe@example.com"}]},
                       "output": "call +1 415 555 0132", "metadata": {"note": "kept"}}}]
    with TestClient(app) as client:
        assert client.post("/api/public/ingestion", json={"batch": batch}, auth=auth).status_code == 207
        return client.get("/api/public/traces/t1", auth=auth).json()


def test_pii_is_redacted_before_storage_when_configured(tmp_path):
    trace = _stored_trace(tmp_path, redact=True)
    content = trace["input"]["messages"][0]["content"]
    assert "jane.doe@example.com" not in content and "[EMAIL]" in content
    assert "555 0132" not in trace["output"]
    assert trace["metadata"] == {"note": "kept"}


def test_pii_is_kept_by_default(tmp_path):
    trace = _stored_trace(tmp_path, redact=False)
    assert "jane.doe@example.com" in trace["input"]["messages"][0]["content"]
