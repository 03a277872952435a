"""Ingestion events as the Langfuse SDKs send them, validated one by one and turned into row changes.

Bodies are camelCase; unknown keys are ignored (SDKs do send some). Every time becomes naive UTC.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from pydantic.alias_generators import to_camel


class EventError(ValueError):
    """One ingestion event is invalid; the others in its batch still land."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


_ENV_OK = re.compile(r"^[a-z0-9_-]+$")


def normalize_environment(value: str | None) -> str:
    """Langfuse's rule: lower-cased, `langfuse` prefixes dropped, 40 chars, else 'default'."""
    if not value:
        return "default"
    env = value.lower()
    for prefix in ("langfuse-", "langfuse_", "langfuse"):
        if env.startswith(prefix):
            env = env[len(prefix) :]
            break
    env = env[:40]
    return env if env and _ENV_OK.match(env) else "default"


# Column sizes in the store: ids up to 800 characters (as Langfuse), tags and score names up to 200.
RefId = Annotated[str, StringConstraints(min_length=1, max_length=800)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)

    @field_validator("id", check_fields=False)
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        if v is not None and (not v or len(v) > 800 or "\r" in v):
            raise ValueError("ids are 1 to 800 characters without carriage returns")
        return v


class TraceBody(_Body):
    id: str | None = None
    timestamp: datetime | None = None
    name: str | None = Field(None, max_length=1000)
    user_id: str | None = None
    session_id: RefId | None = None
    input: Any = None
    output: Any = None
    metadata: Any = None
    tags: list[Short] | None = None
    release: str | None = None
    version: str | None = None
    public: bool | None = None
    environment: str | None = None


Level = Literal["DEBUG", "DEFAULT", "WARNING", "ERROR"]


class ObservationBody(_Body):
    id: str | None = None
    trace_id: RefId | None = None
    type: str | None = None  # legacy observation-create/update only
    parent_observation_id: RefId | None = None
    name: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    completion_start_time: datetime | None = None
    metadata: Any = None
    input: Any = None
    output: Any = None
    level: Level | None = None
    status_message: str | None = None
    version: str | None = None
    environment: str | None = None
    model: str | None = None
    model_parameters: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    usage_details: dict[str, Any] | None = None
    cost_details: dict[str, Any] | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None


class ScoreBody(_Body):
    id: str | None = None
    name: Short
    value: float | str | bool
    trace_id: RefId | None = None
    observation_id: RefId | None = None
    session_id: RefId | None = None
    dataset_run_id: str | None = None
    comment: str | None = None
    metadata: Any = None
    data_type: Literal["NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION"] | None = None
    config_id: RefId | None = None
    environment: str | None = None
    timestamp: datetime | None = None


# event type -> (entity kind, observation type)
_OBSERVATION_TYPES = ("agent", "tool", "chain", "retriever", "evaluator", "embedding", "guardrail")
EVENT_TYPES: dict[str, tuple[str, str | None]] = {
    "trace-create": ("trace", None),
    "span-create": ("observation", "SPAN"),
    "span-update": ("observation", "SPAN"),
    "generation-create": ("observation", "GENERATION"),
    "generation-update": ("observation", "GENERATION"),
    "event-create": ("observation", "EVENT"),
    "observation-create": ("observation", None),
    "observation-update": ("observation", None),
    "score-create": ("score", None),
    "sdk-log": ("log", None),
    **{f"{t}-create": ("observation", t.upper()) for t in _OBSERVATION_TYPES},
}
OBSERVATION_TYPE_NAMES = {"SPAN", "GENERATION", "EVENT", *(t.upper() for t in _OBSERVATION_TYPES)}


@dataclass
class Change:
    """What one valid event does: set these fields on one entity (None fields leave it alone)."""

    event_id: str
    kind: str  # "trace" | "observation" | "score" | "log"
    entity_id: str
    timestamp: datetime
    is_update: bool
    fields: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


def parse_event(raw: Any) -> Change:
    """Validate one envelope `{id, type, timestamp, body}`; raises EventError with a message."""
    if not isinstance(raw, dict):
        raise EventError("an event must be an object with id, type, timestamp and body")
    event_id = raw.get("id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 800:
        raise EventError("event.id must be a string of 1 to 800 characters")
    etype = raw.get("type")
    if etype not in EVENT_TYPES:
        raise EventError(f"unknown event type {etype!r}")
    kind, obs_type = EVENT_TYPES[etype]
    timestamp = _parse_time(raw.get("timestamp")) or naive_utc(datetime.now(UTC))
    body = raw.get("body")
    if not isinstance(body, dict):
        raise EventError("event.body must be an object")
    try:
        if kind == "trace":
            return _trace_change(event_id, timestamp, TraceBody.model_validate(body))
        if kind == "observation":
            return _observation_change(event_id, etype, obs_type, timestamp, ObservationBody.model_validate(body))
        if kind == "score":
            return score_change(event_id, timestamp, ScoreBody.model_validate(body))
    except ValidationError as exc:
        raise EventError(_describe(exc)) from exc
    return Change(event_id, "log", event_id, timestamp, False)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return naive_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError as exc:
        raise EventError(f"invalid timestamp {value!r}") from exc


def _describe(exc: ValidationError) -> str:
    return "Invalid request data: " + "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
    )


def _trace_change(event_id: str, ts: datetime, body: TraceBody) -> Change:
    trace_id = body.id or str(uuid.uuid4())
    fields = {
        "timestamp": naive_utc(body.timestamp) or ts,
        "name": body.name,
        "user_id": body.user_id,
        "session_id": body.session_id,
        "input": body.input,
        "output": body.output,
        "meta": body.metadata,
        "release": body.release,
        "version": body.version,
        "public": body.public,
        "environment": normalize_environment(body.environment) if body.environment else None,
    }
    return Change(event_id, "trace", trace_id, ts, False, fields, sorted(set(body.tags or [])))


def _observation_change(event_id: str, etype: str, obs_type: str | None, ts: datetime, body: ObservationBody) -> Change:
    if body.id is None:
        raise EventError("Invalid request data: body.id is required")
    if (body.prompt_name is None) != (body.prompt_version is None):
        raise EventError("Invalid request data: promptName and promptVersion go together")
    if obs_type is None:
        obs_type = (body.type or "").upper()
        if obs_type not in OBSERVATION_TYPE_NAMES:
            raise EventError(f"Invalid request data: observation type must be one of {sorted(OBSERVATION_TYPE_NAMES)}")
    usage, costs = normalize_usage(body.usage, body.usage_details)
    fields = {
        "trace_id": body.trace_id,
        "type": obs_type,
        "name": body.name,
        "start_time": naive_utc(body.start_time) or ts,
        "end_time": naive_utc(body.end_time),
        "completion_start_time": naive_utc(body.completion_start_time),
        "parent_observation_id": body.parent_observation_id,
        "level": body.level,
        "status_message": body.status_message,
        "version": body.version,
        "environment": normalize_environment(body.environment) if body.environment else None,
        "input": body.input,
        "output": body.output,
        "meta": body.metadata,
        "model": body.model,
        "model_parameters": body.model_parameters or None,
        "usage": usage or None,
        "cost_details": (body.cost_details or costs) or None,
        "prompt_name": body.prompt_name,
        "prompt_version": body.prompt_version,
    }
    return Change(event_id, "observation", body.id, ts, etype.endswith("-update"), fields)


def score_change(event_id: str, ts: datetime, body: ScoreBody) -> Change:
    value, string_value, data_type = _score_value(body)
    fields = {
        "trace_id": body.trace_id,
        "observation_id": body.observation_id,
        "session_id": body.session_id,
        "name": body.name,
        "value": value,
        "string_value": string_value,
        "data_type": data_type,
        "source": "API",
        "comment": body.comment,
        "config_id": body.config_id,
        "meta": body.metadata,
        "environment": normalize_environment(body.environment),
        "timestamp": naive_utc(body.timestamp) or ts,
    }
    # The event id makes the score id stable across SDK retries when the client sent none.
    return Change(event_id, "score", body.id or event_id, ts, False, fields)


def _score_value(body: ScoreBody) -> tuple[float | None, str | None, str]:
    value, dtype = body.value, body.data_type
    if isinstance(value, bool):
        value = 1.0 if value else 0.0
        dtype = dtype or "BOOLEAN"
    if dtype is None:
        dtype = "CATEGORICAL" if isinstance(value, str) else "NUMERIC"
    if dtype == "NUMERIC":
        if isinstance(value, str):
            raise EventError("Invalid request data: a NUMERIC score needs a number value")
        return float(value), None, dtype
    if dtype == "BOOLEAN":
        if isinstance(value, str) or value not in (0, 1):
            raise EventError("Invalid request data: a BOOLEAN score value is 0 or 1")
        return float(value), "True" if value == 1 else "False", dtype
    if not isinstance(value, str):
        if dtype == "CATEGORICAL":
            return float(value), None, dtype
        raise EventError(f"Invalid request data: a {dtype} score needs a string value")
    if dtype == "TEXT" and not 1 <= len(value) <= 500:
        raise EventError("Invalid request data: a TEXT score is 1 to 500 characters")
    return None, value, dtype


_OPENAI_USAGE = {
    "prompt_tokens": "input", "completion_tokens": "output", "total_tokens": "total",
    "input_tokens": "input", "output_tokens": "output",
    "promptTokens": "input", "completionTokens": "output", "totalTokens": "total",
}


def normalize_usage(usage: dict | None, details: dict | None) -> tuple[dict[str, Any], dict[str, float]]:
    """Usage in Langfuse's `usageDetails` form ({input, output, total, ...}) and any costs it carried."""
    out: dict[str, Any] = {}
    costs: dict[str, float] = {}
    for source in (usage or {}, details or {}):
        for key, value in source.items():
            if key in ("inputCost", "outputCost", "totalCost"):
                if isinstance(value, int | float):
                    costs[key.removesuffix("Cost")] = float(value)
            elif key == "unit":
                out["unit"] = value
            elif key.endswith("_details") and isinstance(value, dict):
                side = "input" if key.startswith(("prompt", "input")) else "output"
                for k, v in value.items():
                    if isinstance(v, int | float) and v:
                        out[f"{side}_{k}"] = v
            elif isinstance(value, int | float) and not isinstance(value, bool):
                out[_OPENAI_USAGE.get(key, key)] = value
    for side in ("input", "output"):
        sub = sum(v for k, v in out.items() if k.startswith(f"{side}_") and isinstance(v, int | float))
        if sub and isinstance(out.get(side), int | float):
            out[side] = max(out[side] - sub, 0)
    if out and "total" not in out and ("input" in out or "output" in out):
        out["total"] = sum(v for k, v in out.items() if k != "unit" and isinstance(v, int | float))
    return out, costs
