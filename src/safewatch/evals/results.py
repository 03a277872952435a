"""What an evaluation run produced: one prediction per row, and the metrics derived from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from safewatch.evals.datasets import LABEL_CATEGORIES, EvalRow
from safewatch.evals.metrics import (
    PRCurve,
    binary_metrics,
    category_on,
    category_score,
    latency_summary,
    pr_curve,
)


@dataclass
class Prediction:
    """One detector (or baseline) answer. Baselines that only say flagged/score leave categories as None."""

    flagged: bool
    score: float
    categories: dict[str, bool] | None = None
    category_scores: dict[str, float] | None = None
    latency_ms: float = 0.0
    action: str | None = None
    top_category: str | None = None
    # The LLM judge's part, when it was asked: "used", "cached" or "failed" (the local verdict stood).
    judge: str | None = None


@dataclass
class Example:
    """A row the detector got wrong, for the report."""

    id: str
    text: str
    lang: str
    score: float
    labels: list[str]
    predicted: list[str]


@dataclass
class EvalResult:
    name: str
    rows: list[EvalRow]
    predictions: list[Prediction]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.rows) != len(self.predictions):
            raise ValueError("one prediction per row is needed")

    # -- arrays -------------------------------------------------------------------------------------------

    def binary_arrays(self, rows: list[int] | None = None) -> tuple[list[bool], list[bool], list[float]]:
        idx = range(len(self.rows)) if rows is None else rows
        return (
            [self.rows[i].flagged for i in idx],
            [self.predictions[i].flagged for i in idx],
            [self.predictions[i].score for i in idx],
        )

    def category_arrays(self, category: str) -> tuple[list[bool], list[bool], list[float]]:
        """Labels, predictions and scores for one category over the rows whose label is known."""
        y_true: list[bool] = []
        y_pred: list[bool] = []
        scores: list[float] = []
        for row, pred in zip(self.rows, self.predictions, strict=True):
            label = row.category_label(category)
            if label is None or pred.categories is None:
                continue
            y_true.append(label)
            y_pred.append(category_on(pred.categories, category))
            scores.append(category_score(pred.category_scores or {}, category))
        return y_true, y_pred, scores

    @cached_property
    def categories(self) -> list[str]:
        """Categories worth a per-category line: labelled positive at least once, and predicted by the scorer."""
        if not any(p.categories is not None for p in self.predictions):
            return []
        present = {c for r in self.rows for c in r.categories}
        return [c for c in LABEL_CATEGORIES if c in present]

    @cached_property
    def languages(self) -> list[str]:
        counts: dict[str, int] = {}
        for r in self.rows:
            counts[r.lang] = counts.get(r.lang, 0) + 1
        return sorted(counts, key=lambda lang: (-counts[lang], lang))

    # -- metrics ------------------------------------------------------------------------------------------

    @cached_property
    def binary(self) -> dict[str, Any]:
        return binary_metrics(*self.binary_arrays())

    @cached_property
    def per_category(self) -> dict[str, dict[str, Any]]:
        return {c: binary_metrics(*self.category_arrays(c)) for c in self.categories}

    @cached_property
    def per_language(self) -> dict[str, dict[str, Any]]:
        out = {}
        for lang in self.languages:
            idx = [i for i, r in enumerate(self.rows) if r.lang == lang]
            out[lang] = binary_metrics(*self.binary_arrays(idx))
        return out

    @cached_property
    def latency_ms(self) -> dict[str, float | None]:
        return latency_summary([p.latency_ms for p in self.predictions])

    def pr_curve(self, category: str | None = None) -> PRCurve | None:
        """The binary curve (flagged vs overall score), or one category's over its known rows."""
        y_true, _, scores = self.binary_arrays() if category is None else self.category_arrays(category)
        return pr_curve(y_true, scores)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.meta,
            "rows": len(self.rows),
            "binary": self.binary,
            "per_category": self.per_category,
            "per_language": self.per_language,
            "latency_ms": self.latency_ms,
        }

    # -- errors -------------------------------------------------------------------------------------------

    def _example(self, i: int) -> Example:
        row, pred = self.rows[i], self.predictions[i]
        predicted = sorted(c for c, on in (pred.categories or {}).items() if on)
        return Example(id=row.id, text=row.text, lang=row.lang, score=pred.score, labels=list(row.categories),
                       predicted=predicted)

    def worst_false_positives(self, k: int = 10) -> list[Example]:
        """Safe rows flagged with the highest scores first."""
        idx = [i for i, (r, p) in enumerate(zip(self.rows, self.predictions, strict=True)) if p.flagged and not r.flagged]
        idx.sort(key=lambda i: -self.predictions[i].score)
        return [self._example(i) for i in idx[:k]]

    def worst_false_negatives(self, k: int = 10) -> list[Example]:
        """Harmful rows missed, lowest scores first."""
        idx = [i for i, (r, p) in enumerate(zip(self.rows, self.predictions, strict=True)) if r.flagged and not p.flagged]
        idx.sort(key=lambda i: self.predictions[i].score)
        return [self._example(i) for i in idx[:k]]
