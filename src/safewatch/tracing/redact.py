"""PII redaction of stored inputs and outputs (setting `redact_pii_in_storage`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("safewatch.tracing")


def make_redactor() -> Callable[[Any], Any] | None:
    """A function masking PII in every string of a JSON value, or None when the PII layer is not installed."""
    try:
        from safewatch.detect.pii import find_pii, redact
    except ImportError:
        log.warning("redact_pii_in_storage is set but safewatch.detect.pii is unavailable; storing unredacted")
        return None

    def redact_text(text: str) -> str:
        entities = find_pii(text)
        return redact(text, entities) if entities else text

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return redact_text(value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk
