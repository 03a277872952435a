"""Server settings: defaults, then an optional YAML file (`SAFEWATCH_CONFIG`), then environment variables.

Only the platform's own settings live here (storage, server, tracing). Parts with their own knobs (the
gateway's upstreams, for one) read their own; the YAML file may carry their sections too, untouched here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from safewatch.detect.judge import JudgeConfig, JudgeConfigError


class ConfigError(ValueError):
    """The configuration file or an environment variable holds a value safewatch cannot use."""


class Limits(BaseModel):
    # A Langfuse SDK flushes at most a few MB; anything far larger is a mistake or an attack.
    max_body_bytes: int = 10 * 1024 * 1024
    max_batch_events: int = 5000
    max_page_limit: int = 1000


class Settings(BaseModel):
    data_dir: Path = Path("./var")
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    policy_path: str | None = None
    redact_pii_in_storage: bool = False
    # Load the detector's models at start rather than on the first request.
    warm_up: bool = True
    # Migrate the database when the server starts (off when `serve --workers N` migrated once already).
    migrate_on_start: bool = True
    scoring_enabled: bool = True
    scoring_queue_size: int = 10_000
    scoring_batch_size: int = 64
    # How long applied ingestion event ids are remembered to drop an SDK's re-sent batch (then pruned).
    ingestion_dedupe_hours: float = Field(168.0, gt=0)
    limits: Limits = Field(default_factory=Limits)
    # The optional LLM judge: the file's `judge:` section and SAFEWATCH_JUDGE_* variables; None is off.
    judge: JudgeConfig | None = None

    def model_post_init(self, __context: Any) -> None:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'safewatch.db').as_posix()}"

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then the YAML file named by SAFEWATCH_CONFIG, then SAFEWATCH_* variables, then `overrides`."""
        env = os.environ if env is None else env
        data: dict[str, Any] = {}
        config_file = env.get("SAFEWATCH_CONFIG")
        if config_file:
            data.update(read_yaml(Path(config_file)))
        for name, key in _ENV.items():
            if env.get(name) not in (None, ""):
                data[key] = env[name]
        limits = dict(data.get("limits") or {})
        for name, key in _LIMIT_ENV.items():
            if env.get(name) not in (None, ""):
                limits[key] = env[name]
        data["limits"] = limits
        data["judge"] = _judge(data.get("judge"), env)
        data.update({k: v for k, v in overrides.items() if v is not None})
        known = set(cls.model_fields)
        try:
            return cls.model_validate({k: v for k, v in data.items() if k in known})
        except ValidationError as exc:
            raise ConfigError(f"invalid configuration: {exc}") from exc


_ENV = {
    "SAFEWATCH_DATA_DIR": "data_dir",
    "SAFEWATCH_DATABASE_URL": "database_url",
    "SAFEWATCH_HOST": "host",
    "SAFEWATCH_PORT": "port",
    "SAFEWATCH_WORKERS": "workers",
    "SAFEWATCH_POLICY": "policy_path",
    "SAFEWATCH_REDACT_PII_IN_STORAGE": "redact_pii_in_storage",
    "SAFEWATCH_WARM_UP": "warm_up",
    "SAFEWATCH_MIGRATE_ON_START": "migrate_on_start",
    "SAFEWATCH_SCORING": "scoring_enabled",
    "SAFEWATCH_SCORING_QUEUE_SIZE": "scoring_queue_size",
    "SAFEWATCH_SCORING_BATCH_SIZE": "scoring_batch_size",
    "SAFEWATCH_INGESTION_DEDUPE_HOURS": "ingestion_dedupe_hours",
}
_LIMIT_ENV = {
    "SAFEWATCH_MAX_BODY_BYTES": "max_body_bytes",
    "SAFEWATCH_MAX_BATCH_EVENTS": "max_batch_events",
    "SAFEWATCH_MAX_PAGE_LIMIT": "max_page_limit",
}


def _judge(section: Any, env: Mapping[str, str]) -> JudgeConfig | None:
    try:
        return JudgeConfig.load(section, env)
    except JudgeConfigError as exc:
        raise ConfigError(str(exc)) from exc


def configured_judge(env: Mapping[str, str] | None = None) -> JudgeConfig | None:
    """The LLM judge of the `judge:` section of SAFEWATCH_CONFIG's file and the SAFEWATCH_JUDGE_* variables."""
    env = os.environ if env is None else env
    config_file = env.get("SAFEWATCH_CONFIG")
    section = read_yaml(Path(config_file)).get("judge") if config_file else None
    return _judge(section, env)


def required_judge() -> JudgeConfig:
    """`configured_judge()` for a command's `--judge`: a clear error when none is configured."""
    judge = configured_judge()
    if judge is None:
        raise ConfigError("--judge needs a configured judge: set SAFEWATCH_JUDGE_URL and SAFEWATCH_JUDGE_MODEL "
                          "(and SAFEWATCH_JUDGE_KEY), or a `judge:` section in the SAFEWATCH_CONFIG file")
    return judge


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping at the top level")
    return data
