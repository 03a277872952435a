"""A character n-gram view of a text, stacked under the classifier heads.

A sentence embedding is a summary: it places "how do I cook meth" near "how do I cook rice" and hears little of
a slur, a misspelt drug name or a Chinese insult the encoder never learnt. Character n-grams (1 to 4 characters,
word-boundary spaces included) see exactly those strings, in any script, with no tokenizer. Per head, `safewatch
train` fits one TF-IDF logistic regression per category on the head's own training rows, and the head reads
their logits as features beside the embedding (cross-fitted in training, so the head learns how far to trust
them on text they did not see).

The text read is `Prepared.stripped` (normalized, diacritics removed): Vietnamese typed with or without accents
gives the same n-grams. Inference is a dictionary lookup per n-gram and one small sparse-times-dense product.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from safewatch.detect.embed import MULTILINGUAL_MAX_CHARS

NGRAM_SIZES = (1, 2, 3, 4)
# The n-grams kept: the most frequent (by document frequency) in the head's training rows, seen in at least
# MIN_DOCUMENTS of them. 40k covers the discriminative strings of every category without making the head files
# large (float16 weights: ~1.3 MB per head).
VOCABULARY_SIZE = 40_000
MIN_DOCUMENTS = 3
# Inverse regularization of each category's logistic regression: set once (not searched); the head's own
# calibration absorbs the scale of the logits.
REGULARIZATION_C = 4.0
# The logits a head reads are clipped: a long text full of one category's n-grams should not dominate the
# standardized feature.
LOGIT_CLIP = 8.0


def ngrams(text: str) -> Counter[str]:
    """Counts of the character n-grams of `text`, with runs of white space folded to one space and a space at
    each end so that word starts and ends are n-grams of their own.

    Only the first MULTILINGUAL_MAX_CHARS characters are read, as the encoders beside it do: the cost stays
    bounded (the whole of a 32k-character text took ~32 ms) and the two views describe the same text."""
    padded = " " + " ".join(text[:MULTILINGUAL_MAX_CHARS].split()) + " "
    counts: Counter[str] = Counter()
    for n in NGRAM_SIZES:
        counts.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    counts.pop(" ", None)
    return counts


@dataclass
class NgramModel:
    """TF-IDF (sublinear tf, L2-normalized) over a fixed vocabulary, then a linear logit per category."""

    vocabulary: list[str]
    idf: np.ndarray  # (V,)
    weights: np.ndarray  # (V, n_categories)
    bias: np.ndarray  # (n_categories,)

    def __post_init__(self) -> None:
        self._index = {g: i for i, g in enumerate(self.vocabulary)}
        self._weights = np.asarray(self.weights, dtype=np.float64)  # converted once: a call reads a few rows

    def _row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The vocabulary indices of `text`'s n-grams and their L2-normalized TF-IDF values."""
        row = {}
        for gram, count in ngrams(text).items():
            i = self._index.get(gram)
            if i is not None:
                row[i] = (1.0 + math.log(count)) * self.idf[i]
        idx = np.fromiter(row.keys(), dtype=np.int64, count=len(row))
        values = np.fromiter(row.values(), dtype=np.float64, count=len(row))
        if len(row):
            values /= math.sqrt(float(values @ values))
        return idx, values

    def tfidf(self, texts: list[str]):
        """(n, V) sparse TF-IDF matrix of `texts` (training reads many rows at once)."""
        from scipy.sparse import csr_matrix

        rows = [self._row(t) for t in texts]
        indptr = np.cumsum([0] + [len(idx) for idx, _ in rows])
        indices = np.concatenate([idx for idx, _ in rows]) if rows else np.zeros(0, np.int64)
        values = np.concatenate([v for _, v in rows]) if rows else np.zeros(0)
        return csr_matrix((values, indices, indptr), shape=(len(texts), len(self.vocabulary)))

    def logits(self, texts: list[str]) -> np.ndarray:
        """(n, n_categories) clipped logits, float32: per text, its few weight rows summed (no sparse matrix,
        whose set-up costs more than the arithmetic for one message)."""
        out = np.empty((len(texts), len(self.bias)), dtype=np.float64)
        for n, text in enumerate(texts):
            idx, values = self._row(text)
            out[n] = values @ self._weights[idx] + self.bias
        return np.clip(out, -LOGIT_CLIP, LOGIT_CLIP).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays a head file stores (weights in float16: the logit they give moves by < 1e-3)."""
        return {"ngram_vocabulary": np.asarray(self.vocabulary), "ngram_idf": self.idf.astype(np.float32),
                "ngram_weights": self.weights.astype(np.float16), "ngram_bias": self.bias.astype(np.float32)}

    @classmethod
    def from_arrays(cls, z) -> NgramModel | None:
        if "ngram_vocabulary" not in z.files:
            return None
        return cls(z["ngram_vocabulary"].tolist(), z["ngram_idf"].astype(np.float64), z["ngram_weights"],
                   z["ngram_bias"].astype(np.float64))


def build_vocabulary(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The kept n-grams (by document frequency, ties by the string: deterministic) and their smoothed idf."""
    documents: Counter[str] = Counter()
    for text in texts:
        documents.update(ngrams(text).keys())
    kept = sorted((g for g, d in documents.items() if d >= MIN_DOCUMENTS), key=lambda g: (-documents[g], g))
    vocabulary = kept[:VOCABULARY_SIZE]
    n = len(texts)
    idf = np.asarray([math.log((1 + n) / (1 + documents[g])) + 1.0 for g in vocabulary], dtype=np.float32)
    return vocabulary, idf.astype(np.float64)  # float32 values: what the head file stores


def _fit_category(x, y: np.ndarray, sample_weight: np.ndarray, rows: np.ndarray, seed: int):
    """One category's logistic regression on `rows`; None when they hold one class only."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y[rows])) < 2:
        return None
    model = LogisticRegression(C=REGULARIZATION_C, solver="liblinear", class_weight="balanced",
                               random_state=seed, max_iter=200)
    return model.fit(x[rows], y[rows], sample_weight=sample_weight[rows])


def fit_ngram_model(texts: list[str], labels: np.ndarray, sample_weight: np.ndarray, fit_rows: np.ndarray,
                    seed: int, folds: int = 4, progress=None) -> tuple[NgramModel | None, np.ndarray | None]:
    """Fit the model on `fit_rows` and return it with the logits a head should train on: cross-fitted
    (`folds`-fold) for the fit rows, from the full model for every other row.

    `labels` is (n, n_categories) with 1 positive, 0 negative, -1 unknown (left out of that category's fit).
    The vocabulary and idf come from the fit rows (no labels involved), shared by the fold models. With no
    n-gram frequent enough to keep (a handful of rows), there is no model: (None, None).
    """
    vocabulary, idf = build_vocabulary([t for t, keep in zip(texts, fit_rows, strict=True) if keep])
    if not vocabulary:
        return None, None
    skeleton = NgramModel(vocabulary, idf, np.zeros((len(vocabulary), labels.shape[1])), np.zeros(labels.shape[1]))
    x = skeleton.tfidf(texts)
    fit_idx = np.flatnonzero(fit_rows)
    fold_of = np.arange(len(fit_idx)) % folds
    np.random.default_rng(seed).shuffle(fold_of)
    out = np.zeros(labels.shape, dtype=np.float64)
    weights = np.zeros((len(vocabulary), labels.shape[1]))
    bias = np.zeros(labels.shape[1])
    task = progress.add_task("fitting n-gram models", total=labels.shape[1] * (folds + 1)) if progress else None
    for k in range(labels.shape[1]):
        known = labels[:, k] >= 0
        for f in range(folds):
            held = fit_idx[fold_of == f]
            model = _fit_category(x, labels[:, k], sample_weight, fit_idx[(fold_of != f) & known[fit_idx]], seed)
            if model is not None:
                out[held, k] = model.decision_function(x[held])
            if progress:
                progress.advance(task)
        model = _fit_category(x, labels[:, k], sample_weight, fit_idx[known[fit_idx]], seed)
        if model is not None:
            weights[:, k], bias[k] = model.coef_[0], model.intercept_[0]
        if progress:
            progress.advance(task)
    # As stored (see `arrays`): the logits of the rows the head calibrates on are the shipped model's.
    weights = weights.astype(np.float16).astype(np.float64)
    bias = bias.astype(np.float32).astype(np.float64)
    full = NgramModel(vocabulary, idf, weights, bias)
    others = np.flatnonzero(~fit_rows)
    if len(others):
        out[others] = x[others] @ weights + bias
    return full, np.clip(out, -LOGIT_CLIP, LOGIT_CLIP).astype(np.float32)
