"""Fit, calibrate and threshold the classifier heads, reproducibly.

Per encoder (MiniLM for English; USE for Chinese and e5 for every other language, each plus an English
sample): for the e5 and USE heads first the character n-gram models (`detect/ngram.py`, cross-fitted), then one small
network over all categories (features → one hidden ReLU layer → a logit per category) trained on a seeded 85% of
the training rows, Platt scaling per category fitted on the other 15% (the dev split), and a
threshold per category chosen on the dev split's calibrated scores. Evaluation splits are never read (see
`train.data`). torch is used here only; inference is numpy.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from safewatch.detect.base import Prepared
from safewatch.detect.classifier import (
    LEXICAL_ENCODERS,
    NGRAM_ENCODERS,
    Head,
    build_features,
    head_path,
    lexical_scores,
)
from safewatch.detect.embed import ENCODERS, encoder_name_for
from safewatch.detect.ngram import fit_ngram_model
from safewatch.detect.normalize import prepare
from safewatch.evals.metrics import average_precision
from safewatch.machine import cpu_signature
from safewatch.paths import PACKAGE_DIR, model_cache_dir
from safewatch.policy import Policy, load_policy
from safewatch.taxonomy import PARENT
from safewatch.train.data import TrainRow, dedupe, load_corpus, load_public

TRAINED_POLICY = PACKAGE_DIR / "policy" / "default" / "trained.yaml"
DEV_FRACTION = 0.15
MIN_POSITIVES = 12
MULTILINGUAL_ENGLISH_SAMPLE = 3000
# Never below 0.5, the Bayes decision for a calibrated probability ("more likely unsafe than not"): the dev split
# is far richer in unsafe text than chatbot traffic, so a lower F1-optimal threshold there buys dev recall with
# false positives on ordinary messages (0.45 flagged "Streaming along nicely, thank you for asking." as sexual).
THRESHOLD_RANGE = (0.5, 0.85)
# The head's network, chosen on the dev split (mean per-category average precision, all three encoders: 0.73,
# 0.63, 0.73 with per-category logistic regressions; 0.83, 0.73, 0.83 with this).
HIDDEN_UNITS = 512
EPOCHS = 30
DROPOUT = 0.2
WEIGHT_DECAY = 1e-2
MAX_POSITIVE_WEIGHT = 50.0


@dataclass
class CategoryReport:
    positives: int
    negatives: int
    dev_positives: int
    precision: float | None
    recall: float | None
    f1: float | None
    threshold: float
    # Average precision of the calibrated score on the dev split: threshold-free, to compare heads.
    average_precision: float | None = None


@dataclass
class TrainReport:
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    heads: dict[str, dict[str, CategoryReport]] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    semantic_weight: float | None = None
    # Per head, the mean dev average precision over its categories on each language's dev rows alone: a head
    # serves several languages, and the pooled figure hides which one a change helped.
    dev_ap_by_language: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "seed": self.seed, "rows": self.rows, "thresholds": self.thresholds, "semantic_weight": self.semantic_weight,
            "dev_ap_by_language": self.dev_ap_by_language,
            "heads": {h: {c: vars(r) for c, r in cats.items()} for h, cats in self.heads.items()},
        }


def labels_for(rows: list[TrainRow], category: str) -> np.ndarray:
    """1 positive, 0 negative, -1 unknown (masked out of training).

    A row flagged with no category, or (for a sub-category) flagged with its parent but no sub-category, says
    nothing about this category.
    """
    children = {c for c, p in PARENT.items() if p == category}
    parent = PARENT.get(category)
    y = np.zeros(len(rows), dtype=np.int8)
    for i, r in enumerate(rows):
        cats = set(r.categories)
        if category in r.unknown:
            y[i] = -1
        elif category in cats or cats & children:
            y[i] = 1
        elif r.flagged and not cats:
            y[i] = -1
        elif parent and parent in cats and not cats & {c for c, p in PARENT.items() if p == parent}:
            y[i] = -1
    return y


def _is_dev(text: str, seed: int) -> bool:
    h = hashlib.sha1(f"{seed}:{text}".encode()).digest()
    return int.from_bytes(h[:4], "big") / 2**32 < DEV_FRACTION


class EmbeddingCache:
    """Training embeds tens of thousands of texts; re-training reuses them. One file per exact model (its
    `model_id`: a rebuilt encoder starts afresh), keyed by text hash, stored as one key array and one matrix (an
    .npz of one array per text is slow to write)."""

    def __init__(self, model_id: str) -> None:
        self.path = model_cache_dir() / f"train-embeddings-{model_id}.npz"
        self.data: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path) as z:
                self.data = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp.npz")
        keys = sorted(self.data)
        np.savez(tmp, keys=np.asarray(keys), vectors=np.stack([self.data[k] for k in keys]).astype(np.float32))
        tmp.replace(self.path)


def embed_rows(cascade, prepared: list[Prepared], encoder: str, progress) -> np.ndarray:
    from safewatch.detect.cascade import model_text

    enc = cascade.encoders.get(encoder)
    cache = EmbeddingCache(enc.model_id)
    texts = [model_text(p, encoder) for p in prepared]
    keys = [cache.key(t) for t in texts]
    # Sorted by length: a batch is padded to its longest text, so similar lengths waste the least work.
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cache.data}.items(),
                     key=lambda kv: (len(kv[1]), kv[0]))
    # An encoder whose output depends on the rest of its batch (int8 MiniLM quantizes activations per batch)
    # embeds one text at a time: a text's embedding must not depend on which texts were already cached, or
    # `train --check` from a cold cache would not reproduce the shipped heads. One at a time is also how a
    # single message is embedded at inference.
    step = 128 if enc.batch_invariant else 1
    task = progress.add_task(f"embedding ({encoder})", total=len(missing)) if progress else None
    for start in range(0, len(missing), step):
        chunk = missing[start : start + step]
        vecs = enc.encode([t for _, t in chunk])
        for (k, _), v in zip(chunk, vecs, strict=True):
            cache.data[k] = v
        if progress:
            progress.advance(task, len(chunk))
        if (start + step) % 3200 < step:  # every ~3200 texts: a long run interrupted keeps what it has embedded
            cache.save()
    if missing:
        cache.save()
    return np.stack([cache.data[k] for k in keys]).astype(np.float32)


def _standardize(x_tr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, scale and the constant columns of the training features.

    Standardizing matters: e5's embeddings sit in a narrow cosine band, so raw features have tiny variance. A
    feature that does not vary carries no signal: int8 MiniLM outputs (almost exactly) zero in a few dimensions,
    and standardizing one would blow its float noise (~1e-8) up to unit scale, giving it a weight of ~1e5 that
    makes the head hang on the last bits of the embeddings. Constant columns are zeroed instead.
    """
    mu = x_tr.mean(axis=0)
    sigma = x_tr.std(axis=0)
    constant = sigma < 1e-4
    return mu, np.where(constant, 1.0, sigma), constant


def _fit_hidden(x: np.ndarray, y: np.ndarray, sample_w: np.ndarray, train_rows: np.ndarray, seed: int):
    """One multi-label network over the kept categories: features → HIDDEN_UNITS (ReLU) → one logit each.

    Unknown labels (-1) are masked out of the loss; positives are weighted by negatives/positives per category
    (the logistic regressions' `class_weight="balanced"`, capped). Seeded, one thread, deterministic kernels: the
    same embeddings give the same weights. Returns the layers with the standardization folded into the first.
    """
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    mu, sigma, constant = _standardize(x[train_rows])
    xs = (x - mu) / sigma
    xs[:, constant] = 0.0
    xt = torch.tensor(xs, dtype=torch.float32)
    known = torch.tensor(y >= 0, dtype=torch.float32)
    target = torch.tensor(np.clip(y, 0, 1), dtype=torch.float32)
    weight = torch.tensor(sample_w, dtype=torch.float32)
    rows = torch.tensor(np.flatnonzero(train_rows))
    positives = (target[rows] * known[rows]).sum(0)
    negatives = ((1 - target[rows]) * known[rows]).sum(0)
    pos_weight = (negatives / positives.clamp(min=1)).clamp(max=MAX_POSITIVE_WEIGHT)
    net = torch.nn.Sequential(
        torch.nn.Dropout(DROPOUT), torch.nn.Linear(x.shape[1], HIDDEN_UNITS), torch.nn.ReLU(),
        torch.nn.Dropout(DROPOUT), torch.nn.Linear(HIDDEN_UNITS, y.shape[1]),
    )
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=WEIGHT_DECAY)
    order = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(EPOCHS):
        perm = rows[torch.randperm(len(rows), generator=order)]
        for start in range(0, len(perm), 256):
            i = perm[start : start + 256]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                net(xt[i]), target[i], pos_weight=pos_weight, reduction="none")
            loss = (loss * known[i] * weight[i, None]).sum() / known[i].sum().clamp(min=1)
            opt.zero_grad()
            loss.backward()
            opt.step()
    first, last = net[1], net[4]
    w1 = first.weight.detach().double().numpy()
    w1[:, constant] = 0.0
    hidden_w = w1 / sigma
    hidden_b = first.bias.detach().double().numpy() - (w1 * (mu / sigma)).sum(axis=1)
    return hidden_w, hidden_b, last.weight.detach().double().numpy(), last.bias.detach().double().numpy()


def _platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling of one category's dev logits; identity when the dev split lacks a class."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y)) < 2:
        return 1.0, 0.0
    platt = LogisticRegression(C=1e4, max_iter=1000)
    platt.fit(logits[:, None], y)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


def _average_precision(scores: np.ndarray, y: np.ndarray) -> float | None:
    ap = average_precision(y == 1, scores)
    return round(ap, 4) if ap is not None else None


def _dev_ap_by_language(probs: np.ndarray, y: np.ndarray, dev: np.ndarray, langs: list[str],
                        min_rows: int = 100) -> dict[str, float]:
    """Mean per-category dev AP on each language's dev rows (languages with at least `min_rows` of them)."""
    langs_arr = np.asarray(langs)
    out: dict[str, float] = {}
    for lang in sorted(set(langs)):
        in_lang = dev & (langs_arr == lang)
        if in_lang.sum() < min_rows:
            continue
        aps = []
        for k in range(y.shape[1]):
            known = in_lang & (y[:, k] >= 0)
            ap = _average_precision(probs[known, k], y[known, k])
            if ap is not None:
                aps.append(ap)
        if aps:
            out[lang] = round(float(np.mean(aps)), 4)
    return out


def _best_threshold(scores: np.ndarray, y: np.ndarray) -> tuple[float, float | None, float | None, float | None]:
    if y.sum() == 0:
        return 0.5, None, None, None
    best = (0.5, -1.0, 0.0, 0.0)
    for t in np.arange(THRESHOLD_RANGE[0], THRESHOLD_RANGE[1] + 1e-9, 0.025):
        pred = scores >= t
        tp = float((pred & (y == 1)).sum())
        p = tp / max(pred.sum(), 1)
        r = tp / max((y == 1).sum(), 1)
        f = 2 * p * r / max(p + r, 1e-9)
        if f > best[1] + 1e-9:
            best = (round(float(t), 3), f, p, r)
    t, f, p, r = best
    return t, round(p, 4), round(r, 4), round(f, 4)


def train(seed: int = 13, out_dir: Path | None = None, policy: Policy | None = None, progress=None,
          trained_policy_path: Path | None = TRAINED_POLICY, rows: list[TrainRow] | None = None) -> TrainReport:
    """Train both heads. `rows` replaces the default training data (tests train on a handful of rows)."""
    from safewatch.detect.cascade import Cascade

    random.seed(seed)
    np.random.seed(seed)
    policy = policy or load_policy()
    cascade = Cascade(policy, classifier=False)
    rows = dedupe(rows if rows is not None else load_public(seed) + load_corpus())
    rows.sort(key=lambda r: r.text)  # order independent of file order: same rows, same model
    report = TrainReport(seed=seed)
    english = [r for r in rows if r.lang == "en"]
    others = [r for r in rows if r.lang != "en"]
    sample = random.Random(seed).sample(english, min(MULTILINGUAL_ENGLISH_SAMPLE, len(english)))
    # Each multilingual encoder also sees an English sample: it shares one space across languages, and the
    # English data covers categories the other languages have little of.
    sample = sorted(sample, key=lambda r: r.text)
    plan = {encoder: [] for encoder in ENCODERS}
    plan["minilm"] = english
    for r in others:
        plan[encoder_name_for(r.lang)].append(r)
    for encoder in plan:
        if encoder != "minilm":
            plan[encoder] += sample
    heads: dict[str, Head] = {}
    dev_scores: dict[str, list[np.ndarray]] = {}
    dev_labels: dict[str, list[np.ndarray]] = {}
    categories = list(policy.enabled_categories())
    for encoder, head_rows in plan.items():
        report.rows[encoder] = len(head_rows)
        prepared = [prepare(r.text) for r in head_rows]
        emb = embed_rows(cascade, prepared, encoder, progress)
        lexical = lexical_scores([p.normalized for p in prepared]) if encoder in LEXICAL_ENCODERS else None
        dev = np.asarray([_is_dev(r.text, seed) for r in head_rows])
        weights = np.asarray([r.weight for r in head_rows], dtype=np.float64)
        labels = np.stack([labels_for(head_rows, c) for c in categories], axis=1)
        kept = [j for j, c in enumerate(categories) if (labels[~dev, j] == 1).sum() >= MIN_POSITIVES]
        y = labels[:, kept]
        fit_rows = ~dev & (y >= 0).any(axis=1)
        ngram_model, ngram_logits = None, None
        if encoder in NGRAM_ENCODERS:
            ngram_model, ngram_logits = fit_ngram_model([p.stripped for p in prepared], y, weights, fit_rows, seed,
                                                        progress=progress)
        feats = build_features(emb, cascade.semantic, encoder, categories, lexical=lexical, ngram=ngram_logits)
        if progress:
            task = progress.add_task(f"fitting head ({encoder})", total=1)
        hidden_w, hidden_b, W, B = _fit_hidden(feats, y, weights, fit_rows, seed)
        f32 = np.float32
        # float32, as saved: Platt scaling, thresholds and the semantic weight below see exactly the head that ships.
        head = Head(encoder, [categories[j] for j in kept], categories, W.astype(f32), B.astype(f32),
                    np.ones(len(kept), f32), np.zeros(len(kept), f32),
                    {"seed": seed, "rows": len(head_rows), "features": int(feats.shape[1]), "hidden": HIDDEN_UNITS,
                     "lexical": lexical is not None, "ngram": ngram_model is not None, "cpu": cpu_signature()},
                    hidden_w.astype(f32), hidden_b.astype(f32), ngram_model)
        logits = head.logits(feats)
        for k in range(len(kept)):
            dv = dev & (y[:, k] >= 0)
            head.platt_a[k], head.platt_b[k] = _platt(logits[dv, k], y[dv, k])
        probs = head.calibrated(logits)
        report.heads[encoder] = {}
        for k, j in enumerate(kept):
            category, yk = categories[j], y[:, k]
            dv = dev & (yk >= 0)
            dev_scores.setdefault(category, []).append(probs[dv, k])
            dev_labels.setdefault(category, []).append(yk[dv])
            tr = ~dev & (yk >= 0)
            report.heads[encoder][category] = CategoryReport(int((yk[tr] == 1).sum()), int((yk[tr] == 0).sum()),
                                                             int((yk[dv] == 1).sum()), None, None, None, 0.5,
                                                             _average_precision(probs[dv, k], yk[dv]))
        report.dev_ap_by_language[encoder] = _dev_ap_by_language(probs, y, dev, [r.lang for r in head_rows])
        if progress:
            progress.advance(task)
        head.save((out_dir / f"heads-{encoder}.npz") if out_dir else head_path(encoder))
        heads[encoder] = head
    for category in categories:
        if category not in dev_scores:
            continue
        s, y = np.concatenate(dev_scores[category]), np.concatenate(dev_labels[category])
        t, p, r, f = _best_threshold(s, y)
        report.thresholds[category] = t
        for head_report in report.heads.values():
            if category in head_report:
                head_report[category].threshold = t
                head_report[category].precision, head_report[category].recall, head_report[category].f1 = p, r, f
    report.semantic_weight = choose_semantic_weight(policy, report.thresholds, heads, rows, seed)
    if trained_policy_path is not None:
        write_trained_policy(report.thresholds, report.semantic_weight, trained_policy_path, seed)
    return report


SEMANTIC_WEIGHTS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
SEMANTIC_WEIGHT_TOLERANCE = 1e-3


def choose_semantic_weight(policy: Policy, thresholds: dict[str, float], heads: dict[str, Head],
                           rows: list[TrainRow], seed: int) -> float:
    """The weight of raw exemplar similarity under a head, by F1 of the whole cascade on the corpus dev rows.

    The project's own corpus is written as chatbot traffic with hard negatives, so its dev split is the closest
    thing to production the training data has; the public sets' dev rows are social-media comments.
    """
    from safewatch.detect.cascade import Cascade
    from safewatch.detect.classifier import ClassifierLayer
    from safewatch.taxonomy import parent_of

    dev = [r for r in rows if r.source.startswith("corpus-") and _is_dev(r.text, seed)]
    if not dev:
        return policy.semantic_weight
    tuned = policy.model_copy(deep=True)
    for c, t in thresholds.items():
        tuned.categories[c].threshold = t
    cascade = Cascade(tuned)
    cascade.classifier = ClassifierLayer(cascade.semantic, heads)
    f1_by_weight: dict[float, float] = {}
    for w in SEMANTIC_WEIGHTS:
        tuned.semantic_weight = w
        verdicts = cascade.run([r.text for r in dev])
        tp = fp = fn = 0
        for r, v in zip(dev, verdicts, strict=True):
            wanted = {parent_of(c) for c in r.categories} | set(r.categories)
            hit = v.flagged and (not wanted or any(v.categories.get(c) for c in wanted))
            if r.flagged:
                tp, fn = tp + hit, fn + (not hit)
            else:
                fp += v.flagged
        f1_by_weight[w] = 2 * tp / max(2 * tp + fp + fn, 1)
    # The smallest weight within SEMANTIC_WEIGHT_TOLERANCE of the best F1: closer F1s are noise (a row or two of
    # ~1,600: two trainings that gave identical heads ranked 0.6 and 0.9 first, 7e-5 apart), and a smaller
    # weight leans on the trained head.
    best = max(f1_by_weight.values())
    return min(w for w, f1 in f1_by_weight.items() if f1 >= best - SEMANTIC_WEIGHT_TOLERANCE)


def write_trained_policy(thresholds: dict[str, float], semantic_weight: float, path: Path, seed: int) -> None:
    header = (f"# Written by `safewatch train --seed {seed}`: thresholds and the semantic weight chosen on the dev\n"
              "# split carved from training data (never an evaluation split). Merged after the other policy files.\n")
    body = {"semantic_weight": semantic_weight,
            "categories": {c: {"threshold": t} for c, t in sorted(thresholds.items())}}
    path.write_text(header + yaml.safe_dump(body, sort_keys=True), encoding="utf-8")


def report_markdown(report: TrainReport) -> str:
    lines = [f"# Training report (seed {report.seed})", "", "Rows per head: " +
             ", ".join(f"{k} {v}" for k, v in report.rows.items()), "",
             f"Semantic weight under a head (chosen on the corpus dev split): {report.semantic_weight}", ""]
    for encoder, cats in report.heads.items():
        lines += [f"## head `{encoder}`", "",
                  "| category | train + | train − | dev + | dev AP | dev P | dev R | dev F1 | threshold |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for c, r in cats.items():
            lines.append(f"| {c} | {r.positives} | {r.negatives} | {r.dev_positives} | {r.average_precision} | "
                         f"{r.precision} | {r.recall} | {r.f1} | {r.threshold} |")
        known = [r.average_precision for r in cats.values() if r.average_precision is not None]
        if known:
            lines += ["", f"Mean dev AP: {np.mean(known):.4f}"]
        by_language = report.dev_ap_by_language.get(encoder)
        if by_language:
            lines += ["", "Mean dev AP by language: " + ", ".join(f"{k} {v}" for k, v in by_language.items())]
        lines.append("")
    return "\n".join(lines)


def save_report(report: TrainReport, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "training-report.json").write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    (folder / "training-report.md").write_text(report_markdown(report))
