"""Nearest-exemplar similarity per category (NeMo-style intent matching, but scored).

Every exemplar of the policy is embedded once per encoder. A text's similarity to a category is the mean of
its top-2 cosine similarities to that category's exemplars; its similarity to the benign look-alikes works as
counter-evidence. These similarities are also features of the trained classifier, which learns how far to trust
them; on their own (categories without a trained head, e.g. a user's custom category) they are mapped to a score
by a per-encoder band, because the two encoders' cosines live on different scales (e5's are compressed high).
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass

import numpy as np

from safewatch.detect.base import LayerScores, Prepared
from safewatch.detect.embed import EXEMPLAR_LANGUAGES, EncoderPool
from safewatch.paths import model_cache_dir
from safewatch.policy import Policy
from safewatch.verdict import Match

# (similarity at which the score starts to rise, similarity at which it reaches 1) per encoder.
SCORE_BAND = {"minilm": (0.40, 0.70), "e5": (0.88, 0.95), "use": (0.40, 0.70)}
# How fast a closer benign look-alike cancels the score: zero once the benign exemplar is 1/scale closer.
# e5's cosines are compressed into a narrow band, so its margins are several times smaller than MiniLM's.
# USE's cosines spread like MiniLM's (reference/offline-models.md: the same pairs score within 0.03), so it
# takes MiniLM's band and scale.
BENIGN_MARGIN_SCALE = {"minilm": 10.0, "e5": 40.0, "use": 10.0}
TOP_K = 2


@dataclass
class ExemplarIndex:
    categories: list[str]
    # (n_exemplars, dim) matrix and, for each row, the index of its category in `categories`.
    matrix: np.ndarray
    owner: np.ndarray
    texts: list[str]
    benign: np.ndarray
    # (n_categories, max exemplars per category) column indexes into `matrix`, padded with len(matrix): one
    # gather gives every category's similarities at once.
    gather: np.ndarray

    def __post_init__(self) -> None:
        # Exemplars and benign look-alikes in one matrix: one product per batch instead of two.
        self.both = np.vstack([self.matrix, self.benign]).astype(np.float32)
        counts = (self.gather < len(self.matrix)).sum(axis=1)  # exemplars per category
        self.has = counts > 0
        self.top_k_divisor = np.clip(np.minimum(counts, TOP_K), 1, None).astype(np.float32)


def _exemplars_for(policy: Policy, encoder: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Each encoder gets the exemplars in the languages it understands (e5: every language)."""
    langs = EXEMPLAR_LANGUAGES.get(encoder)
    pairs: list[tuple[str, str]] = []
    for category, cat in policy.enabled_categories().items():
        for lang, texts in cat.exemplars.items():
            if langs is None or lang in langs:
                pairs.extend((category, t) for t in texts)
    benign = [t for lang, ts in policy.benign_exemplars.items() if langs is None or lang in langs for t in ts]
    return pairs, benign


class SemanticLayer:
    name = "semantic"

    def __init__(self, policy: Policy, encoders: EncoderPool) -> None:
        self.policy = policy
        self.encoders = encoders
        self.categories = list(policy.enabled_categories())
        self._indexes: dict[str, ExemplarIndex] = {}
        self._lock = threading.Lock()

    def index(self, encoder: str) -> ExemplarIndex:
        idx = self._indexes.get(encoder)
        if idx is None:
            with self._lock:
                idx = self._indexes.get(encoder)
                if idx is None:
                    idx = self._indexes[encoder] = self._build(encoder)
        return idx

    def _build(self, encoder: str) -> ExemplarIndex:
        pairs, benign = _exemplars_for(self.policy, encoder)
        texts = [t for _, t in pairs]
        vectors = self._embed_cached(encoder, texts + benign)
        matrix, benign_m = vectors[: len(texts)], vectors[len(texts) :]
        owner = np.asarray([self.categories.index(c) for c, _ in pairs], dtype=np.int64)
        cols = [np.flatnonzero(owner == c) for c in range(len(self.categories))]
        width = max((len(c) for c in cols), default=0) or 1
        gather = np.full((len(self.categories), width), len(texts), dtype=np.int64)
        for c, idx in enumerate(cols):
            gather[c, : len(idx)] = idx
        return ExemplarIndex(self.categories, matrix, owner, texts, benign_m, gather)

    def _embed_cached(self, encoder: str, texts: list[str]) -> np.ndarray:
        """Exemplar embeddings, kept on disk by content: every server start would otherwise re-embed thousands
        of exemplars (seconds with e5)."""
        enc = self.encoders.get(encoder)
        if not texts:
            return np.zeros((0, enc.dim), np.float32)
        # Keyed by the exact model as well as the texts: a rebuilt encoder must not read the old one's vectors.
        digest = hashlib.sha256("\x1f".join([enc.model_id, *texts]).encode()).hexdigest()[:20]
        path = model_cache_dir() / f"exemplars-{encoder}-{digest}.npy"
        if path.exists():
            try:
                cached = np.load(path)
                if cached.shape == (len(texts), enc.dim):
                    return cached
            except (OSError, ValueError):
                pass  # a damaged cache file is rebuilt below
        vectors = enc.encode(texts)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, vectors)
        os.replace(tmp, path)
        return vectors

    def similarities_for(self, batch: list[Prepared], encoder: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`similarities` for prepared texts, computed once per text and kept on it: the semantic layer and the
        classifier (whose features include them) both need them."""
        if all(p.similarities is not None for p in batch):
            return tuple(np.stack([p.similarities[i] for p in batch]) for i in range(3))  # type: ignore[return-value]
        per_cat, best, benign = self.similarities(np.stack([p.embedding for p in batch]), encoder)
        for j, p in enumerate(batch):
            p.similarities = (per_cat[j], best[j], benign[j])
        return per_cat, best, benign

    def similarities(self, embeddings: np.ndarray, encoder: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per text: top-k mean similarity per category (n, n_categories), the best exemplar per category
        (n, n_categories; -1 when none), and the best benign similarity (n,)."""
        idx = self.index(encoder)
        n, k, m = len(embeddings), len(idx.categories), len(idx.matrix)
        per_cat = np.full((n, k), -1.0, dtype=np.float32)
        best = np.full((n, k), -1, dtype=np.int64)
        if not n:
            return per_cat, best, np.full(0, -1.0, np.float32)
        both = embeddings @ idx.both.T
        if m:
            # Column m (the padding index) becomes -inf: a padded slot never makes a category's top-k.
            padded = both[:, : m + 1].copy() if len(idx.benign) else np.hstack([both, np.zeros((n, 1), np.float32)])
            padded[:, m] = -np.inf
            grouped = padded[:, idx.gather]  # (n, k, width)
            top = np.sort(grouped, axis=2)[:, :, -TOP_K:]
            usable = np.where(np.isfinite(top), top, 0.0).sum(axis=2) / idx.top_k_divisor
            per_cat[:, idx.has] = usable[:, idx.has]
            arg = np.argmax(grouped, axis=2)
            best[:, idx.has] = idx.gather[np.arange(k)[None, :], arg][:, idx.has]
        benign = both[:, m:].max(axis=1) if len(idx.benign) else np.full(n, -1.0, np.float32)
        return per_cat, best, benign

    def score(self, batch: list[Prepared]) -> list[LayerScores]:
        out = [LayerScores() for _ in batch]
        by_encoder: dict[str, list[int]] = {}
        for i, p in enumerate(batch):
            if p.embedding is not None:
                by_encoder.setdefault(p.encoder, []).append(i)
        for encoder, rows in by_encoder.items():
            per_cat, best, benign = self.similarities_for([batch[i] for i in rows], encoder)
            lo, hi = SCORE_BAND[encoder]
            idx = self.index(encoder)
            sims, benigns = per_cat.tolist(), benign.tolist()  # plain floats: this loop runs per category
            for j, i in enumerate(rows):
                for c, category in enumerate(idx.categories):
                    sim = sims[j][c]
                    # A benign look-alike closer than the category's exemplars pulls the score down.
                    margin = sim - benigns[j]
                    score = min(max((sim - lo) / (hi - lo), 0.0), 1.0)
                    if margin < 0:
                        score *= max(0.0, 1.0 + margin * BENIGN_MARGIN_SCALE[encoder])
                    if score > 0.05:
                        out[i].bump(category, round(score, 4))
                    if score >= 0.5 and best[j, c] >= 0:
                        out[i].matches.append(Match(layer=self.name, category=category, score=round(sim, 4),
                                                    text=idx.texts[best[j, c]]))
        return out
