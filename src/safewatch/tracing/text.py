"""The text to check in a trace's or observation's input/output, whatever JSON shape it has."""

from __future__ import annotations

from typing import Any

# Keys whose values are structure, not content (chat roles, ids, model names).
_STRUCTURAL_KEYS = frozenset(
    {"role", "type", "id", "name", "model", "tool_call_id", "index", "finish_reason", "object", "created",
     "system_fingerprint", "logprobs", "usage"}
)


def extract_text(value: Any, limit: int = 8000) -> str:
    """All content strings in `value`, joined by newlines, cut to `limit` characters."""
    parts: list[str] = []
    size = 0

    def walk(v: Any, depth: int) -> None:
        nonlocal size
        if size >= limit or depth > 32:
            return
        if isinstance(v, str):
            if v.strip():
                parts.append(v)
                size += len(v) + 1
        elif isinstance(v, dict):
            for k, x in v.items():
                if k not in _STRUCTURAL_KEYS:
                    walk(x, depth + 1)
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x, depth + 1)

    walk(value, 0)
    return "\n".join(parts)[:limit]
