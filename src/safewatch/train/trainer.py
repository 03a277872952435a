"""Fit, calibrate and threshold the classifier heads, reproducibly.

Per encoder (MiniLM for English; USE for Chinese and e5 for every other language, each plus an English
sample), per category: a
class-balanced logistic regression on a seeded 85% of the training rows, Platt scaling fitted on the other 15%
(the dev split), and a threshold per category chosen on the dev split's calibrated scores. Evaluation splits are
never read (see `train.data`).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from safewatch.detect.classifier import Head, build_features, head_path
from safewatch.detect.embed import ENCODERS, encoder_name_for
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


@dataclass
class CategoryReport:
    positives: int
    negatives: int
    dev_positives: int
    precision: float | None
    recall: float | None
    f1: float | None
    threshold: float


@dataclass
class TrainReport:
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    heads: dict[str, dict[str, CategoryReport]] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    semantic_weight: float | None = None

    def to_dict(self) -> dict:
        return {
            "seed": self.seed, "rows": self.rows, "thresholds": self.thresholds, "semantic_weight": self.semantic_weight,
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
    """Training embeds tens of thousands of texts; re-training reuses them. Keyed by encoder and text hash,
    stored as one key array and one matrix (an .npz of one array per text is slow to write)."""

    def __init__(self, encoder: str) -> None:
        self.path = model_cache_dir() / f"train-embeddings-{encoder}.npz"
        self.data: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path) as z:
                if "keys" in z.files and "vectors" in z.files:
                    self.data = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))
                else:  # the earlier one-array-per-text layout
                    self.data = {k: z[k] for k in z.files}

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp.npz")
        keys = sorted(self.data)
        np.savez(tmp, keys=np.asarray(keys), vectors=np.stack([self.data[k] for k in keys]).astype(np.float32))
        tmp.replace(self.path)


def embed_rows(cascade, rows: list[TrainRow], encoder: str, progress) -> np.ndarray:
    from safewatch.detect.cascade import model_text
    from safewatch.detect.normalize import prepare

    cache = EmbeddingCache(encoder)
    texts = [model_text(prepare(r.text), encoder) for r in rows]
    keys = [cache.key(t) for t in texts]
    # Sorted by length: a batch is padded to its longest text, so similar lengths waste the least work.
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cache.data}.items(),
                     key=lambda kv: (len(kv[1]), kv[0]))
    enc = cascade.encoders.get(encoder)
    task = progress.add_task(f"embedding ({encoder})", total=len(missing)) if progress else None
    for start in range(0, len(missing), 128):
        chunk = missing[start : start + 128]
        vecs = enc.encode([t for _, t in chunk])
        for (k, _), v in zip(chunk, vecs, strict=True):
            cache.data[k] = v
        if progress:
            progress.advance(task, len(chunk))
        if (start // 128) % 25 == 24:  # a long run interrupted keeps what it has embedded
            cache.save()
    if missing:
        cache.save()
    return np.stack([cache.data[k] for k in keys]).astype(np.float32)


def _fit_category(x_tr, y_tr, w_tr, x_dev, y_dev, seed: int):
    from sklearn.linear_model import LogisticRegression

    # Standardize first: e5's embeddings sit in a narrow cosine band, so raw features have tiny variance and an
    # L2-penalized fit cannot give them the weight they deserve. The scaler is folded into w and b afterwards,
    # so inference stays one matrix product.
    mu = x_tr.mean(axis=0)
    sigma = x_tr.std(axis=0) + 1e-6
    clf = LogisticRegression(C=0.5, class_weight="balanced", max_iter=3000, random_state=seed)
    clf.fit((x_tr - mu) / sigma, y_tr, sample_weight=w_tr)
    w = clf.coef_[0] / sigma
    b = float(clf.intercept_[0] - (clf.coef_[0] * mu / sigma).sum())
    if len(np.unique(y_dev)) == 2:
        platt = LogisticRegression(C=1e4, max_iter=1000)
        platt.fit((x_dev @ w + b)[:, None], y_dev)
        a, c = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    else:  # no dev positives: keep the raw logistic output
        a, c = 1.0, 0.0
    return w, b, a, c


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
        emb = embed_rows(cascade, head_rows, encoder, progress)
        feats = build_features(emb, cascade.semantic, encoder, categories)
        dev = np.asarray([_is_dev(r.text, seed) for r in head_rows])
        weights = np.asarray([r.weight for r in head_rows], dtype=np.float64)
        kept, W, B, A, C = [], [], [], [], []
        report.heads[encoder] = {}
        task = progress.add_task(f"fitting heads ({encoder})", total=len(categories)) if progress else None
        for category in categories:
            y = labels_for(head_rows, category)
            known = y >= 0
            tr, dv = known & ~dev, known & dev
            if progress:
                progress.advance(task)
            if y[tr].sum() < MIN_POSITIVES:
                continue
            w, b, a, c = _fit_category(feats[tr], y[tr], weights[tr], feats[dv], y[dv], seed)
            kept.append(category)
            W.append(w), B.append(b), A.append(a), C.append(c)
            probs = 1 / (1 + np.exp(-np.clip((feats[dv] @ w + b) * a + c, -50, 50)))
            dev_scores.setdefault(category, []).append(probs)
            dev_labels.setdefault(category, []).append(y[dv])
            report.heads[encoder][category] = CategoryReport(int((y[tr] == 1).sum()), int((y[tr] == 0).sum()),
                                                             int((y[dv] == 1).sum()), None, None, None, 0.5)
        # float32, as saved: the semantic weight below is chosen with exactly the heads that ship.
        f32 = np.float32
        head = Head(encoder, kept, categories, np.asarray(W, f32), np.asarray(B, f32), np.asarray(A, f32),
                    np.asarray(C, f32), {"seed": seed, "rows": len(head_rows), "features": int(feats.shape[1])})
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
    best = (-1.0, policy.semantic_weight)
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
        f1 = 2 * tp / max(2 * tp + fp + fn, 1)
        if f1 > best[0] + 1e-9:
            best = (f1, w)
    return best[1]


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
        lines += [f"## head `{encoder}`", "", "| category | train + | train − | dev + | dev P | dev R | dev F1 | threshold |",
                  "|---|---|---|---|---|---|---|---|"]
        for c, r in cats.items():
            lines.append(f"| {c} | {r.positives} | {r.negatives} | {r.dev_positives} | {r.precision} | {r.recall} | {r.f1} | {r.threshold} |")
        lines.append("")
    return "\n".join(lines)


def save_report(report: TrainReport, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "training-report.json").write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    (folder / "training-report.md").write_text(report_markdown(report))
