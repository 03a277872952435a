"""`safewatch eval`: run the detector over labelled datasets, print metrics, write a report, gate CI."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from safewatch.config import required_judge
from safewatch.evals.datasets import (
    DatasetError,
    dataset_name,
    parse_splits,
    read_rows,
    resolve_dataset,
    select,
)
from safewatch.evals.gates import Gate, GateError, GateOutcome, check_gates, shorthand_gates
from safewatch.evals.report import METRIC_COLUMNS, fmt, write_report
from safewatch.evals.results import EvalResult
from safewatch.evals.runner import evaluate

_HELP = (
    "Evaluate the detector on labelled JSONL datasets.\n\n"
    "Each DATASET is a JSONL file in the schema of ../shared/datasets/README.md, or the name of a shared dataset "
    "(e.g. xstest, openai-moderation). For every dataset: precision, recall, F1, false-positive rate and AUPRC "
    "(flagged vs overall_score), per category (rows with a known label only), per language, and latency p50/p95.\n\n"
    "Gates for CI: --min-f1 0.8 --max-fpr 0.1 apply to every dataset; --gate takes "
    "[DATASET:][CATEGORY.]METRIC>=VALUE, e.g. --gate xstest:fpr<=0.1 --gate openai-moderation:self-harm.recall>=0.6\n\n"
    "Exit codes: 0 all gates pass, 1 a gate fails, 2 bad input (missing dataset, bad line, bad policy or gate)."
)


class Role(StrEnum):
    input = "input"
    output = "output"


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(2)


# An evaluation is a batch job: a call may wait this long for the judge's per-minute budget (a full minute plus
# slack), unless the configuration says otherwise.
EVAL_BUDGET_WAIT_S = 65.0


def _batch_judge(config: Any) -> Any:
    if config.budget_wait_s > 0:
        return config
    return config.model_copy(update={"budget_wait_s": EVAL_BUDGET_WAIT_S})


def _make_detector(policy: Path | None, judge: Any = None) -> Any:
    """The detector under evaluation; tests replace this to run the command without the models."""
    from safewatch.detector import Detector

    return Detector(policy=policy, judge=judge)


def _unique(name: str, taken: set[str]) -> str:
    out, n = name, 2
    while out in taken:
        out, n = f"{name}#{n}", n + 1
    taken.add(out)
    return out


def _metrics_table(title: str, first: str, metrics: dict[str, dict[str, Any]]) -> Table:
    # No vertical rules, and long names fold: the metric columns stay readable on an 80-column terminal.
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(first, overflow="fold")
    for col in METRIC_COLUMNS:
        table.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    for key, m in metrics.items():
        table.add_row(escape(key), *(fmt(m.get(c)) for c in METRIC_COLUMNS))
    return table


def _print_tables(console: Console, results: list[EvalResult]) -> None:
    for r in results:
        console.rule(f"[bold]{escape(r.name)}[/bold] ({len(r.rows)} rows)")
        console.print(_metrics_table("flagged vs not flagged", "dataset", {r.name: r.binary}))
        if r.per_category:
            console.print(_metrics_table("per category (known labels only)", "category", r.per_category))
        if len(r.per_language) > 1:
            console.print(_metrics_table("per language", "lang", r.per_language))
        lat = r.latency_ms
        console.print(f"latency per text: p50 {fmt(lat['p50'])} ms, p95 {fmt(lat['p95'])} ms")
        if "judge" in r.meta:
            j = r.meta["judge"]
            console.print(f"LLM judge asked about {sum(j.values())} texts: {j['used']} answered, {j['cached']} from "
                          f"its cache, {j['failed']} failed (the local verdict stood)")
            if j["failed"]:
                console.print("  failed calls keep the local verdict: see the log for why (a spent "
                              "SAFEWATCH_JUDGE_MAX_CALLS_TOTAL, a timeout, an HTTP error)")
    if len(results) > 1:
        console.rule("[bold]summary[/bold]")
        console.print(_metrics_table("all datasets", "dataset", {r.name: r.binary for r in results}))


def _print_gates(console: Console, outcomes: list[GateOutcome]) -> None:
    for o in outcomes:
        style = {True: "green", False: "red", None: "yellow"}[o.passed]
        console.print(f"[{style}]gate[/{style}] {escape(o.message)}", highlight=False)


def eval_command(
    datasets: Annotated[list[str], typer.Argument(help="JSONL files, or names of shared datasets.", show_default=False)],
    split: Annotated[list[str] | None, typer.Option("--split", help="Only rows of these splits (repeatable or comma list); default: all rows.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most N rows per dataset: a seeded sample.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the --limit sample.")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document with every dataset's metrics.")] = False,
    report: Annotated[Path | None, typer.Option("--report", metavar="DIR", help="Write report.md and PR-curve PNGs into DIR.")] = None,
    policy: Annotated[Path | None, typer.Option("--policy", metavar="FILE", help="Policy YAML (extends the default).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Texts per check_batch call.")] = 64,
    role: Annotated[Role, typer.Option("--role", help="Check the texts as user input or model output.")] = Role.input,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar on stderr.")] = False,
    min_precision: Annotated[float | None, typer.Option("--min-precision", help="Gate: fail when a dataset's precision is lower.")] = None,
    min_recall: Annotated[float | None, typer.Option("--min-recall", help="Gate: fail when a dataset's recall is lower.")] = None,
    min_f1: Annotated[float | None, typer.Option("--min-f1", help="Gate: fail when a dataset's F1 is lower.")] = None,
    min_auprc: Annotated[float | None, typer.Option("--min-auprc", help="Gate: fail when a dataset's AUPRC is lower.")] = None,
    max_fpr: Annotated[float | None, typer.Option("--max-fpr", help="Gate: fail when a dataset's false-positive rate is higher.")] = None,
    gate: Annotated[list[str] | None, typer.Option("--gate", help="Gate expression [DATASET:][CATEGORY.]METRIC>=VALUE (repeatable).")] = None,
    judge: Annotated[bool, typer.Option("--judge", help="Ask the configured LLM judge (SAFEWATCH_JUDGE_*) about ambiguous texts. The run "
                                      "waits for its per-minute budget to refill (SAFEWATCH_JUDGE_MAX_CALLS_PER_MINUTE, default 60) "
                                      "instead of skipping texts; past SAFEWATCH_JUDGE_MAX_CALLS_TOTAL texts keep the local verdict.")] = False,
) -> None:
    try:
        gates: list[Gate] = shorthand_gates(min_precision=min_precision, min_recall=min_recall, min_f1=min_f1,
                                            min_auprc=min_auprc, max_fpr=max_fpr)
        gates += [Gate.parse(g) for g in gate or ()]
    except GateError as exc:
        raise _fail(str(exc)) from exc

    splits = parse_splits(split)
    loaded = []
    taken: set[str] = set()
    try:
        for spec in datasets:
            path = resolve_dataset(spec)
            every = read_rows(path)
            rows = select(every, splits=splits, limit=limit, seed=seed)
            present = sorted({r.split or "(none)" for r in every})
            loaded.append((_unique(dataset_name(path), taken), path, rows, present))
    except DatasetError as exc:
        raise _fail(str(exc)) from exc
    if report is not None:
        try:  # before the (long) run, so that an unwritable folder fails fast
            report.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _fail(f"cannot create report folder {report}: {exc}") from exc
    missing = [g for g in gates if g.dataset is not None and g.dataset not in taken]
    if missing:
        raise _fail(f"gate {missing[0]}: no dataset named {missing[0].dataset!r} is evaluated")

    try:
        detector = _make_detector(policy, _batch_judge(required_judge())) if judge else _make_detector(policy)
    except ValueError as exc:  # PolicyError, ConfigError: an unreadable or invalid policy or judge setting
        raise _fail(str(exc)) from exc

    err = Console(stderr=True)
    results: list[EvalResult] = []
    for name, path, rows, present in loaded:
        if not rows:
            wanted = f" in split {', '.join(sorted(splits))}" if splits else ""
            err.print(f"[yellow]warning:[/yellow] {escape(name)}: no rows selected{escape(wanted)} (its splits: "
                      f"{escape(', '.join(present))})", highlight=False)
        result = evaluate(detector, rows, batch_size=batch_size, progress=not no_progress, role=role.value, name=name)
        result.meta.update(path=str(path), splits=sorted(splits) if splits else None, limit=limit)
        results.append(result)

    outcomes = check_gates(gates, results)
    passed = all(o.passed is not False for o in outcomes)

    if json_output:
        doc = {
            "datasets": {r.name: r.to_dict() for r in results},
            "gates": [o.to_dict() for o in outcomes],
            "passed": passed,
            "role": role.value,
            "policy_version": getattr(getattr(detector, "policy", None), "version_tag", None),
        }
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False) + "\n")
        console = err
    else:
        console = Console()
        _print_tables(console, results)
    _print_gates(console, outcomes)

    if report is not None:
        written = write_report(results, report, outcomes)
        err.print(f"report written to {escape(str(written))}", highlight=False)

    if not passed:
        failed = sum(1 for o in outcomes if o.passed is False)
        err.print(f"[red]{failed} gate(s) failed[/red]", highlight=False)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("eval", help=_HELP, no_args_is_help=True)(eval_command)
