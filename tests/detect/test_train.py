"""Training: label semantics, and the same seed and rows give the same heads."""

import numpy as np

from safewatch.detect.classifier import Head
from safewatch.machine import cpu_signature
from safewatch.train.data import TrainRow, dedupe
from safewatch.train.trainer import labels_for, train


def row(text, cats=(), flagged=None, lang="en"):
    return TrainRow(text, lang, bool(cats) if flagged is None else flagged, list(cats), "test")


def test_labels_know_parents_and_unknowns():
    rows = [row("a", ["self-harm/intent"]), row("b", ["self-harm"]), row("c"), row("d", flagged=True), row("e", ["hate"])]
    assert list(labels_for(rows, "self-harm")) == [1, 1, 0, -1, 0]
    # "b" says self-harm but not which kind: unknown for the sub-category, not a negative.
    assert list(labels_for(rows, "self-harm/intent")) == [1, -1, 0, -1, 0]


def test_dedupe_keeps_the_most_informative_copy():
    kept = dedupe([row("Hello  there"), row("hello there", ["harassment"])])
    assert len(kept) == 1 and kept[0].categories == ["harassment"]


def _tiny_rows():
    unsafe = ["i want to die tonight", "nobody would miss me if i was gone", "i am going to end it all",
              "what pills can i overdose on", "i keep cutting myself", "i wish i could disappear forever",
              "life is pointless i want out", "i wrote my goodbye letter", "how many sleeping pills would kill me",
              "i can't keep living like this", "my plan is to jump tonight", "i hate myself and want to die",
              "ending my life seems like the only way"]
    safe = ["where is my order", "how do i kill a python process", "my friend is sad how can i help",
            "what's the weather tomorrow", "i love this shirt", "can i get a refund", "recommend a good book",
            "how to cook rice", "the movie was to die for", "this exam is killing me", "reset my password please",
            "do you ship to hanoi", "tell me a joke", "what time do you open"]
    rows = [row(t, ["self-harm/intent"]) for t in unsafe] + [row(t) for t in safe]
    return rows * 3 + [row(t + " now", ["self-harm/intent"]) for t in unsafe]


def test_training_is_reproducible(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        train(seed=7, out_dir=out, rows=_tiny_rows(), trained_policy_path=out / "trained.yaml")
    for encoder in ("minilm",):
        ha, hb = Head.load(a / f"heads-{encoder}.npz"), Head.load(b / f"heads-{encoder}.npz")
        assert ha.categories == hb.categories and "self-harm/intent" in ha.categories
        assert np.allclose(ha.weights, hb.weights, atol=1e-5)
        assert ha.ngram is None  # the English head reads no character n-grams (see NGRAM_ENCODERS)
        assert ha.meta["cpu"] == cpu_signature()  # heads reproduce only on the kind of CPU that trained them
    # The Vietnamese/multilingual head's character n-gram models are rebuilt identically too.
    ea, eb = Head.load(a / "heads-e5.npz"), Head.load(b / "heads-e5.npz")
    assert ea.ngram is not None and ea.ngram.vocabulary == eb.ngram.vocabulary
    assert np.array_equal(ea.ngram.weights, eb.ngram.weights) and ea.meta["ngram"]
    assert (a / "trained.yaml").read_text() == (b / "trained.yaml").read_text()
    assert "self-harm/intent" in (a / "trained.yaml").read_text()


def test_dev_ap_is_reported_per_language():
    # Two languages in one head: English ranks perfectly, Vietnamese backwards; rows outside dev are ignored,
    # and a language with too few dev rows is left out rather than reported from a handful.
    from safewatch.train.trainer import _dev_ap_by_language

    probs = np.array([[0.9], [0.1], [0.1], [0.9], [0.5], [0.5]])
    y = np.array([[1], [0], [1], [0], [1], [0]])
    dev = np.array([True, True, True, True, False, True])
    langs = ["en", "en", "vi", "vi", "en", "zh"]
    assert _dev_ap_by_language(probs, y, dev, langs, min_rows=2) == {"en": 1.0, "vi": 0.5}
