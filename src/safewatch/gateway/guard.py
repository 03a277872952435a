"""Checking texts for the gateway's routes: the micro-batcher, the policy's fail mode, and what to answer
instead of a blocked text."""

from __future__ import annotations

import logging

from safewatch.gateway.batcher import MicroBatcher
from safewatch.gateway.errors import DetectorUnavailable
from safewatch.gateway.metrics import GatewayMetrics
from safewatch.policy import Policy
from safewatch.verdict import Action, Verdict

log = logging.getLogger("safewatch.gateway")

# `decided_by` of the stand-in verdict made when the detector failed; the fail mode chose its action.
DETECTOR_ERROR = "detector-error"
BLOCKING = (Action.BLOCK, Action.SUPPORT)


def blocks(verdict: Verdict) -> bool:
    return verdict.action in BLOCKING


def strongest(verdicts: list[Verdict]) -> Verdict | None:
    """The verdict that decides for a group of texts: the strictest action, then the highest score."""
    return max(verdicts, key=lambda v: (v.action.severity, v.overall_score), default=None)


class Guard:
    def __init__(self, batcher: MicroBatcher, policy: Policy, metrics: GatewayMetrics) -> None:
        self.batcher = batcher
        self.policy = policy
        self.metrics = metrics

    async def verdicts(self, texts: list[str], role: str) -> list[Verdict]:
        """The detector's verdicts; a detector failure is a 503 (for routes that cannot fail open)."""
        try:
            verdicts = await self.batcher.check_many(texts, role)
        except Exception as exc:
            self.metrics.detector_errors.labels(role).inc()
            log.exception("detector failed on %d %s text(s)", len(texts), role)
            raise DetectorUnavailable(f"the detector failed: {type(exc).__name__}") from exc
        for v in verdicts:
            self.metrics.verdict(v, role)
        return verdicts

    async def decide(self, texts: list[str], role: str) -> list[Verdict]:
        """Verdicts for the chat proxy: a detector failure lets texts through or blocks them, per policy."""
        try:
            return await self.verdicts(texts, role)
        except DetectorUnavailable:
            return [self._stand_in(role) for _ in texts]

    def _stand_in(self, role: str) -> Verdict:
        closed = self.policy.fail_mode == "closed"
        return Verdict(flagged=closed, action=Action.BLOCK if closed else Action.ALLOW, overall_score=0.0,
                       categories={}, category_scores={}, decided_by=DETECTOR_ERROR,
                       policy_version=self.policy.version_tag)

    def fallback_text(self, verdict: Verdict) -> str:
        """What the user sees instead: crisis resources for `support`, else the localized refusal."""
        if verdict.action == Action.SUPPORT:
            if verdict.support_message:
                return verdict.support_message
            locale = self.policy.crisis_for(verdict.language)
            if locale is not None:
                lines = [locale.message] + [
                    " · ".join(x for x in (r.name, r.phone, r.text, r.url) if x) for r in locale.resources
                ]
                return "\n".join(lines)
        return self.policy.refusal_for(verdict.language)
