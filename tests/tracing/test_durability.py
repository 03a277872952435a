"""Acknowledged events survive kill -9, and the scoring backlog (persisted on overflow) resumes on restart."""

from __future__ import annotations

import uuid

import pytest
from tracing_helpers import event, get, ingest, trace_tags, wait_for


@pytest.mark.slow
def test_acknowledged_events_survive_kill_9_and_scoring_resumes(server_factory):
    # A one-slot queue forces the overflow path: jobs wait in the table, not in memory.
    srv = server_factory(env={"SAFEWATCH_SCORING_QUEUE_SIZE": "1", "SAFEWATCH_WARM_UP": "false"})
    keys = srv.create_project()
    acknowledged: list[str] = []
    for b in range(5):
        batch = [event("trace-create", {"id": uuid.uuid4().hex, "name": "durable", "input": f"hello {b}-{i}"})
                 for i in range(100)]
        batch[0]["body"]["input"] = "hw 2 kms painlessly"
        r = ingest(keys, batch)
        assert r.status_code == 207 and not r.json()["errors"]
        acknowledged.extend(e["body"]["id"] for e in batch)
    srv.kill()  # SIGKILL right after the last 207: no shutdown hooks, no flush
    srv.start()
    total = get(keys, "traces", name="durable", limit=1).json()["meta"]["totalItems"]
    assert total == len(acknowledged)
    # every trace gets its safety scores eventually, including those whose jobs were never in memory
    first_unsafe = acknowledged[0]
    assert wait_for(lambda: {"unsafe", "self-harm_violation"} <= trace_tags(keys, first_unsafe), timeout=300)
    assert wait_for(lambda: all(trace_tags(keys, t) for t in (acknowledged[1], acknowledged[-1])), timeout=300)
