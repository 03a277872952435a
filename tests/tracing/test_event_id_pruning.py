"""Applied ingestion event ids are remembered to drop an SDK's re-sent batch, then forgotten after the retention."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from safewatch.auth import create_project
from safewatch.config import Settings
from safewatch.server.app import create_app
from safewatch.store.models import IngestionEvent, utcnow


def _batch(event_id: str, trace_id: str, name: str) -> dict:
    return {"batch": [{"id": event_id, "type": "trace-create", "timestamp": "2026-01-01T00:00:00.000Z",
                       "body": {"id": trace_id, "name": name}}]}


def _event_ids(db) -> set[str]:
    with db.sessions() as s:
        return set(s.scalars(select(IngestionEvent.event_id)))


def test_old_event_ids_are_pruned_and_recent_ones_kept(tmp_path):
    app = create_app(Settings(data_dir=tmp_path, warm_up=False, scoring_enabled=False, ingestion_dedupe_hours=24))
    keys = create_project(app.state.db, "prune")
    auth = (keys.public_key, keys.secret_key)
    with TestClient(app) as client:
        for event_id, trace_id in (("ev-old", "t-old"), ("ev-new", "t-new")):
            assert client.post("/api/public/ingestion", json=_batch(event_id, trace_id, "first"), auth=auth).status_code == 207
        with app.state.db.writing() as s:  # as if ev-old had arrived two days ago
            s.execute(update(IngestionEvent).where(IngestionEvent.event_id == "ev-old")
                      .values(created_at=utcnow() - timedelta(days=2)))

        assert client.portal.call(app.state.tracer.prune_event_ids) == 1
        assert _event_ids(app.state.db) == {"ev-new"}

        # Within the retention a re-sent event is still dropped; after it, it is applied like a new one.
        client.post("/api/public/ingestion", json=_batch("ev-new", "t-new", "resent"), auth=auth)
        client.post("/api/public/ingestion", json=_batch("ev-old", "t-old", "resent"), auth=auth)
        assert client.get("/api/public/traces/t-new", auth=auth).json()["name"] == "first"
        assert client.get("/api/public/traces/t-old", auth=auth).json()["name"] == "resent"
