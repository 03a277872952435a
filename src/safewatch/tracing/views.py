"""Rows rendered in Langfuse's read-API shapes (what the SDKs' pydantic models parse)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from safewatch.store.models import Observation, Score, Trace


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds") + "Z"


def trace_view(t: Trace, tags: list[str]) -> dict[str, Any]:
    return {
        "id": t.id, "projectId": t.project_id, "timestamp": iso(t.timestamp), "name": t.name, "userId": t.user_id,
        "sessionId": t.session_id, "release": t.release, "version": t.version, "input": t.input, "output": t.output,
        "metadata": t.meta if t.meta is not None else {}, "tags": sorted(tags), "public": bool(t.public),
        "bookmarked": False, "environment": t.environment or "default", "externalId": None,
        "htmlPath": f"/project/{t.project_id}/traces/{t.id}", "createdAt": iso(t.created_at),
        "updatedAt": iso(t.updated_at),
    }


def trace_rollup(observations: list[Observation]) -> dict[str, float]:
    """`latency` (seconds from first start to last end) and `totalCost` over a trace's observations."""
    starts = [o.start_time for o in observations if o.start_time]
    ends = [o.end_time for o in observations if o.end_time]
    latency = (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0
    cost = sum(float((o.cost_details or {}).get("total", 0) or 0) for o in observations)
    return {"latency": max(latency, 0.0), "totalCost": cost}


def observation_view(o: Observation, trace: Trace | None = None) -> dict[str, Any]:
    usage = o.usage or {}
    costs = o.cost_details or {}
    latency = (o.end_time - o.start_time).total_seconds() if o.end_time and o.start_time else None
    ttft = (o.completion_start_time - o.start_time).total_seconds() if o.completion_start_time and o.start_time else None
    view = {
        "id": o.id, "projectId": o.project_id, "traceId": o.trace_id, "type": o.type, "name": o.name,
        "startTime": iso(o.start_time), "endTime": iso(o.end_time), "completionStartTime": iso(o.completion_start_time),
        "model": o.model, "modelParameters": o.model_parameters or {}, "input": o.input, "output": o.output,
        "metadata": o.meta if o.meta is not None else {}, "version": o.version, "statusMessage": o.status_message,
        "parentObservationId": o.parent_observation_id, "level": o.level or "DEFAULT", "environment": o.environment or "default",
        "promptId": None, "promptName": o.prompt_name, "promptVersion": o.prompt_version,
        "usage": {"input": usage.get("input", 0), "output": usage.get("output", 0), "total": usage.get("total", 0),
                  "unit": usage.get("unit", "TOKENS")},
        "usageDetails": {k: v for k, v in usage.items() if k != "unit"}, "costDetails": costs,
        "modelId": None, "inputPrice": None, "outputPrice": None, "totalPrice": None,
        "calculatedInputCost": costs.get("input"), "calculatedOutputCost": costs.get("output"),
        "calculatedTotalCost": costs.get("total"), "totalCost": costs.get("total"),
        "latency": latency, "timeToFirstToken": ttft,
        "createdAt": iso(o.created_at), "updatedAt": iso(o.updated_at),
    }
    if trace is not None:
        view.update({"userId": trace.user_id, "sessionId": trace.session_id, "traceName": trace.name,
                     "isRootObservation": o.parent_observation_id is None, "release": trace.release})
    return view


def score_view(s: Score) -> dict[str, Any]:
    """The v1 Score (discriminated by dataType)."""
    return {
        "id": s.id, "projectId": s.project_id, "traceId": s.trace_id, "observationId": s.observation_id,
        "sessionId": s.session_id, "datasetRunId": None, "name": s.name, "value": s.value,
        "stringValue": s.string_value, "dataType": s.data_type, "source": s.source, "comment": s.comment,
        "configId": s.config_id, "authorUserId": s.author_user_id, "queueId": None,
        "environment": s.environment or "default", "metadata": s.meta if s.meta is not None else {},
        "timestamp": iso(s.timestamp), "createdAt": iso(s.created_at), "updatedAt": iso(s.updated_at),
    }


def score_v3_view(s: Score) -> dict[str, Any]:
    """The v3 Score: one polymorphic `value` and a `subject` naming what was scored."""
    view = score_view(s)
    if s.data_type == "NUMERIC":
        view["value"] = s.value
    elif s.data_type == "BOOLEAN":
        view["value"] = bool(s.value)
    else:
        view["value"] = s.string_value if s.string_value is not None else str(s.value)
    if s.observation_id:
        view["subject"] = {"kind": "observation", "id": s.observation_id, "traceId": s.trace_id}
    elif s.trace_id:
        view["subject"] = {"kind": "trace", "id": s.trace_id}
    elif s.session_id:
        view["subject"] = {"kind": "session", "id": s.session_id}
    return view
