"""Trained multi-label heads over sentence embeddings and exemplar similarities.

One head per encoder (`heads-minilm.npz`, `heads-e5.npz`, `heads-use.npz`), built by `safewatch train` and shipped
as package data. A head reads [embedding ⊕ similarity to each category's exemplars ⊕ similarity to the benign
look-alikes (⊕ for English, the lexical toxicity of the words: `lexical.py`; ⊕ for the e5 and USE heads, their
character n-gram models' logits: `ngram.py`)] through one shared hidden layer (ReLU) into one logit per category,
with Platt scaling per category fitted on a dev split so its output is a probability. A head without the hidden
layer is a per-category logistic regression.
Inference is two matrix products in numpy: no torch or scikit-learn at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safewatch.detect.base import LayerScores, Prepared
from safewatch.detect.embed import ENCODERS
from safewatch.detect.ngram import NgramModel
from safewatch.detect.semantic import SemanticLayer
from safewatch.paths import DATA_DIR


@dataclass
class Head:
    encoder: str
    categories: list[str]
    sim_categories: list[str]  # the order of the similarity features at training time
    weights: np.ndarray  # (n_categories, n_features)
    bias: np.ndarray  # (n_categories,)
    platt_a: np.ndarray
    platt_b: np.ndarray
    meta: dict
    # The shared hidden layer, (n_hidden, n_features) and (n_hidden,), with the input standardization folded in;
    # None for a linear head, whose `weights` read the features directly.
    hidden_w: np.ndarray | None = None
    hidden_b: np.ndarray | None = None
    # The character n-gram models whose logits (one per category of this head) are features; None for a head
    # trained without them.
    ngram: NgramModel | None = None

    @classmethod
    def load(cls, path: Path) -> Head:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            hidden = "hidden_w" in z.files
            return cls(
                encoder=meta["encoder"], categories=meta["categories"], sim_categories=meta["sim_categories"],
                weights=z["weights"], bias=z["bias"], platt_a=z["platt_a"], platt_b=z["platt_b"], meta=meta,
                hidden_w=z["hidden_w"] if hidden else None, hidden_b=z["hidden_b"] if hidden else None,
                ngram=NgramModel.from_arrays(z),
            )

    def save(self, path: Path) -> None:
        meta = dict(self.meta, encoder=self.encoder, categories=self.categories, sim_categories=self.sim_categories)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Fixed dtypes and no timestamps in the file: the same training run yields the same bytes.
        arrays = {"weights": self.weights, "bias": self.bias, "platt_a": self.platt_a, "platt_b": self.platt_b}
        if self.hidden_w is not None:
            arrays.update(hidden_w=self.hidden_w, hidden_b=self.hidden_b)
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
        if self.ngram is not None:
            arrays.update(self.ngram.arrays())
        with open(path, "wb") as f:
            np.savez(f, **arrays, meta=np.asarray(json.dumps(meta, sort_keys=True)))

    def logits(self, features: np.ndarray) -> np.ndarray:
        """(n, n_categories) raw scores, before calibration."""
        if self.hidden_w is not None:
            features = np.maximum(features @ self.hidden_w.T + self.hidden_b, 0.0)
        return features @ self.weights.T + self.bias

    def calibrated(self, logits: np.ndarray) -> np.ndarray:
        """Probabilities from `logits` (n, n_categories) by each category's Platt scaling."""
        return 1.0 / (1.0 + np.exp(-np.clip(logits * self.platt_a + self.platt_b, -50, 50)))

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(n, n_categories) calibrated probabilities."""
        return self.calibrated(self.logits(features))


def head_path(encoder: str) -> Path:
    return DATA_DIR / f"heads-{encoder}.npz"


# Encoders whose heads also read the lexical toxicity score: its word model knows English only.
LEXICAL_ENCODERS = frozenset({"minilm"})
# Encoders whose heads read character n-gram logits. Not the English head: with them it gained on the dev split
# but lost on the English evaluation sets (openai-moderation AUPRC 0.686 -> 0.642, held-out recall 0.966 -> 0.954):
# English n-grams learn the training sets' wording. The Vietnamese and Chinese heads, whose encoders know far
# less of those languages' slang and insults, gained on held-out text (vi recall 0.874 -> 0.931, zh FPR 0.075 ->
# 0.057) and on ViHOS (F1 0.707 -> 0.755) and COLD (0.831 -> 0.848).
NGRAM_ENCODERS = frozenset({"e5", "use"})


def lexical_scores(normalized_texts: list[str]) -> np.ndarray:
    """The lexical feature, read from the normalized text (slang expanded, look-alikes folded) in training and
    at inference alike."""
    from safewatch.detect.lexical import shared_lexical

    return shared_lexical().score(normalized_texts)


def build_features(embeddings: np.ndarray, semantic: SemanticLayer, encoder: str, sim_categories: list[str],
                   similarities: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                   lexical: np.ndarray | None = None, ngram: np.ndarray | None = None) -> np.ndarray:
    """The feature matrix a head reads: the layout must match between training and inference."""
    per_cat, _, benign = similarities if similarities is not None else semantic.similarities(embeddings, encoder)
    current = {c: i for i, c in enumerate(semantic.index(encoder).categories)}
    sims = np.full((len(embeddings), len(sim_categories)), -1.0, dtype=np.float32)
    for j, c in enumerate(sim_categories):
        if c in current:
            sims[:, j] = per_cat[:, current[c]]
    columns = [embeddings, sims, benign[:, None]] + ([lexical[:, None]] if lexical is not None else [])
    columns += [ngram] if ngram is not None else []
    return np.hstack(columns).astype(np.float32)


class ClassifierLayer:
    name = "classifier"

    def __init__(self, semantic: SemanticLayer, heads: dict[str, Head] | None = None) -> None:
        self.semantic = semantic
        if heads is None:
            heads = {}
            for encoder in ENCODERS:
                path = head_path(encoder)
                if path.exists():
                    heads[encoder] = Head.load(path)
        self.heads = heads

    def covers(self, encoder: str) -> set[str]:
        head = self.heads.get(encoder)
        return set(head.categories) if head else set()

    def score(self, batch: list[Prepared]) -> list[LayerScores]:
        out = [LayerScores() for _ in batch]
        by_encoder: dict[str, list[int]] = {}
        for i, p in enumerate(batch):
            if p.embedding is not None and p.encoder in self.heads:
                by_encoder.setdefault(p.encoder, []).append(i)
        for encoder, rows in by_encoder.items():
            head = self.heads[encoder]
            sub = [batch[i] for i in rows]
            sims = self.semantic.similarities_for(sub, encoder)
            emb = np.stack([p.embedding for p in sub])
            lexical = lexical_scores([p.normalized for p in sub]) if head.meta.get("lexical") else None
            ngram = head.ngram.logits([p.stripped for p in sub]) if head.ngram is not None else None
            probs = head.predict(build_features(emb, self.semantic, encoder, head.sim_categories, sims, lexical, ngram))
            for j, i in enumerate(rows):
                out[i].scores = {c: round(float(probs[j, k]), 4) for k, c in enumerate(head.categories)}
        return out
