"""Detection commands: `check`, `train`, `models`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from safewatch.policy import PolicyError


def _detector(policy: Path | None, judge: bool = False):
    from safewatch.config import ConfigError, required_judge
    from safewatch.detector import Detector

    try:
        return Detector(policy, judge=required_judge() if judge else None)
    except (PolicyError, ConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _print_verdict(text: str, verdict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    state = "[red]FLAGGED[/red]" if verdict.flagged else "[green]not flagged[/green]"
    console.print(f"{state}  action=[bold]{verdict.action.value}[/bold]  score={verdict.overall_score:.3f}  "
                  f"language={verdict.language}  decided_by={verdict.decided_by}  {verdict.latency_ms:.2f} ms")
    table = Table("category", "score", "flagged", show_edge=False)
    for c, s in sorted(verdict.category_scores.items(), key=lambda kv: -kv[1]):
        if s >= 0.05 or verdict.categories.get(c):
            table.add_row(c, f"{s:.3f}", "yes" if verdict.categories.get(c) else "")
    if table.row_count:
        console.print(table)
    for m in verdict.matches:
        where = f" {text[m.span[0]:m.span[1]]!r}" if m.span else (f" ≈ {m.text!r}" if m.text else "")
        console.print(f"  match: {m.layer}/{m.category} {m.rule or ''}{where}")
    for note in verdict.context.notes:
        console.print(f"  context: {note}")
    if verdict.redacted_text:
        console.print(f"  redacted: {verdict.redacted_text}")
    if verdict.support_message:
        console.print(f"  support: {verdict.support_message}")
    if verdict.judge:
        j = verdict.judge
        if j.get("used"):
            cached = " (cached)" if j.get("cached") else ""
            console.print(f"  judge: {j.get('model')}{cached} recommends {j.get('recommendation')}: {j.get('reason') or '-'}")
        else:
            console.print(f"  judge: not used, {j.get('error')}; the local verdict stands")


def check(
    text: str = typer.Argument(None, help="The text to check. Omit it when using --jsonl."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
    role: str = typer.Option("input", help="input (a user prompt) or output (a model answer)."),
    policy: Path = typer.Option(None, "--policy", help="A policy YAML that extends or replaces the default."),
    jsonl: str = typer.Option(None, "--jsonl", help="Read JSON lines with a `text` field from FILE ('-' for stdin); "
                              "write one verdict JSON per line, same order."),
    batch_size: int = typer.Option(256, help="Texts per model call with --jsonl."),
    judge: bool = typer.Option(False, "--judge", help="Ask the configured LLM judge (SAFEWATCH_JUDGE_URL, "
                               "SAFEWATCH_JUDGE_MODEL, SAFEWATCH_JUDGE_KEY) about ambiguous texts."),
) -> None:
    """Check a text (or a JSONL file of texts) and print the verdict."""
    if role not in ("input", "output"):
        typer.echo("error: --role must be 'input' or 'output'", err=True)
        raise typer.Exit(2)
    if (text is None) == (jsonl is None):
        typer.echo("error: give either TEXT or --jsonl FILE", err=True)
        raise typer.Exit(2)
    detector = _detector(policy, judge)
    if jsonl is not None:
        _check_jsonl(detector, jsonl, role, batch_size)
        return
    verdict = detector.check(text, role=role)
    if as_json:
        typer.echo(json.dumps(verdict.to_dict(), ensure_ascii=False))
    else:
        _print_verdict(text, verdict)


def _check_jsonl(detector, source: str, role: str, batch_size: int) -> None:
    stream = sys.stdin if source == "-" else None
    if stream is None:
        try:
            stream = open(source, encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            typer.echo(f"error: cannot read {source}: {exc}", err=True)
            raise typer.Exit(2) from exc
    out = sys.stdout
    bad_line: list[int] = []

    def batches():
        """Batches of texts read from the stream; stops at the first line that is not a JSON object with a
        string `text` (every batch before it is still checked and written)."""
        batch: list[str] = []
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                text = obj["text"] if isinstance(obj, dict) else None
            except (json.JSONDecodeError, KeyError):
                text = None
            if not isinstance(text, str):
                bad_line.append(n)
                return
            batch.append(text)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    try:
        for verdicts in detector.check_batches(batches(), role=role):
            for v in verdicts:
                out.write(json.dumps(v.to_dict(), ensure_ascii=False) + "\n")
    finally:
        if stream is not sys.stdin:
            stream.close()
        out.flush()
    if bad_line:
        typer.echo(f"error: line {bad_line[0]}: expected a JSON object with a string `text` field", err=True)
        raise typer.Exit(2)


def train(
    seed: int = typer.Option(13, help="Random seed: the same seed and data give the same heads."),
    check_only: bool = typer.Option(False, "--check", help="Retrain into a temporary folder and verify the shipped "
                                    "heads and thresholds are what this command produces."),
    report: Path = typer.Option(Path("reports/training"), help="Where to write the training report."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Train the classifier heads from the datasets' train splits and the project's corpus."""
    import tempfile

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from safewatch.train.trainer import report_markdown, save_report
    from safewatch.train.trainer import train as run_training

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), transient=True, disable=as_json) as progress:
        if check_only:
            with tempfile.TemporaryDirectory() as tmp:
                tmp_path = Path(tmp)
                result = run_training(seed, out_dir=tmp_path, progress=progress,
                                      trained_policy_path=tmp_path / "trained.yaml")
                problems = _compare_heads(tmp_path)
                from safewatch.train.trainer import TRAINED_POLICY

                if (tmp_path / "trained.yaml").read_text() != TRAINED_POLICY.read_text():
                    problems.append("thresholds in policy/default/trained.yaml differ")
        else:
            result = run_training(seed, progress=progress)
            save_report(result, report)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        typer.echo(report_markdown(result))
    if check_only:
        if problems:
            typer.echo("shipped heads differ from a fresh training run:\n  " + "\n  ".join(problems), err=True)
            typer.echo(_cpu_hint(), err=True)
            raise typer.Exit(1)
        typer.echo("ok: shipped heads match a fresh training run", err=True)


def _cpu_hint() -> str:
    """Whether a failed check may be the CPU's doing: heads reproduce bit for bit only on the CPU kind that
    trained them (see `safewatch.machine`)."""
    from safewatch.detect.classifier import Head, head_path
    from safewatch.detect.embed import ENCODERS
    from safewatch.machine import cpu_signature

    here = cpu_signature()
    shipped = {Head.load(head_path(e)).meta.get("cpu") for e in ENCODERS if head_path(e).exists()}
    if shipped == {here}:
        return f"the shipped heads were trained on this kind of CPU ({here}): the training data or code changed"
    known = sorted(c for c in shipped if c)
    where = ", ".join(known) if known else "a CPU they do not record"
    return (f"the shipped heads were trained on {where}; this machine is {here}. Heads reproduce only on the kind "
            "of CPU that trained them: `safewatch train` here rebuilds them for this kind of CPU")


def _compare_heads(tmp: Path) -> list[str]:
    import numpy as np

    from safewatch.detect.classifier import Head, head_path
    from safewatch.detect.embed import ENCODERS

    problems = []
    for encoder in ENCODERS:
        shipped, fresh = head_path(encoder), tmp / f"heads-{encoder}.npz"
        if not shipped.exists() or not fresh.exists():
            problems.append(f"{encoder}: head missing ({shipped if not shipped.exists() else fresh})")
            continue
        a, b = Head.load(shipped), Head.load(fresh)
        if a.categories != b.categories:
            problems.append(f"{encoder}: categories differ")
            continue
        # Embeddings come from threaded float kernels: equal to ~1e-6, not bit for bit.
        if (a.hidden_w is None) != (b.hidden_w is None):
            problems.append(f"{encoder}: one head has a hidden layer, the other not")
            continue
        names = ("weights", "bias", "platt_a", "platt_b") + (("hidden_w", "hidden_b") if a.hidden_w is not None else ())
        arrays = [(name, getattr(a, name), getattr(b, name)) for name in names]
        if (a.ngram is None) != (b.ngram is None):
            problems.append(f"{encoder}: one head reads n-gram models, the other not")
        elif a.ngram is not None:
            if a.ngram.vocabulary != b.ngram.vocabulary:
                problems.append(f"{encoder}: n-gram vocabularies differ")
            else:
                arrays += [(f"n-gram {name}", getattr(a.ngram, name), getattr(b.ngram, name)) for name in ("weights", "bias")]
        for label, x, y in arrays:
            if x.shape != y.shape or not np.allclose(x, y, atol=1e-3, rtol=1e-3):
                problems.append(f"{encoder}: {label} differ")
    return problems


def models_build() -> None:
    """Build the models safewatch makes itself into the model cache: the int8 ONNX exports of all-MiniLM-L6-v2
    (English) and multilingual-e5-small (Vietnamese and the rest), and the lexical toxicity model copied out of
    alt-profanity-check. Each is built once; later runs print the paths of what is there."""
    from safewatch.detect.e5_export import e5_files
    from safewatch.detect.embed import minilm_onnx_path
    from safewatch.detect.lexical import lexical_model_path

    typer.echo(str(minilm_onnx_path()))
    typer.echo(str(e5_files().onnx))
    typer.echo(str(lexical_model_path()))


def register(app: typer.Typer) -> None:
    app.command("check")(check)
    app.command("train")(train)
    models = typer.Typer(help="Models safewatch builds itself.", no_args_is_help=True)
    models.command("build")(models_build)
    app.add_typer(models, name="models")
