import json

import pytest
from evalfakes import TOY_ROWS, FakeDetector, row

from safewatch.evals.datasets import EvalRow
from safewatch.evals.runner import evaluate, evaluate_scorer

ROWS = [EvalRow(**{**r, "source_label": {}, "dataset": "toy"}) for r in TOY_ROWS]


def test_batches_and_role_reach_the_detector():
    det = FakeDetector()
    result = evaluate(det, ROWS, batch_size=3, progress=False, role="output")
    assert det.calls == [(3, "output"), (3, "output"), (2, "output")]
    assert len(result.predictions) == len(ROWS)
    assert result.name == "toy"
    assert all(p.latency_ms >= 0 for p in result.predictions)


def test_binary_metrics_from_verdicts():
    result = evaluate(FakeDetector(), ROWS, progress=False)
    b = result.binary
    # Flagged: toy-1, toy-2 (false positive "kill"), toy-3, toy-6, toy-7. Missed: toy-4 (misinformation).
    assert (b["tp"], b["fp"], b["tn"], b["fn"]) == (4, 1, 2, 1)
    assert b["precision"] == pytest.approx(0.8)
    assert b["recall"] == pytest.approx(0.8)
    assert b["fpr"] == pytest.approx(1 / 3)
    assert 0 < b["auprc"] <= 1


def test_per_category_uses_known_labels_and_parent_rollup():
    result = evaluate(FakeDetector(), ROWS, progress=False)
    assert list(result.per_category) == ["hate", "sexual", "sexual/minors", "violence"]
    sexual = result.per_category["sexual"]
    # The detector only turns on sexual/minors; it counts for sexual. toy-4 (flagged, no category) is excluded.
    assert (sexual["tp"], sexual["fp"], sexual["fn"], sexual["n"]) == (1, 0, 0, 7)
    violence = result.per_category["violence"]
    assert (violence["tp"], violence["fp"], violence["fn"]) == (2, 1, 0)


def test_per_language():
    result = evaluate(FakeDetector(), ROWS, progress=False)
    assert list(result.per_language) == ["en", "vi"]
    vi = result.per_language["vi"]
    assert (vi["n"], vi["tp"], vi["tn"]) == (2, 1, 1)


def test_result_dict_is_strict_json():
    result = evaluate(FakeDetector(), ROWS, progress=False)
    doc = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert set(doc) >= {"name", "rows", "binary", "per_category", "per_language", "latency_ms"}
    assert set(doc["latency_ms"]) == {"p50", "p95", "mean"}


def test_worst_errors():
    result = evaluate(FakeDetector(), ROWS, progress=False)
    assert [e.id for e in result.worst_false_positives()] == ["toy-2"]
    assert [e.id for e in result.worst_false_negatives()] == ["toy-4"]
    assert result.worst_false_positives(0) == []


def test_empty_rows_give_undefined_metrics():
    result = evaluate(FakeDetector(), [], progress=False, name="empty")
    assert result.binary["n"] == 0 and result.binary["f1"] is None
    assert result.latency_ms["p50"] is None


def test_progress_bar_does_not_break_a_run():
    assert len(evaluate(FakeDetector(), ROWS, progress=True).predictions) == len(ROWS)


def test_scorer_through_the_same_metrics():
    seen = []

    def scorer(text: str) -> tuple[bool, float]:
        seen.append(text)
        return ("kill" in text, 0.9 if "kill" in text else 0.1)

    result = evaluate_scorer(scorer, ROWS, progress=False, name="baseline")
    assert seen == [r.text for r in ROWS]
    assert result.name == "baseline"
    assert (result.binary["tp"], result.binary["fp"]) == (2, 1)
    assert result.per_category == {}  # a scorer gives no categories
    assert set(result.per_language) == {"en", "vi"}


def test_batched_scorer():
    calls = []

    def scorer(texts: list[str]) -> list[tuple[bool, float]]:
        calls.append(len(texts))
        return [(False, 0.0) for _ in texts]

    result = evaluate_scorer(scorer, ROWS, batched=True, batch_size=5, progress=False)
    assert calls == [5, 3]
    assert result.binary["recall"] == 0.0


def test_scorer_returning_the_wrong_count_is_an_error():
    with pytest.raises(ValueError, match="1 results for 2 texts"):
        evaluate_scorer(lambda texts: [(True, 1.0)], ROWS[:2], batched=True, progress=False)


def test_rows_of_several_datasets_are_named_together():
    rows = [row("a-1", "kill", True, ["violence"], dataset="a"), row("b-1", "hi", False, dataset="b")]
    assert evaluate(FakeDetector(), rows, progress=False).name == "a+b"
