"""Drives the real Langfuse SDK 5 against a safewatch server; prints what it read back as one JSON line.

Usage: python lf5_client.py BASE_URL PUBLIC_KEY SECRET_KEY RUN_ID
Runs in its own process: SDK 5 keeps global OpenTelemetry state.
"""

from __future__ import annotations

import json
import sys
import time

from langfuse import Langfuse, propagate_attributes


def main() -> None:
    base_url, public_key, secret_key, run = sys.argv[1:5]
    lf = Langfuse(public_key=public_key, secret_key=secret_key, base_url=base_url, flush_interval=0.2)
    assert lf.auth_check(), "auth_check failed"
    with lf.start_as_current_observation(name=f"v5-root-{run}", as_type="span", input="hw 2 kms painlessly") as root:
        with propagate_attributes(user_id=f"user-{run}", session_id=f"session-{run}", tags=["sdk5", run],
                                  metadata={"run": run}):
            with lf.start_as_current_observation(
                name="llm-call", as_type="generation", model="gpt-4o", input=[{"role": "user", "content": "hi"}],
                model_parameters={"temperature": 0.2}, usage_details={"input": 10, "output": 5},
            ) as gen:
                gen.update(output="hello there")
            root.update(output="done")
        trace_id = lf.get_current_trace_id()
        root_id = root.id
    lf.create_score(name="quality", value=0.75, trace_id=trace_id, observation_id=root_id, data_type="NUMERIC")
    lf.create_score(name="label", value="good", trace_id=trace_id, data_type="CATEGORICAL")
    lf.flush()
    # The SDK's own fetch methods (v5 generated client): v2 observations and v3 scores.
    deadline = time.time() + 60
    observations, scores = [], []
    while time.time() < deadline:
        observations = lf.api.observations.get_many(trace_id=trace_id, limit=50).data
        scores = lf.api.scores.get_many(trace_id=trace_id, limit=50).data
        if len(observations) >= 2 and {"quality", "label"} <= {s.name for s in scores}:
            break
        time.sleep(0.3)
    print(json.dumps({
        "trace_id": trace_id,
        "root_id": root_id,
        "observations": [{"id": o.id, "type": o.type, "name": o.name, "model": o.model,
                          "parent": o.parent_observation_id, "user_id": o.user_id} for o in observations],
        "scores": [{"name": s.name, "value": s.value, "data_type": s.data_type} for s in scores],
    }))
    lf.shutdown()


if __name__ == "__main__":
    main()
