"""The gateway's tracing contract: `app.state.tracer.record_gateway(...)` stores a trace with one GENERATION."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from safewatch.auth import create_project
from safewatch.config import Settings
from safewatch.server.app import create_app
from safewatch.verdict import Action, Verdict

BLOCKED = Verdict(flagged=True, action=Action.BLOCK, overall_score=0.93, categories={"self-harm": True},
                  category_scores={"self-harm": 0.93})


@pytest.fixture
def app_keys(tmp_path):
    # Scoring is off here: it would load the models in-process; auto-scoring has its own tests.
    app = create_app(Settings(data_dir=tmp_path, warm_up=False, scoring_enabled=False))
    return app, create_project(app.state.db, "gw")


def test_record_gateway_stores_a_trace_with_a_generation_and_blocked_tag(app_keys):
    app, keys = app_keys
    auth = (keys.public_key, keys.secret_key)
    with TestClient(app) as client:
        trace_id = client.portal.call(lambda: app.state.tracer.record_gateway(
            keys.project_id, name="chat.completions", user_id="u-9", session_id="s-9",
            input=[{"role": "user", "content": "hw 2 kms painlessly"}], output=None, model="gpt-4o-mini",
            input_verdict=BLOCKED, output_verdict=None, blocked="input",
            usage={"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5}, latency_ms=12.5,
            metadata={"route": "/v1/chat/completions"}))
        deadline = time.monotonic() + 30
        while (r := client.get(f"/api/public/traces/{trace_id}", auth=auth)).status_code == 404:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        trace = r.json()
    assert trace["userId"] == "u-9" and trace["sessionId"] == "s-9" and "blocked_input" in trace["tags"]
    assert trace["metadata"]["route"] == "/v1/chat/completions"
    [gen] = trace["observations"]
    assert gen["type"] == "GENERATION" and gen["model"] == "gpt-4o-mini" and gen["level"] == "WARNING"
    assert gen["usageDetails"]["input"] == 5
    assert gen["metadata"]["verdicts"]["input"]["action"] == "block"
    # The gateway's verdicts become the trace's safety scores and tags directly (no auto-scorer run here).
    assert {"unsafe", "self-harm_violation", "high_risk"} <= set(trace["tags"])
    scores = {(s["name"], s.get("observationId")): s for s in trace["scores"]}
    assert scores[("safety.overall", None)]["value"] == pytest.approx(0.93)
    assert scores[("safety.category", None)]["stringValue"] == "self-harm"
    assert scores[("safety.flagged", None)]["value"] == 1.0


def test_gateway_trace_times_are_utc_whatever_the_hosts_zone(app_keys, monkeypatch):
    import time as time_module
    from datetime import UTC, datetime, timedelta

    monkeypatch.setenv("TZ", "Asia/Ho_Chi_Minh")  # UTC+7: a naive local reading would be 7 hours off
    time_module.tzset()
    try:
        app, keys = app_keys
        auth = (keys.public_key, keys.secret_key)
        with TestClient(app) as client:
            trace_id = client.portal.call(lambda: app.state.tracer.record_gateway(
                keys.project_id, name="moderation", user_id=None, session_id=None, input="hello", output=None,
                model=None, input_verdict=None, output_verdict=None, blocked=None, usage=None, latency_ms=250.0,
                metadata=None))
            deadline = time.monotonic() + 30
            while (r := client.get(f"/api/public/traces/{trace_id}", auth=auth)).status_code == 404:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        started = datetime.fromisoformat(r.json()["timestamp"].replace("Z", "+00:00"))
        assert abs(datetime.now(UTC) - started) < timedelta(minutes=1)
        [gen] = r.json()["observations"]
        ended = datetime.fromisoformat(gen["endTime"].replace("Z", "+00:00"))
        assert ended - started == timedelta(milliseconds=250)
    finally:
        monkeypatch.undo()
        time_module.tzset()
