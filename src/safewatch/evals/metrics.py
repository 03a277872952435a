"""Classification metrics as pure functions over labels, predictions and scores.

A metric that is undefined for the data (recall without positives, FPR without negatives, precision without
any prediction) is None, never NaN: the results go to JSON and to CI gates, where NaN would compare false
against every threshold and silently pass or fail.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from safewatch.taxonomy import parent_of


@dataclass(frozen=True)
class Confusion:
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @classmethod
    def from_labels(cls, y_true: Sequence[bool], y_pred: Sequence[bool]) -> Confusion:
        t = np.asarray(y_true, dtype=bool)
        p = np.asarray(y_pred, dtype=bool)
        if t.shape != p.shape:
            raise ValueError("labels and predictions differ in length")
        return cls(tp=int(np.sum(t & p)), fp=int(np.sum(~t & p)), tn=int(np.sum(~t & ~p)), fn=int(np.sum(t & ~p)))

    @property
    def positives(self) -> int:
        return self.tp + self.fn

    @property
    def negatives(self) -> int:
        return self.tn + self.fp

    @property
    def total(self) -> int:
        return self.positives + self.negatives


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


def precision(c: Confusion) -> float | None:
    return _ratio(c.tp, c.tp + c.fp)


def recall(c: Confusion) -> float | None:
    return _ratio(c.tp, c.positives)


def f1(c: Confusion) -> float | None:
    # 2TP / (2TP + FP + FN): defined (as 0) when nothing was predicted, undefined only without positives.
    return None if c.positives == 0 else 2 * c.tp / (2 * c.tp + c.fp + c.fn)


def fpr(c: Confusion) -> float | None:
    return _ratio(c.fp, c.negatives)


def accuracy(c: Confusion) -> float | None:
    return _ratio(c.tp + c.tn, c.total)


def _both_classes(y_true: Sequence[bool]) -> bool:
    t = np.asarray(y_true, dtype=bool)
    return bool(t.any()) and bool((~t).any())


def average_precision(y_true: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the precision-recall curve (average precision), None unless both classes occur.

    With positives only, every ranking has precision 1; the number would say nothing about the scores.
    """
    if len(y_true) != len(scores):
        raise ValueError("labels and scores differ in length")
    if not _both_classes(y_true):
        return None
    # Imported here, not at the top: every `safewatch` command loads this module, and sklearn takes a second.
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(np.asarray(y_true, dtype=bool), np.asarray(scores, dtype=float)))


@dataclass(frozen=True)
class PRCurve:
    precision: list[float]
    recall: list[float]
    thresholds: list[float]


def pr_curve(y_true: Sequence[bool], scores: Sequence[float]) -> PRCurve | None:
    """Precision-recall curve points (sklearn's order: recall falling), None unless both classes occur."""
    if not _both_classes(y_true):
        return None
    from sklearn.metrics import precision_recall_curve

    p, r, t = precision_recall_curve(np.asarray(y_true, dtype=bool), np.asarray(scores, dtype=float))
    return PRCurve(precision=p.tolist(), recall=r.tolist(), thresholds=t.tolist())


def percentile(values: Sequence[float], q: float) -> float | None:
    if len(values) == 0:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float | None]:
    return {
        "p50": _finite(percentile(latencies_ms, 50)),
        "p95": _finite(percentile(latencies_ms, 95)),
        "mean": _finite(float(np.mean(latencies_ms)) if len(latencies_ms) else None),
    }


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def binary_metrics(y_true: Sequence[bool], y_pred: Sequence[bool], scores: Sequence[float] | None = None) -> dict[str, Any]:
    """Counts and rates for one binary task, JSON-ready (None where undefined)."""
    c = Confusion.from_labels(y_true, y_pred)
    return {
        "n": c.total,
        "positives": c.positives,
        "negatives": c.negatives,
        "tp": c.tp,
        "fp": c.fp,
        "tn": c.tn,
        "fn": c.fn,
        "precision": _finite(precision(c)),
        "recall": _finite(recall(c)),
        "f1": _finite(f1(c)),
        "fpr": _finite(fpr(c)),
        "accuracy": _finite(accuracy(c)),
        "auprc": _finite(average_precision(y_true, scores)) if scores is not None else None,
    }


def category_on(categories: dict[str, bool], category: str) -> bool:
    """Whether `category` or any of its sub-categories is on: a predicted sub-category counts for its parent."""
    return any(on for name, on in categories.items() if name == category or parent_of(name) == category)


def category_score(scores: dict[str, float], category: str) -> float:
    """The highest score of `category` and its sub-categories (0 when none is scored)."""
    return max((s for name, s in scores.items() if name == category or parent_of(name) == category), default=0.0)
