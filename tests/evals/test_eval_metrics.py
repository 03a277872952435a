import json

import pytest

from safewatch.evals.metrics import (
    Confusion,
    average_precision,
    binary_metrics,
    category_on,
    category_score,
    f1,
    fpr,
    latency_summary,
    percentile,
    pr_curve,
    precision,
    recall,
)

# Hand-computed: TP = rows 0 and 4, FP = row 2, TN = row 3, FN = row 1.
Y_TRUE = [True, True, False, False, True]
Y_PRED = [True, False, True, False, True]
SCORES = [0.9, 0.4, 0.6, 0.1, 0.8]


def test_confusion_counts():
    c = Confusion.from_labels(Y_TRUE, Y_PRED)
    assert (c.tp, c.fp, c.tn, c.fn) == (2, 1, 1, 1)
    assert (c.positives, c.negatives, c.total) == (3, 2, 5)


def test_rates_on_a_hand_computed_case():
    c = Confusion.from_labels(Y_TRUE, Y_PRED)
    assert precision(c) == pytest.approx(2 / 3)
    assert recall(c) == pytest.approx(2 / 3)
    assert f1(c) == pytest.approx(2 / 3)
    assert fpr(c) == pytest.approx(1 / 2)


def test_average_precision_by_hand():
    # Ranked by score: +, +, -, +, -  -> precision at each positive: 1, 1, 3/4 -> mean 11/12.
    assert average_precision(Y_TRUE, SCORES) == pytest.approx(11 / 12)


def test_perfect_ranking_has_auprc_one():
    assert average_precision([True, False, True], [0.9, 0.1, 0.8]) == pytest.approx(1.0)


def test_pr_curve_points():
    curve = pr_curve(Y_TRUE, SCORES)
    assert curve is not None
    assert curve.recall[0] == pytest.approx(1.0) and curve.recall[-1] == 0.0
    assert curve.precision[-1] == 1.0
    assert len(curve.precision) == len(curve.recall) == len(curve.thresholds) + 1


def test_no_positives_gives_none_not_nan():
    m = binary_metrics([False, False, False], [True, False, False], [0.7, 0.2, 0.1])
    assert m["recall"] is None and m["f1"] is None and m["auprc"] is None
    assert m["fpr"] == pytest.approx(1 / 3)
    assert m["precision"] == 0.0
    json.dumps(m, allow_nan=False)


def test_no_negatives_gives_no_fpr_and_no_auprc():
    m = binary_metrics([True, True], [True, False], [0.9, 0.3])
    assert m["fpr"] is None and m["auprc"] is None
    assert m["recall"] == 0.5 and m["precision"] == 1.0


def test_nothing_predicted_keeps_f1_defined():
    m = binary_metrics([True, False], [False, False], [0.1, 0.2])
    assert m["precision"] is None
    assert m["recall"] == 0.0 and m["f1"] == 0.0


def test_empty_input():
    m = binary_metrics([], [], [])
    assert m["n"] == 0
    assert all(m[k] is None for k in ("precision", "recall", "f1", "fpr", "auprc", "accuracy"))
    assert pr_curve([], []) is None
    assert latency_summary([]) == {"p50": None, "p95": None, "mean": None}


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        Confusion.from_labels([True], [True, False])
    with pytest.raises(ValueError):
        average_precision([True, False], [0.5])


def test_percentiles():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert latency_summary([2.0, 4.0])["mean"] == 3.0


def test_sub_category_counts_for_its_parent():
    cats = {"sexual": False, "sexual/minors": True, "violence": False}
    assert category_on(cats, "sexual")
    assert category_on(cats, "sexual/minors")
    assert not category_on(cats, "violence")
    assert not category_on({"sexual": True}, "sexual/minors")


def test_category_score_is_max_over_sub_categories():
    scores = {"self-harm": 0.2, "self-harm/intent": 0.7, "self-harm/instructions": 0.4, "violence": 0.9}
    assert category_score(scores, "self-harm") == 0.7
    assert category_score(scores, "hate") == 0.0
