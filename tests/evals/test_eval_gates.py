import pytest
from evalfakes import TOY_ROWS, FakeDetector

from safewatch.evals.datasets import EvalRow
from safewatch.evals.gates import Gate, GateError, check_gates, shorthand_gates
from safewatch.evals.runner import evaluate

ROWS = [EvalRow(**{**r, "source_label": {}, "dataset": "toy"}) for r in TOY_ROWS]


@pytest.fixture(scope="module")
def result():
    return evaluate(FakeDetector(), ROWS, progress=False)


def test_parse():
    assert Gate.parse("f1>=0.8") == Gate(metric="f1", op=">=", threshold=0.8)
    assert Gate.parse(" xstest : fpr <= .1") == Gate(metric="fpr", op="<=", threshold=0.1, dataset="xstest")
    g = Gate.parse("openai-moderation:self-harm.recall>=0.6")
    assert (g.dataset, g.category, g.metric) == ("openai-moderation", "self-harm", "recall")
    assert str(g) == "openai-moderation:self-harm.recall>=0.6"
    assert Gate.parse("sexual/minors.f1>0.5").category == "sexual/minors"


@pytest.mark.parametrize("text", ["f1", "f1=0.8", "speed>=1", "f1>=high", ""])
def test_parse_errors(text):
    with pytest.raises(GateError):
        Gate.parse(text)


def test_shorthand():
    gates = shorthand_gates(min_f1=0.8, max_fpr=0.1)
    assert [str(g) for g in gates] == ["f1>=0.8", "fpr<=0.1"]


def test_pass_fail_and_skip(result):
    # precision 0.8, recall 0.8, fpr 1/3 (see test_runner)
    outcomes = check_gates([Gate.parse("f1>=0.8"), Gate.parse("fpr<=0.1"), Gate.parse("bias.recall>=0.5")], [result])
    assert [o.passed for o in outcomes] == [True, False, None]
    assert "FAILS" in outcomes[1].message and "skipped" in outcomes[2].message


def test_category_gate(result):
    (o,) = check_gates([Gate.parse("toy:violence.recall>=1")], [result])
    assert o.passed is True and o.value == 1.0


def test_gate_on_unknown_dataset(result):
    with pytest.raises(GateError, match="other"):
        check_gates([Gate.parse("other:f1>=0.5")], [result])
