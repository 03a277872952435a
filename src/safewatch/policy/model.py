"""The policy: per category its rules, exemplars, threshold and action, as data.

A policy file is YAML. The built-in default lives in `policy/default/*.yaml` (one file per language plus
`base.yaml`); a user's file extends it (`extends: default`, the default) or replaces it (`extends: none`).
Merging: mappings merge key by key, lists are appended, scalars are overridden.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from safewatch.verdict import Action

LANGS = ("en", "vi", "zh")


class RegexRule(BaseModel):
    id: str
    pattern: str
    lang: str | None = None  # None: any language
    score: float = 0.9
    # Regexes run on the normalized text unless `on_original` (e.g. for case-sensitive markup).
    on_original: bool = False


class ComboRule(BaseModel):
    """Fires when a word from every group occurs within `window` words (a danger word plus an intent word)."""

    id: str
    all_of: list[list[str]]
    lang: str | None = None
    window: int = 8
    score: float = 0.8


class Rules(BaseModel):
    # Exact phrases, matched on normalized text at word boundaries. Per language.
    phrases: dict[str, list[str]] = Field(default_factory=dict)
    regexes: list[RegexRule] = Field(default_factory=list)
    combos: list[ComboRule] = Field(default_factory=list)
    phrase_score: float = 0.9


class CategoryPolicy(BaseModel):
    description: str = ""
    threshold: float = 0.5
    action: Action = Action.BLOCK
    # A category may require a higher bar on model outputs than on user inputs (or the other way).
    output_threshold: float | None = None
    rules: Rules = Field(default_factory=Rules)
    # Utterances that mean this category, per language, for nearest-exemplar matching.
    exemplars: dict[str, list[str]] = Field(default_factory=dict)
    enabled: bool = True

    def threshold_for(self, role: str) -> float:
        if role == "output" and self.output_threshold is not None:
            return self.output_threshold
        return self.threshold


class CrisisResource(BaseModel):
    name: str
    phone: str | None = None
    text: str | None = None
    url: str | None = None


class CrisisLocale(BaseModel):
    message: str
    resources: list[CrisisResource] = Field(default_factory=list)


class Policy(BaseModel):
    name: str = "default"
    version: int = 1
    categories: dict[str, CategoryPolicy] = Field(default_factory=dict)
    # Benign look-alikes per language ("how do I kill a python process"): semantic counter-evidence.
    benign_exemplars: dict[str, list[str]] = Field(default_factory=dict)
    # Crisis resources for the `support` action, keyed by language ("en", "vi", "zh") or region.
    crisis_resources: dict[str, CrisisLocale] = Field(default_factory=dict)
    # Localized refusal texts for blocked content, keyed by language.
    refusals: dict[str, str] = Field(default_factory=dict)
    # Whether a detector error lets the text through (open) or blocks it (closed).
    fail_mode: str = "closed"
    # How much raw exemplar similarity counts for a category a trained head already covers (0..1). Chosen by
    # `safewatch train` on its dev split.
    semantic_weight: float = Field(default=0.75, ge=0.0, le=1.0)
    # Score of the "warn" band: flagged categories below threshold but above this are recorded.
    warn_margin: float = 0.15

    @field_validator("fail_mode")
    @classmethod
    def _fail_mode(cls, v: str) -> str:
        if v not in {"open", "closed"}:
            raise ValueError("fail_mode must be 'open' or 'closed'")
        return v

    @property
    def version_tag(self) -> str:
        return f"{self.name}@{self.version}"

    def enabled_categories(self) -> dict[str, CategoryPolicy]:
        return {k: v for k, v in self.categories.items() if v.enabled}

    def crisis_for(self, language: str) -> CrisisLocale | None:
        return self.crisis_resources.get(language) or self.crisis_resources.get("en")

    def refusal_for(self, language: str) -> str:
        return self.refusals.get(language) or self.refusals.get("en") or "I can't help with that."
