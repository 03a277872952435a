"""The real Langfuse SDKs, unchanged, against safewatch: write, then read back with their own fetch methods."""

from __future__ import annotations

import uuid

from tracing_helpers import get, run_client, trace_tags, wait_for


def test_sdk2_decorator_and_low_level_api_round_trip(any_server, any_project_keys, langfuse2_python):
    run = uuid.uuid4().hex[:8]
    out = run_client(langfuse2_python, "lf2_client.py", any_project_keys, run)
    trace = out["trace"]
    assert trace["name"] == f"manual-{run}" and trace["user_id"] == f"user-{run}"
    assert trace["session_id"] == f"session-{run}"
    assert trace["output"] == "final answer"
    assert trace["metadata"] == {"a": 1, "b": 2}  # later events merge into earlier ones
    assert "sdk2" in trace["tags"]
    assert trace["observation_types"] == ["EVENT", "GENERATION", "SPAN"]
    assert "helpfulness" in trace["scores"]
    assert {f"manual-{run}", f"decorated-{run}"} <= set(out["listed"])
    assert out["observations"] == ["answer", "audit", "retrieve"]
    assert out["generation"]["model"] == "gpt-4o-mini" and out["generation"]["output"] == "hello"
    assert out["generation"]["usage"]["input"] == 7 and out["generation"]["usage"]["output"] == 3
    assert f"session-{run}" in out["sessions"]
    assert any(s["trace_id"] == out["trace_id"] and s["value"] == 0.9 for s in out["scores"])

    # The decorated trace: nested spans, and automatic safety scoring of its input.
    listed = get(any_project_keys, "traces", name=f"decorated-{run}").json()["data"]
    assert len(listed) == 1
    decorated = get(any_project_keys, f"traces/{listed[0]['id']}").json()
    # SDK 2's outermost @observe function is the trace itself; nested ones are its spans.
    assert decorated["input"]["args"] == ["hw 2 kms painlessly"]
    [inner] = [o for o in decorated["observations"] if o["name"] == "inner"]
    assert inner["type"] == "SPAN" and inner["metadata"]["step"] == "inner" and inner["output"] == "HW 2 KMS PAINLESSLY"
    tags = wait_for(lambda: (t := trace_tags(any_project_keys, listed[0]["id"])) >= {"unsafe", "self-harm_violation"} and t)
    assert "high_risk" in tags or "medium_risk" in tags
    manual_tags = wait_for(lambda: (t := trace_tags(any_project_keys, out["trace_id"])) >= {"prompt-injection_violation"} and t)
    assert "unsafe" in manual_tags


def test_sdk5_otel_spans_and_scores_round_trip(any_server, any_project_keys, python5):
    run = uuid.uuid4().hex[:8]
    out = run_client(python5, "lf5_client.py", any_project_keys, run)
    by_name = {o["name"]: o for o in out["observations"]}
    assert by_name[f"v5-root-{run}"]["type"] == "SPAN"
    gen = by_name["llm-call"]
    assert gen["type"] == "GENERATION" and gen["model"] == "gpt-4o" and gen["parent"] == out["root_id"]
    assert gen["user_id"] == f"user-{run}"
    scores = {s["name"]: s for s in out["scores"]}
    assert scores["quality"]["value"] == 0.75 and scores["label"]["value"] == "good"

    trace = get(any_project_keys, f"traces/{out['trace_id']}").json()
    assert trace["name"] == f"v5-root-{run}"
    assert trace["userId"] == f"user-{run}" and trace["sessionId"] == f"session-{run}"
    assert trace["input"] == "hw 2 kms painlessly" and trace["output"] == "done"
    assert {"sdk5", run} <= set(trace["tags"])
    generation = next(o for o in trace["observations"] if o["name"] == "llm-call")
    assert generation["modelParameters"] == {"temperature": 0.2}
    assert generation["usageDetails"]["input"] == 10 and generation["usageDetails"]["output"] == 5
    assert generation["output"] == "hello there"
    tags = wait_for(lambda: (t := trace_tags(any_project_keys, out["trace_id"])) >= {"unsafe", "self-harm_violation"} and t)
    assert tags
    sessions = get(any_project_keys, f"sessions/session-{run}").json()
    assert [t["id"] for t in sessions["traces"]] == [out["trace_id"]]
