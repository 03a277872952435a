"""From fused scores to flags and an action, by the policy. Shared by the cascade and the LLM judge."""

from __future__ import annotations

from safewatch.policy import Policy
from safewatch.taxonomy import PARENT, parent_of
from safewatch.verdict import Action


def decide(policy: Policy, scores: dict[str, float], role: str, *, redacted: bool = False) -> tuple[dict[str, bool], Action]:
    """Flags and action for fused scores.

    A flagged sub-category flags its parent; the strongest action of the flagged categories wins (except that
    `support` outranks `block` within the self-harm family); nothing flagged
    but a score within `warn_margin` of its threshold warns; redacted PII lifts the action to at least `redact`.
    Every category in `scores` must be in the policy.
    """
    cats = policy.categories
    flagged = {c: s >= cats[c].threshold_for(role) for c, s in scores.items()}
    for child, parent in PARENT.items():
        if flagged.get(child) and parent in flagged:
            flagged[parent] = True
    on = [c for c, f in flagged.items() if f]
    action = Action.strongest([cats[c].action for c in on])
    # Someone asking how to end their life needs crisis resources, not a bare refusal: within the self-harm
    # family `support` outranks `block` (what blocks is still withheld; support answers instead of the model).
    if action == Action.BLOCK and any(cats[c].action == Action.SUPPORT for c in on):
        blockers = [c for c in on if cats[c].action == Action.BLOCK]
        if all(parent_of(c) == "self-harm" for c in blockers):
            action = Action.SUPPORT
    if action == Action.ALLOW:
        near = any(s > 0 and s >= cats[c].threshold_for(role) - policy.warn_margin for c, s in scores.items())
        action = Action.WARN if near else Action.ALLOW
    if redacted and action.severity < Action.REDACT.severity:
        action = Action.REDACT
    return flagged, action


def support_message(policy: Policy, language: str) -> str | None:
    """The localized crisis message and resources for the `support` action."""
    locale = policy.crisis_for(language)
    if locale is None:
        return None
    lines = [locale.message]
    for r in locale.resources:
        contact = " · ".join(x for x in (r.phone, r.text, r.url) if x)
        lines.append(f"- {r.name}: {contact}" if contact else f"- {r.name}")
    return "\n".join(lines)
