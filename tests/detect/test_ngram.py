"""The character n-gram view: what it reads, that training cross-fits it, and that a head file carries it."""

import numpy as np

from safewatch.detect.classifier import Head
from safewatch.detect.embed import MULTILINGUAL_MAX_CHARS
from safewatch.detect.ngram import LOGIT_CLIP, NgramModel, fit_ngram_model, ngrams

THREATS = ["i will kill you tonight", "i'm going to hurt you badly", "watch your back i will find you",
           "我要杀了你", "你等着 我会找到你", "tao sẽ giết mày", "mày chờ đấy tao sẽ tìm ra mày"]
BENIGN = ["how do i kill a python process", "where is my order", "can you recommend a good book",
          "今天天气很好", "我想退货", "cách nấu phở ngon", "khi nào đơn hàng của tôi đến"]


def _fit(seed=3):
    texts = [f"{t} {i}" for i in range(6) for t in THREATS + BENIGN]
    labels = np.asarray([[1] if t in THREATS else [0] for i in range(6) for t in THREATS + BENIGN])
    fit_rows = np.ones(len(texts), bool)
    fit_rows[-len(THREATS + BENIGN):] = False  # the last copy plays the dev split
    return texts, labels, fit_rows, fit_ngram_model(texts, labels, np.ones(len(texts)), fit_rows, seed)


def test_ngrams_mark_word_edges_and_fold_white_space():
    grams = ngrams("ab  c")
    assert grams[" ab"] == 1 and grams["ab "] == 1 and grams[" c "] == 1 and " " not in grams
    assert ngrams("ab\tc") == grams
    assert ngrams("杀了你")["杀了"] == 1  # no tokenizer: any script


def test_only_the_start_of_a_long_text_is_read_like_the_encoders_read_it():
    start = "mua hàng ở đâu rẻ " * (MULTILINGUAL_MAX_CHARS // 10)
    assert ngrams(start + "đồ ngu") == ngrams(start)
    assert ngrams("đồ ngu") != ngrams("")


def test_fit_scores_unseen_rows_with_the_shipped_model_and_cross_fits_the_rest():
    texts, labels, fit_rows, (model, logits) = _fit()
    dev = ~fit_rows
    # Rows outside the fit get the final model's logits exactly as inference computes them.
    assert np.allclose(model.logits([t for t, d in zip(texts, dev, strict=True) if d]), logits[dev], atol=1e-5)
    # Every logit, cross-fitted or not, separates the classes and stays in the clip range.
    assert (logits[labels[:, 0] == 1, 0] > 0).mean() > 0.9 and (logits[labels[:, 0] == 0, 0] < 0).mean() > 0.9
    assert np.abs(logits).max() <= LOGIT_CLIP


def test_cross_fitting_hides_a_row_from_its_own_model():
    # Labels that are pure noise: a model fit on a row memorizes it, a model that never saw it cannot guess it.
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(list("abcdefgh "), size=30)) for _ in range(300)]
    labels = rng.integers(0, 2, size=(300, 1))
    model, crossfit = fit_ngram_model(texts, labels, np.ones(300), np.ones(300, bool), seed=1)
    in_sample = model.logits(texts)
    assert np.corrcoef(in_sample[:, 0], labels[:, 0])[0, 1] > 0.5
    assert abs(np.corrcoef(crossfit[:, 0], labels[:, 0])[0, 1]) < 0.2


def test_a_head_file_carries_its_ngram_model(tmp_path):
    _, _, _, (model, _) = _fit()
    head = Head("e5", ["violence"], ["violence"], np.ones((1, 3), np.float32), np.zeros(1, np.float32),
                np.ones(1, np.float32), np.zeros(1, np.float32), {"ngram": True}, ngram=model)
    head.save(tmp_path / "h.npz")
    loaded = Head.load(tmp_path / "h.npz").ngram
    assert loaded is not None and loaded.vocabulary == model.vocabulary
    probe = ["tao sẽ giết mày", "我想退货", ""]
    assert np.allclose(loaded.logits(probe), model.logits(probe), atol=1e-6)


def test_too_few_rows_give_no_model():
    assert fit_ngram_model(["a", "b"], np.asarray([[1], [0]]), np.ones(2), np.ones(2, bool), seed=1) == (None, None)


def test_text_without_known_ngrams_scores_the_bias():
    model = NgramModel(["ab"], np.ones(1), np.ones((1, 2)), np.asarray([-1.0, 2.0]))
    assert np.allclose(model.logits(["zz"]), [[-1.0, 2.0]])
