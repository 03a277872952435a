from pathlib import Path

from evalfakes import TOY_ROWS, FakeDetector

from safewatch.evals.datasets import EvalRow
from safewatch.evals.gates import Gate, check_gates
from safewatch.evals.report import render_markdown, write_report
from safewatch.evals.runner import evaluate, evaluate_scorer

ROWS = [EvalRow(**{**r, "source_label": {}, "dataset": "toy"}) for r in TOY_ROWS]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_with_plots(tmp_path: Path):
    result = evaluate(FakeDetector(), ROWS, progress=False)
    gates = check_gates([Gate.parse("f1>=0.9")], [result])
    path = write_report([result], tmp_path / "out", gates)
    assert path == tmp_path / "out" / "report.md"
    text = path.read_text(encoding="utf-8")
    for heading in ("## toy", "### Per category", "### Per language", "### Latency", "Worst false positives",
                    "Worst false negatives", "## Gates"):
        assert heading in text
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert "toy-pr.png" in pngs
    assert "toy-sexual_minors-pr.png" in pngs
    assert all((tmp_path / "out" / p).read_bytes().startswith(PNG_MAGIC) for p in pngs)
    for png in pngs:
        assert f"]({png})" in text


def test_table_cells_are_escaped_and_truncated():
    long_text = "a|b\nc " + "x" * 500
    rows = [EvalRow(id="t-1", text=long_text, flagged=False, dataset="t"),
            EvalRow(id="t-2", text="kill", flagged=True, categories=["violence"], dataset="t")]
    result = evaluate_scorer(lambda t: (True, 0.9), rows, progress=False)
    md = render_markdown([result])
    line = next(ln for ln in md.splitlines() if ln.startswith("| t-1 "))
    assert "a\\|b c" in line and "\n" not in line and len(line) < 300


def test_dataset_without_both_classes_gets_no_binary_plot(tmp_path: Path):
    rows = [EvalRow(id="p-1", text="kill", flagged=True, categories=["violence"], dataset="pos")]
    write_report([evaluate(FakeDetector(), rows, progress=False)], tmp_path)
    assert (tmp_path / "report.md").exists()
    assert not list(tmp_path.glob("*.png"))
