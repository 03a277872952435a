"""Quality gates for CI/CD: thresholds a dataset's metrics must meet.

A gate reads `[DATASET:][CATEGORY.]METRIC OP VALUE`, e.g. `f1>=0.8`, `xstest:fpr<=0.1`,
`openai-moderation:self-harm.recall>=0.6`. Without a dataset it applies to every dataset; with a category
it checks that category's metrics. A metric that is undefined for a dataset (FPR without negatives) cannot
fail it: it is reported as skipped.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from safewatch.evals.results import EvalResult

METRICS: tuple[str, ...] = ("precision", "recall", "f1", "fpr", "auprc", "accuracy")
_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_GATE = re.compile(
    r"^\s*(?:(?P<dataset>[^:\s]+)\s*:\s*)?(?:(?P<category>[a-z][a-z/_-]*)\.)?(?P<metric>[a-z][a-z0-9]*)\s*"
    r"(?P<op>>=|<=|>|<)\s*(?P<value>[0-9]*\.?[0-9]+)\s*$"
)


class GateError(ValueError):
    """A gate expression that cannot be parsed."""


@dataclass(frozen=True)
class Gate:
    metric: str
    op: str
    threshold: float
    dataset: str | None = None
    category: str | None = None

    def __str__(self) -> str:
        where = f"{self.dataset}:" if self.dataset else ""
        what = f"{self.category}.{self.metric}" if self.category else self.metric
        return f"{where}{what}{self.op}{self.threshold:g}"

    @classmethod
    def parse(cls, text: str) -> Gate:
        m = _GATE.match(text)
        if not m:
            raise GateError(f"cannot read gate {text!r}: expected [DATASET:][CATEGORY.]METRIC>=VALUE, e.g. f1>=0.8")
        if m["metric"] not in METRICS:
            raise GateError(f"gate {text!r}: unknown metric {m['metric']!r} (one of {', '.join(METRICS)})")
        return cls(metric=m["metric"], op=m["op"], threshold=float(m["value"]), dataset=m["dataset"],
                   category=m["category"])


@dataclass(frozen=True)
class GateOutcome:
    gate: Gate
    dataset: str
    value: float | None
    passed: bool | None  # None: the metric is undefined here, so the gate was skipped

    @property
    def message(self) -> str:
        target = f"{self.dataset}" + (f" [{self.gate.category}]" if self.gate.category else "")
        if self.passed is None:
            return f"{target}: {self.gate.metric} undefined, gate {self.gate} skipped"
        verdict = "passes" if self.passed else "FAILS"
        return f"{target}: {self.gate.metric}={self.value:.4f} {verdict} {self.gate}"

    def to_dict(self) -> dict[str, Any]:
        return {"gate": str(self.gate), "dataset": self.dataset, "category": self.gate.category,
                "metric": self.gate.metric, "value": self.value, "passed": self.passed}


def shorthand_gates(*, min_precision: float | None = None, min_recall: float | None = None,
                    min_f1: float | None = None, min_auprc: float | None = None,
                    max_fpr: float | None = None) -> list[Gate]:
    """The `--min-f1 0.8` style options as gates on every dataset's binary metrics."""
    spec = [("precision", ">=", min_precision), ("recall", ">=", min_recall), ("f1", ">=", min_f1),
            ("auprc", ">=", min_auprc), ("fpr", "<=", max_fpr)]
    return [Gate(metric=m, op=op, threshold=v) for m, op, v in spec if v is not None]


def check_gates(gates: Iterable[Gate], results: Iterable[EvalResult]) -> list[GateOutcome]:
    results = list(results)
    outcomes: list[GateOutcome] = []
    for gate in gates:
        targets = [r for r in results if gate.dataset in (None, r.name)]
        if gate.dataset is not None and not targets:
            raise GateError(f"gate {gate}: no dataset named {gate.dataset!r} was evaluated")
        for result in targets:
            if gate.category is None:
                metrics = result.binary
            else:
                metrics = result.per_category.get(gate.category, {})
            value = metrics.get(gate.metric)
            passed = None if value is None else _OPS[gate.op](value, gate.threshold)
            outcomes.append(GateOutcome(gate=gate, dataset=result.name, value=value, passed=passed))
    return outcomes
