"""The one result type used everywhere: library, command line, HTTP and traces."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Action(StrEnum):
    """What the caller should do with the text, mildest first."""

    ALLOW = "allow"
    WARN = "warn"  # pass it on, but record it
    REDACT = "redact"  # pass on `redacted_text` instead
    SUPPORT = "support"  # answer with crisis resources instead of the model's output
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @classmethod
    def strongest(cls, actions: list[Action]) -> Action:
        return max(actions, key=lambda a: a.severity, default=cls.ALLOW)


_SEVERITY = {Action.ALLOW: 0, Action.WARN: 1, Action.REDACT: 2, Action.SUPPORT: 3, Action.BLOCK: 4}


class Match(BaseModel):
    """One piece of evidence: which layer saw what, where in the original text."""

    layer: str
    category: str
    rule: str | None = None
    span: tuple[int, int] | None = None
    score: float | None = None
    text: str | None = None


class ContextSignals(BaseModel):
    """Signals that lower or re-route a score; `notes` says what each one did."""

    negated: bool = False
    third_party: bool = False
    help_seeking: bool = False
    educational: bool = False
    fiction: bool = False
    quotation: bool = False
    technical: bool = False  # software, games, cooking: "kill the process", "shoot the boss"
    figurative: bool = False  # "this exam is killing me", "我想死你了" (I miss you to death)
    notes: list[str] = Field(default_factory=list)

    @property
    def lowers_scores(self) -> bool:
        """Whether any cue that lowers scores fired (help-seeking alone does not lower anything)."""
        return any((self.negated, self.third_party, self.educational, self.fiction, self.quotation,
                    self.technical, self.figurative))


class Verdict(BaseModel):
    flagged: bool
    action: Action
    overall_score: float
    categories: dict[str, bool]
    category_scores: dict[str, float]
    matches: list[Match] = Field(default_factory=list)
    context: ContextSignals = Field(default_factory=ContextSignals)
    language: str = "en"
    redacted_text: str | None = None
    decided_by: str = "none"
    latency_ms: float = 0.0
    policy_version: str = "default@1"
    # Set for the `support` action: localized crisis resources to answer with.
    support_message: str | None = None
    # Set when the optional judge ran, or was meant to run and failed (the local verdict then stands).
    judge: dict | None = None

    @property
    def flagged_categories(self) -> list[str]:
        return [c for c, on in self.categories.items() if on]

    @property
    def judge_outcome(self) -> str | None:
        """None when the judge was not asked; else "used", "cached" (an earlier answer) or "failed" (the local
        verdict stood)."""
        if self.judge is None:
            return None
        if not self.judge.get("used"):
            return "failed"
        return "cached" if self.judge.get("cached") else "used"

    @property
    def top_category(self) -> str | None:
        """The highest-scoring flagged category, or None when nothing is flagged."""
        flagged = self.flagged_categories
        if not flagged:
            return None
        return max(flagged, key=lambda c: self.category_scores.get(c, 0.0))

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")
