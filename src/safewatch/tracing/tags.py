"""Trace tags derived from safety verdicts."""

from __future__ import annotations

from collections.abc import Iterable

UNSAFE = "unsafe"
BLOCKED_INPUT = "blocked_input"
BLOCKED_OUTPUT = "blocked_output"
RISK_TAGS = ("high_risk", "medium_risk", "low_risk")
VIOLATION_SUFFIX = "_violation"


def risk_tag(overall: float) -> str:
    if overall >= 0.8:
        return "high_risk"
    if overall >= 0.5:
        return "medium_risk"
    return "low_risk"


def safety_tags(overall: float, flagged_categories: Iterable[str]) -> set[str]:
    """`unsafe` when anything is flagged, one risk tag, and `<category>_violation` per flagged category."""
    categories = set(flagged_categories)
    tags = {risk_tag(overall), *(f"{c}{VIOLATION_SUFFIX}" for c in categories)}
    if categories:
        tags.add(UNSAFE)
    return tags


def is_safety_tag(tag: str) -> bool:
    """Tags the auto-scorer owns (recomputed on every scoring); `blocked_*` tags are the gateway's."""
    return tag == UNSAFE or tag in RISK_TAGS or tag.endswith(VIOLATION_SUFFIX)
