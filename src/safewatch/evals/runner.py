"""Running a detector, or any scoring function, over dataset rows."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from safewatch.evals.datasets import EvalRow
from safewatch.evals.results import EvalResult, Prediction
from safewatch.verdict import Verdict


class BatchDetector(Protocol):
    def check_batch(self, texts: list[str], role: str = "input") -> list[Verdict]: ...


Scorer = Callable[[str], tuple[bool, float]]
BatchScorer = Callable[[list[str]], Sequence[tuple[bool, float]]]


def _name(rows: Sequence[EvalRow], name: str | None) -> str:
    if name:
        return name
    names = sorted({r.dataset for r in rows if r.dataset})
    return "+".join(names) or "dataset"


@contextmanager
def _progress(enabled: bool, description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (stdout may carry JSON); yields `advance(n)`."""
    if not enabled:
        yield lambda n: None
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with bar:
        task = bar.add_task(escape(description), total=total)
        yield lambda n: bar.advance(task, n)


def _run_batches(
    rows: Sequence[EvalRow],
    run: Callable[[list[str]], list[Any]],
    to_prediction: Callable[[Any, float], Prediction],
    *,
    batch_size: int,
    progress: bool,
    name: str,
) -> list[Prediction]:
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    predictions: list[Prediction] = []
    with _progress(progress, name, len(rows)) as advance:
        for start in range(0, len(rows), batch_size):
            texts = [r.text for r in rows[start : start + batch_size]]
            t0 = time.perf_counter()
            outputs = run(texts)
            # The batch's wall time shared evenly: what a caller batching the same way would see per text.
            per_text_ms = (time.perf_counter() - t0) * 1000 / len(texts)
            if len(outputs) != len(texts):
                raise ValueError(f"scorer returned {len(outputs)} results for {len(texts)} texts")
            predictions.extend(to_prediction(out, per_text_ms) for out in outputs)
            advance(len(texts))
    return predictions


def _from_verdict(v: Verdict, latency_ms: float) -> Prediction:
    return Prediction(
        flagged=v.flagged,
        score=float(v.overall_score),
        categories=dict(v.categories),
        category_scores={k: float(s) for k, s in v.category_scores.items()},
        latency_ms=latency_ms,
        action=v.action.value if hasattr(v.action, "value") else str(v.action),
        top_category=v.top_category,
        judge=v.judge_outcome,
    )


def _from_pair(out: tuple[bool, float], latency_ms: float) -> Prediction:
    flagged, score = out
    return Prediction(flagged=bool(flagged), score=float(score), latency_ms=latency_ms)


def evaluate(
    detector: BatchDetector,
    rows: Sequence[EvalRow],
    batch_size: int = 64,
    progress: bool = True,
    *,
    role: str = "input",
    name: str | None = None,
) -> EvalResult:
    """Run `detector.check_batch` over the rows in batches and collect verdicts as predictions."""
    name = _name(rows, name)
    predictions = _run_batches(
        rows,
        lambda texts: detector.check_batch(texts, role=role),
        _from_verdict,
        batch_size=batch_size,
        progress=progress,
        name=name,
    )
    result = EvalResult(name=name, rows=list(rows), predictions=predictions)
    asked = [p.judge for p in predictions if p.judge is not None]
    if asked:
        result.meta["judge"] = {outcome: asked.count(outcome) for outcome in ("used", "cached", "failed")}
    return result


def evaluate_scorer(
    fn: Scorer | BatchScorer,
    rows: Sequence[EvalRow],
    *,
    batched: bool = False,
    batch_size: int = 64,
    progress: bool = True,
    name: str | None = None,
) -> EvalResult:
    """Run any scorer through the same metrics: `fn(text) -> (flagged, score)`, or with `batched=True`
    `fn(texts) -> [(flagged, score), ...]`. Per-category metrics need categories, so a scorer gets binary,
    per-language and latency metrics only."""
    name = _name(rows, name)
    run = fn if batched else (lambda texts: [fn(t) for t in texts])  # type: ignore[misc]
    predictions = _run_batches(
        rows,
        run,  # type: ignore[arg-type]
        _from_pair,
        batch_size=batch_size if batched else 1,
        progress=progress,
        name=name,
    )
    return EvalResult(name=name, rows=list(rows), predictions=predictions)
