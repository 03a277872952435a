"""Loading and merging policy YAML files."""

from __future__ import annotations

from copy import deepcopy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from safewatch.policy.model import Policy


class PolicyError(ValueError):
    """A policy file is missing, unreadable or does not match the policy schema."""


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key, lists are appended (duplicates dropped), scalars are overridden."""
    out = deepcopy(base)
    for key, value in override.items():
        if key in out and isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = merge(out[key], value)
        elif key in out and isinstance(out[key], list) and isinstance(value, list):
            seen = {repr(v) for v in out[key]}
            out[key] = out[key] + [v for v in value if repr(v) not in seen]
        else:
            out[key] = deepcopy(value)
    return out


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise PolicyError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{where}: a policy must be a mapping at the top level")
    return data


def default_policy_data() -> dict[str, Any]:
    """The built-in policy as merged data: base.yaml first, then every other file in name order."""
    folder = resources.files("safewatch.policy") / "default"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: (f.name != "base.yaml", f.name))
    data: dict[str, Any] = {}
    for f in files:
        data = merge(data, _read_yaml(f.read_text(encoding="utf-8"), f"default/{f.name}"))
    return data


def load_policy(path: str | Path | None = None) -> Policy:
    """The default policy, or the default extended by (or replaced with) the file at `path`."""
    data = default_policy_data()
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(f"cannot read policy file {p}: {exc}") from exc
        user = _read_yaml(text, str(p))
        extends = user.pop("extends", "default")
        if extends in (None, "none"):
            data = user
        elif extends == "default":
            data = merge(data, user)
        else:
            raise PolicyError(f"{p}: extends must be 'default' or 'none', not {extends!r}")
    try:
        return Policy.model_validate(data)
    except Exception as exc:  # pydantic.ValidationError, with the field path in its message
        raise PolicyError(f"invalid policy: {exc}") from exc
