"""A lexical toxicity signal: alt-profanity-check's model, re-run in a few microseconds.

Sentence embeddings blur the words that carry offence (a slur and a neutral word for the same group sit close
together), while a word-level model trained on ~200k labelled comments sees exactly them. The `alt-profanity-check`
package ships such a model (TF-IDF over unigrams, five sigmoid-calibrated linear SVMs), but its scikit-learn
pipeline costs ~9 ms for one text. Its arithmetic is small: this module copies the vocabulary, idf weights and the
five (coef, intercept, a, b) out of the package once into the model cache and computes the same probability
(equal to 1e-6) with a dictionary lookup per word. The English classifier head reads it as one more feature.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from pathlib import Path

import numpy as np

from safewatch.paths import file_digest, model_cache_dir

log = logging.getLogger(__name__)

_BUILD_LOCK = threading.Lock()
# The vectorizer's token_pattern and lowercase=True.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _package_data() -> Path:
    from importlib.resources import files

    return Path(str(files("profanity_check") / "data"))


def lexical_model_path() -> Path:
    source = _package_data() / "model.joblib"
    target = model_cache_dir() / f"profanity-{file_digest(source)}.npz"
    if not target.exists():
        with _BUILD_LOCK:
            if not target.exists():
                _extract(target)
    return target


def _extract(target: Path) -> None:
    """Copy the fitted numbers out of the package's pickles (scikit-learn and joblib are needed here only)."""
    import joblib

    log.info("extracting alt-profanity-check's model (once) -> %s", target)
    data = _package_data()
    vectorizer = joblib.load(data / "vectorizer.joblib")
    model = joblib.load(data / "model.joblib")
    if model.method != "sigmoid" or list(model.classes_) != [0, 1]:
        raise RuntimeError("unexpected alt-profanity-check model: expected sigmoid calibration of classes 0/1")
    vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    folds = model.calibrated_classifiers_
    tmp = target.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(
        tmp,
        vocabulary=np.asarray(vocabulary),
        idf=vectorizer.idf_.astype(np.float64),
        coef=np.stack([f.estimator.coef_[0] for f in folds]).astype(np.float64),
        intercept=np.asarray([f.estimator.intercept_[0] for f in folds], dtype=np.float64),
        a=np.asarray([f.calibrators[0].a_ for f in folds], dtype=np.float64),
        b=np.asarray([f.calibrators[0].b_ for f in folds], dtype=np.float64),
    )
    os.replace(tmp, target)


class LexicalToxicity:
    """Probability that a text is offensive, from its words alone (English)."""

    def __init__(self, path: Path | None = None) -> None:
        with np.load(path or lexical_model_path(), allow_pickle=False) as z:
            self._index = {w: i for i, w in enumerate(z["vocabulary"].tolist())}
            self._idf = z["idf"]
            # Per vocabulary word, each fold's weight times its idf: a text's decision values are then a sum
            # over its words, normalized once.
            self._weights = (z["coef"] * z["idf"]).T.copy()  # (vocabulary, folds)
            self._intercept, self._a, self._b = z["intercept"], z["a"], z["b"]

    def score(self, texts: list[str]) -> np.ndarray:
        out = np.empty(len(texts), dtype=np.float32)
        for n, text in enumerate(texts):
            counts: dict[int, int] = {}
            for token in _TOKEN.findall(text.lower()):
                i = self._index.get(token)
                if i is not None:
                    counts[i] = counts.get(i, 0) + 1
            if counts:
                rows = np.fromiter(counts, dtype=np.int64, count=len(counts))
                tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
                norm = np.sqrt(((tf * self._idf[rows]) ** 2).sum())
                decision = (tf[:, None] * self._weights[rows]).sum(axis=0) / norm + self._intercept
            else:
                decision = self._intercept
            out[n] = float(np.mean(1.0 / (1.0 + np.exp(self._a * decision + self._b))))
        return out


@functools.cache
def shared_lexical() -> LexicalToxicity:
    """One model per process (two threads racing here at start-up may each load it once: harmless)."""
    return LexicalToxicity()
