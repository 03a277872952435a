"""The gateway's own knobs: upstreams, retries, timeouts, limits, rate limits, stream windows.

Read from the `gateway:` section of the YAML file named by SAFEWATCH_CONFIG, then from SAFEWATCH_* environment
variables (which win). Upstream keys may be a comma-separated list: they are rotated per attempt, so a key that
is rate-limited is not retried straight away.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from safewatch.config import ConfigError, read_yaml

UpstreamKind = Literal["openai", "anthropic"]


class UpstreamSettings(BaseModel):
    name: str
    kind: UpstreamKind = "openai"
    # OpenAI-compatible: the base URL with its version, e.g. https://api.openai.com/v1.
    # Anthropic: the API root, e.g. https://api.anthropic.com (the client appends /v1/messages).
    base_url: str
    keys: list[str] = Field(default_factory=list)
    # Anthropic requires max_tokens; OpenAI requests without one get this when sent to Anthropic.
    default_max_tokens: int = 1024
    anthropic_version: str = "2023-06-01"

    @field_validator("keys", mode="before")
    @classmethod
    def _split_keys(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [k.strip() for k in v.split(",") if k.strip()]
        return v

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"upstream URL must start with http:// or https://, not {v!r}")
        return v.rstrip("/")


class GatewaySettings(BaseModel):
    upstream: UpstreamSettings | None = None
    fallback: UpstreamSettings | None = None
    canary: UpstreamSettings | None = None
    # Share of users (by a stable hash of the user id) sent to the canary upstream, 0-100.
    canary_percent: float = Field(default=0.0, ge=0.0, le=100.0)

    connect_timeout_s: float = Field(default=5.0, gt=0)
    # Longest silence while waiting for an answer or for the next streamed chunk.
    read_timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    backoff_base_s: float = Field(default=0.25, ge=0)
    backoff_max_s: float = Field(default=8.0, ge=0)
    # A Retry-After longer than this is not waited for: the next upstream is tried instead.
    max_retry_after_s: float = Field(default=20.0, ge=0)

    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_text_chars: int = Field(default=32_000, gt=0)
    max_inputs: int = Field(default=256, gt=0)
    max_messages: int = Field(default=512, gt=0)

    # Requests per minute per API key; 0 turns rate limiting off.
    rate_limit_per_minute: int = Field(default=0, ge=0)
    redis_url: str | None = None

    # Streamed output is checked every `stream_window_chars` new characters, together with the last
    # `stream_overlap_chars` already released, so a phrase split across windows is still seen whole.
    stream_window_chars: int = Field(default=160, gt=0)
    stream_overlap_chars: int = Field(default=48, ge=0)

    # Largest batch handed to the detector at once (concurrent requests are merged up to this size).
    batch_max_size: int = Field(default=64, gt=0)
    # Whether GET /metrics answers without a key (for a Prometheus that cannot send one).
    metrics_public: bool = False

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> GatewaySettings:
        """The `gateway:` section of SAFEWATCH_CONFIG, then environment variables, then `overrides`."""
        env = os.environ if env is None else env
        data: dict[str, Any] = {}
        config_file = env.get("SAFEWATCH_CONFIG")
        if config_file:
            section = read_yaml(Path(config_file)).get("gateway") or {}
            if not isinstance(section, dict):
                raise ConfigError(f"{config_file}: the gateway section must be a mapping")
            data.update(section)
        for role in ("upstream", "fallback", "canary"):
            upstream = _upstream_from_env(env, role, data.get(role))
            if upstream is not None:
                data[role] = upstream
        for name, key in _ENV.items():
            if env.get(name) not in (None, ""):
                data[key] = env[name]
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"invalid gateway configuration: {exc}") from exc


def _upstream_from_env(env: Mapping[str, str], role: str, base: dict | None) -> dict | None:
    prefix = "SAFEWATCH_UPSTREAM" if role == "upstream" else f"SAFEWATCH_{role.upper()}"
    data = dict(base or {})
    for suffix, key in (("URL", "base_url"), ("KEY", "keys"), ("KIND", "kind")):
        value = env.get(f"{prefix}_{suffix}")
        if value not in (None, ""):
            data[key] = value
    if not data.get("base_url"):
        return None  # an upstream exists once it has a URL; a key or kind alone configures nothing
    data.setdefault("name", role)
    return data


_ENV = {
    "SAFEWATCH_CANARY_PERCENT": "canary_percent",
    "SAFEWATCH_UPSTREAM_CONNECT_TIMEOUT": "connect_timeout_s",
    "SAFEWATCH_UPSTREAM_TIMEOUT": "read_timeout_s",
    "SAFEWATCH_UPSTREAM_RETRIES": "max_retries",
    "SAFEWATCH_UPSTREAM_BACKOFF_BASE": "backoff_base_s",
    "SAFEWATCH_UPSTREAM_BACKOFF_MAX": "backoff_max_s",
    "SAFEWATCH_UPSTREAM_MAX_RETRY_AFTER": "max_retry_after_s",
    "SAFEWATCH_GATEWAY_MAX_BODY_BYTES": "max_body_bytes",
    "SAFEWATCH_GATEWAY_MAX_TEXT_CHARS": "max_text_chars",
    "SAFEWATCH_GATEWAY_MAX_INPUTS": "max_inputs",
    "SAFEWATCH_GATEWAY_MAX_MESSAGES": "max_messages",
    "SAFEWATCH_RATE_LIMIT_PER_MINUTE": "rate_limit_per_minute",
    "SAFEWATCH_REDIS_URL": "redis_url",
    "SAFEWATCH_STREAM_WINDOW_CHARS": "stream_window_chars",
    "SAFEWATCH_STREAM_OVERLAP_CHARS": "stream_overlap_chars",
    "SAFEWATCH_BATCH_MAX_SIZE": "batch_max_size",
    "SAFEWATCH_METRICS_PUBLIC": "metrics_public",
}
