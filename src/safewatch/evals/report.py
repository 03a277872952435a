"""The evaluation report: `report.md` plus precision-recall curve PNGs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safewatch.evals.gates import GateOutcome
from safewatch.evals.metrics import PRCurve
from safewatch.evals.results import EvalResult, Example

# Columns shared by the markdown tables and the CLI's rich tables.
METRIC_COLUMNS: tuple[str, ...] = ("n", "positives", "precision", "recall", "f1", "fpr", "auprc")
WORST_K = 10
_TEXT_CHARS = 140


def fmt(value: Any) -> str:
    """A metric for humans: 3 decimals, '-' where it is undefined."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def _cell(text: str, limit: int = _TEXT_CHARS) -> str:
    """Text safe inside a markdown table cell: one line, pipes escaped, truncated."""
    one_line = " ".join(text.split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    return one_line.replace("\\", "\\\\").replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _metric_table(first: str, metrics: dict[str, dict[str, Any]]) -> list[str]:
    return _table([first, *METRIC_COLUMNS], [[k, *(fmt(m.get(c)) for c in METRIC_COLUMNS)] for k, m in metrics.items()])


def _examples(title: str, examples: list[Example]) -> list[str]:
    lines = [f"#### {title}", ""]
    if not examples:
        return lines + ["None.", ""]
    rows = [[_cell(e.id, 40), e.lang, f"{e.score:.3f}", ", ".join(e.labels) or "-", ", ".join(e.predicted) or "-",
             _cell(e.text)] for e in examples]
    return lines + _table(["id", "lang", "score", "labels", "predicted", "text"], rows) + [""]


def plot_pr_curve(curve: PRCurve, path: Path, title: str, auprc: float | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    try:
        label = f"AUPRC {auprc:.3f}" if auprc is not None else None
        ax.step(curve.recall, curve.precision, where="post", label=label)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1.0)
        ax.set_ylim(0, 1.05)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if label:
            ax.legend(loc="lower left")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def _plots(result: EvalResult, directory: Path) -> dict[str | None, str]:
    """PR curves for the dataset (key None) and each category with labels; values are file names."""
    images: dict[str | None, str] = {}
    targets: list[tuple[str | None, float | None]] = [(None, result.binary.get("auprc"))]
    targets += [(c, m.get("auprc")) for c, m in result.per_category.items()]
    for category, auprc in targets:
        curve = result.pr_curve(category)
        if curve is None:
            continue
        name = _slug(result.name) + ("-" + _slug(category) if category else "") + "-pr.png"
        title = result.name + (f" / {category}" if category else " (flagged)")
        plot_pr_curve(curve, directory / name, title, auprc)
        images[category] = name
    return images


def _dataset_section(result: EvalResult, images: dict[str | None, str]) -> list[str]:
    lines = [f"## {result.name}", ""]
    meta = ", ".join(f"{k}: {v}" for k, v in result.meta.items() if v not in (None, "", []))
    if meta:
        lines += [meta, ""]
    lines += ["### Flagged vs not flagged", ""]
    lines += _metric_table("dataset", {result.name: result.binary})
    b = result.binary
    lines += ["", f"Confusion: TP {b['tp']}, FP {b['fp']}, TN {b['tn']}, FN {b['fn']}.", ""]
    if None in images:
        lines += [f"![PR curve]({images[None]})", ""]
    lines += ["### Per category", ""]
    if result.per_category:
        lines += ["Only rows whose label for the category is known; a predicted sub-category counts for its parent.", ""]
        lines += _metric_table("category", result.per_category) + [""]
        lines += [f"![{c}]({images[c]})" for c in result.per_category if c in images] + [""]
    else:
        lines += ["No category labels (or the scorer gives no categories).", ""]
    lines += ["### Per language", ""] + _metric_table("lang", result.per_language) + [""]
    lat = result.latency_ms
    lines += ["### Latency", "", f"p50 {fmt(lat['p50'])} ms, p95 {fmt(lat['p95'])} ms, mean {fmt(lat['mean'])} ms per text.", ""]
    lines += _examples(f"Worst false positives (top {WORST_K})", result.worst_false_positives(WORST_K))
    lines += _examples(f"Worst false negatives (top {WORST_K})", result.worst_false_negatives(WORST_K))
    return lines


def render_markdown(results: Sequence[EvalResult], images: dict[str, dict[str | None, str]] | None = None,
                    gates: Sequence[GateOutcome] = (), title: str = "safewatch evaluation") -> str:
    images = images or {}
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {title}", "", f"Generated {when}.", "", "## Summary", ""]
    lines += _metric_table("dataset", {r.name: r.binary for r in results}) + [""]
    if gates:
        lines += ["## Gates", ""] + [f"- {g.message}" for g in gates] + [""]
    for r in results:
        lines += _dataset_section(r, images.get(r.name, {}))
    return "\n".join(lines).rstrip() + "\n"


def write_report(results: Sequence[EvalResult], directory: str | Path, gates: Sequence[GateOutcome] = (),
                 title: str = "safewatch evaluation") -> Path:
    """Write `report.md` and its PNGs into `directory` (created if needed); returns the report path."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    images = {r.name: _plots(r, out) for r in results}
    path = out / "report.md"
    path.write_text(render_markdown(results, images, gates, title), encoding="utf-8")
    return path
