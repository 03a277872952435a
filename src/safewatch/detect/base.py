"""The contract every detection layer shares.

A layer is constructed with its parameters (from the policy) and answers `score(batch)`: one `LayerScores`
per prepared text, scores in [0, 1] per category plus the evidence. Layers never see each other; the
cascade fuses what they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

from safewatch.detect.accents import strip_accents
from safewatch.verdict import ContextSignals, Match


@dataclass
class Prepared:
    """A text ready for the layers: the original, its normalized forms and what we know about it."""

    original: str
    # Sanitized original: null bytes and invisible characters removed. Spans refer to this string
    # (the same as `original` unless sanitization changed it).
    text: str
    # Lower-cased, NFKC, homoglyphs/leetspeak/spacing/slang folded: what rules and models read.
    normalized: str
    # normalized[i] came from text[offsets[i]]; used to map rule spans back onto `text`.
    offsets: list[int]
    language: str = "en"
    role: str = "input"  # "input" (user prompt) or "output" (model answer)
    # Filled by the cascade as layers run: context signals and redaction are shared facts.
    context: ContextSignals = field(default_factory=ContextSignals)
    # Sentence embedding (L2-normalized) and the encoder that made it; set by the cascade's embed step.
    embedding: Any = None
    encoder: str | None = None
    # (per-category similarity, best exemplar per category, best benign similarity); set by the semantic layer.
    similarities: Any = None

    @cached_property
    def stripped(self) -> str:
        """`normalized` without diacritics; rules and context cues both read it, so it is computed once."""
        return strip_accents(self.normalized)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span in `normalized` back to `text`."""
        if not self.offsets:
            return (start, end)
        s = self.offsets[min(start, len(self.offsets) - 1)]
        e = self.offsets[min(max(end - 1, 0), len(self.offsets) - 1)] + 1
        return (s, max(e, s))


@dataclass
class LayerScores:
    """What one layer says about one text."""

    scores: dict[str, float] = field(default_factory=dict)
    matches: list[Match] = field(default_factory=list)
    # True when the layer is sure enough that later (costlier) layers need not run.
    certain: bool = False
    redacted_text: str | None = None

    def bump(self, category: str, score: float) -> None:
        """Keep the highest score seen for a category."""
        if score > self.scores.get(category, 0.0):
            self.scores[category] = score


@runtime_checkable
class Layer(Protocol):
    name: str

    def score(self, batch: list[Prepared]) -> list[LayerScores]: ...
