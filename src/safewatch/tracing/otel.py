"""OTLP traces (protobuf or JSON) translated into the same changes the batch ingestion API produces.

The mapping follows Langfuse's OtelIngestionProcessor for the attributes its SDKs (v3 to v5) and common
GenAI instrumentations set: `langfuse.*`, `gen_ai.*`, `user.id`, `session.id`, OpenInference `input.value`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from safewatch.tracing.events import Change, EventError, normalize_environment, normalize_usage


class OtlpError(ValueError):
    """The export cannot be read at all (it is rejected whole, as Langfuse does)."""


def decode(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """The `resourceSpans` of an export, in OTLP/JSON form with hex ids."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in ("application/x-protobuf", "application/protobuf"):
        try:
            message = ExportTraceServiceRequest.FromString(body)
        except DecodeError as exc:
            raise OtlpError(f"invalid OTLP protobuf: {exc}") from exc
        data = MessageToDict(message)
    elif ctype == "application/json":
        try:
            data = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise OtlpError(f"invalid OTLP JSON: {exc}") from exc
    else:
        raise OtlpError("Invalid content type: use application/x-protobuf or application/json")
    resource_spans = data.get("resourceSpans", []) if isinstance(data, dict) else None
    if not isinstance(resource_spans, list):
        raise OtlpError("resourceSpans must be an array")
    return resource_spans


def _hex_id(value: Any, size: int) -> str | None:
    """OTLP/JSON carries hex ids, protobuf-as-dict base64; Langfuse ids are the lowercase hex."""
    if not value or not isinstance(value, str):
        return None
    if len(value) == size * 2 and re.fullmatch(r"[0-9a-fA-F]+", value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value
    return raw.hex() if raw else None


def any_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    if "stringValue" in v:
        return v["stringValue"]
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "arrayValue" in v:
        return [any_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return {kv.get("key"): any_value(kv.get("value")) for kv in (v["kvlistValue"] or {}).get("values", [])}
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def attributes(items: Any) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise OtlpError("attributes must be an array")
    return {kv.get("key"): any_value(kv.get("value")) for kv in items if isinstance(kv, dict)}


def _time(nanos: Any) -> datetime | None:
    if nanos in (None, "", 0, "0"):
        return None
    if isinstance(nanos, dict):  # old otel-js {high, low}
        nanos = (int(nanos.get("high", 0)) << 32) + int(nanos.get("low", 0))
    return datetime.fromtimestamp(int(nanos) / 1e9, UTC).replace(tzinfo=None)


def _json(value: Any) -> Any:
    """Langfuse SDKs JSON-encode structured values; plain strings pass through unquoted."""
    if isinstance(value, str) and value[:1] in ('{', '[', '"'):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _first(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "")), None)


def _prefixed(attrs: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):]: _json(v) for k, v in attrs.items() if k.startswith(prefix)}


_OPENINFERENCE = {"LLM": "GENERATION", "CHAIN": "CHAIN", "RETRIEVER": "RETRIEVER", "EMBEDDING": "EMBEDDING",
                  "AGENT": "AGENT", "TOOL": "TOOL", "GUARDRAIL": "GUARDRAIL", "EVALUATOR": "EVALUATOR"}
_GEN_AI_OPS = {"chat": "GENERATION", "completion": "GENERATION", "text_completion": "GENERATION",
               "generate_content": "GENERATION", "generate": "GENERATION", "embeddings": "EMBEDDING",
               "invoke_agent": "AGENT", "create_agent": "AGENT", "execute_tool": "TOOL"}
_MODEL_KEYS = ("langfuse.observation.model.name", "gen_ai.response.model", "ai.model.id", "gen_ai.request.model",
               "llm.response.model", "llm.model_name", "model")


def observation_type(attrs: dict[str, Any]) -> str:
    explicit = attrs.get("langfuse.observation.type")
    if isinstance(explicit, str) and explicit:
        return explicit.upper()
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in _OPENINFERENCE:
        return _OPENINFERENCE[kind.upper()]
    op = attrs.get("gen_ai.operation.name")
    if isinstance(op, str) and op in _GEN_AI_OPS:
        return _GEN_AI_OPS[op]
    if attrs.get("gen_ai.tool.name") or attrs.get("gen_ai.tool.call.id"):
        return "TOOL"
    if any(attrs.get(k) for k in _MODEL_KEYS):
        return "GENERATION"
    return "SPAN"


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str):
        parsed = _json(value)
        if isinstance(parsed, list):
            return [str(v) for v in parsed]
        return [t.strip() for t in value.split(",") if t.strip()]
    return []


def _usage(attrs: dict[str, Any]) -> dict[str, Any] | None:
    explicit = _json(attrs.get("langfuse.observation.usage_details"))
    if isinstance(explicit, dict):
        usage, _ = normalize_usage(None, explicit)
        return usage or None
    raw = {k.split(".", 2)[2]: v for k, v in attrs.items()
           if k.startswith(("gen_ai.usage.", "llm.token_count.")) and isinstance(v, int | float)}
    raw = {{"prompt": "input_tokens", "completion": "output_tokens", "total": "total_tokens"}.get(k, k): v
           for k, v in raw.items()}
    usage, _ = normalize_usage(None, raw)
    return usage or None


def _io(attrs: dict[str, Any], side: str) -> Any:
    return _json(_first(attrs.get(f"langfuse.observation.{side}"), attrs.get(f"gen_ai.{side}.messages"),
                        attrs.get(f"gen_ai.{'prompt' if side == 'input' else 'completion'}"),
                        attrs.get(f"{side}.value")))


def span_changes(span: dict[str, Any], resource: dict[str, Any], scope: dict[str, Any]) -> list[Change]:
    """One observation change, plus a trace change for root spans and spans carrying trace attributes."""
    trace_id, span_id = _hex_id(span.get("traceId"), 16), _hex_id(span.get("spanId"), 8)
    if not trace_id or not span_id:
        raise OtlpError("every span needs a traceId and a spanId")
    attrs = attributes(span.get("attributes"))
    parent = _hex_id(span.get("parentSpanId"), 8)
    start = _time(span.get("startTimeUnixNano")) or datetime.now(UTC).replace(tzinfo=None)
    end = _time(span.get("endTimeUnixNano"))
    status = span.get("status") or {}
    is_error = status.get("code") in (2, "STATUS_CODE_ERROR")
    environment = normalize_environment(_first(
        attrs.get("langfuse.environment"), attrs.get("deployment.environment.name"), attrs.get("deployment.environment"),
        resource.get("langfuse.environment"), resource.get("deployment.environment.name"),
        resource.get("deployment.environment")))
    version = _first(attrs.get("langfuse.version"), resource.get("service.version"))
    metadata = _prefixed(attrs, "langfuse.observation.metadata.")
    whole = _json(attrs.get("langfuse.observation.metadata"))
    if isinstance(whole, dict):
        metadata = {**whole, **metadata}
    model_params = _json(attrs.get("langfuse.observation.model.parameters"))
    if not isinstance(model_params, dict):
        model_params = {k: v for k, v in _prefixed(attrs, "gen_ai.request.").items() if k != "model"} or None
    completion_start = _json(attrs.get("langfuse.observation.completion_start_time"))
    prompt_version = attrs.get("langfuse.observation.prompt.version")
    obs_input, obs_output = _io(attrs, "input"), _io(attrs, "output")
    cost = _json(attrs.get("langfuse.observation.cost_details"))
    obs_fields = {
        "trace_id": trace_id, "type": observation_type(attrs),
        "name": _first(attrs.get("gen_ai.tool.name") if not attrs.get("langfuse.observation.type") else None,
                       span.get("name")),
        "start_time": start, "end_time": end,
        "completion_start_time": _parse_iso(completion_start),
        "parent_observation_id": parent,
        "level": _first(attrs.get("langfuse.observation.level"), "ERROR" if is_error else None) or "DEFAULT",
        "status_message": _first(attrs.get("langfuse.observation.status_message"), status.get("message")),
        "version": version, "environment": environment, "input": obs_input, "output": obs_output,
        "meta": metadata or None, "model": _first(*(attrs.get(k) for k in _MODEL_KEYS)),
        "model_parameters": model_params, "usage": _usage(attrs),
        "cost_details": cost if isinstance(cost, dict) and cost else None,
        "prompt_name": attrs.get("langfuse.observation.prompt.name") if prompt_version is not None else None,
        "prompt_version": int(prompt_version) if prompt_version is not None else None,
    }
    stamp = end or start
    changes = [Change(f"otel-{trace_id}-{span_id}-o", "observation", span_id, stamp, False, obs_fields)]

    is_root = parent is None or bool(attrs.get("langfuse.internal.as_root"))
    trace_meta = _prefixed(attrs, "langfuse.trace.metadata.")
    trace_attr_keys = ("langfuse.trace.name", "langfuse.trace.tags", "langfuse.tags", "langfuse.trace.public",
                       "langfuse.trace.input", "langfuse.trace.output", "user.id", "session.id", "langfuse.user.id",
                       "langfuse.session.id", "gen_ai.conversation.id")
    if is_root or trace_meta or any(k in attrs for k in trace_attr_keys):
        trace_fields = {
            "timestamp": start if is_root else None,
            "name": _first(attrs.get("langfuse.trace.name"), span.get("name") if is_root else None),
            "user_id": _first(attrs.get("langfuse.user.id"), attrs.get("user.id")),
            "session_id": _first(attrs.get("langfuse.session.id"), attrs.get("session.id"),
                                 attrs.get("gen_ai.conversation.id")),
            "input": _first(_json(attrs.get("langfuse.trace.input")), obs_input if is_root else None),
            "output": _first(_json(attrs.get("langfuse.trace.output")), obs_output if is_root else None),
            "meta": trace_meta or None,
            "release": _first(attrs.get("langfuse.release"), resource.get("langfuse.release")),
            "version": version,
            "public": attrs.get("langfuse.trace.public"),
            "environment": environment,
        }
        tags = sorted(set(_tags(_first(attrs.get("langfuse.trace.tags"), attrs.get("langfuse.tags")))))
        # Root spans apply last (they end last), so their full trace wins over partial updates.
        changes.append(Change(f"otel-{trace_id}-{span_id}-t", "trace", trace_id, stamp, not is_root, trace_fields, tags))
    return changes


def _parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def export_changes(resource_spans: list[dict[str, Any]]) -> list[Change]:
    changes: list[Change] = []
    for rs in resource_spans:
        if not isinstance(rs, dict):
            raise OtlpError("resourceSpans entries must be objects")
        resource = attributes((rs.get("resource") or {}).get("attributes"))
        scope_spans = rs.get("scopeSpans", [])
        if not isinstance(scope_spans, list):
            raise OtlpError("scopeSpans must be an array")
        for ss in scope_spans:
            spans = ss.get("spans", []) if isinstance(ss, dict) else None
            if not isinstance(spans, list):
                raise OtlpError("spans must be an array")
            scope = ss.get("scope") or {}
            for span in spans:
                if not isinstance(span, dict):
                    raise OtlpError("spans entries must be objects")
                changes.extend(span_changes(span, resource, scope))
    return changes


__all__ = ["EventError", "OtlpError", "decode", "export_changes"]
