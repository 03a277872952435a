"""Training rows: the `train` splits of the shared datasets plus the project's own corpus.

Never an `eval` or `test` split: those measure the detector, so they must stay unseen. ToxicChat is
non-commercial and evaluation-only, and is never read here.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from safewatch.paths import PACKAGE_DIR, datasets_dir
from safewatch.taxonomy import CATEGORIES

CORPUS_DIR = PACKAGE_DIR / "train" / "corpus"


@dataclass(frozen=True)
class Source:
    name: str
    # Most rows to take (a seeded sample), to keep big single-domain sets from drowning the rest.
    limit: int | None = None
    # Sample weight: davidson's "offensive" class is tweets full of profanity, stricter than our policy.
    weight: float = 1.0
    # Labels too loose for our policy: a row whose only categories are these becomes "flagged, category
    # unknown", which every head ignores, instead of a positive that teaches the head the wrong thing.
    dont_care: tuple[str, ...] = ()
    # Every row is benign for our policy whatever the source says, except that these categories are unknown.
    benign_except: tuple[str, ...] | None = None


SOURCES: tuple[Source, ...] = (
    # Davidson's "offensive" class is tweets full of profanity, which our policy does not flag by itself (its
    # README: "stricter than OpenAI moderation"); as positives it taught the harassment head that commerce
    # chat ("Shopee sells this cheaper") is harassment. ViHOS spans are largely profanity too: down-weighted.
    Source("davidson-hate-offensive", limit=5000, weight=0.5, dont_care=("harassment",)),
    Source("toxigen-seeds"),
    Source("deepset-prompt-injections"),
    Source("jailbreak-classification"),
    Source("jailbreak-llms"),
    Source("cold", limit=7000),
    Source("vihos", limit=5000, weight=0.3),
    # Synthetic business text full of names, addresses and numbers: PII by itself is not a violation here (the
    # PII layer redacts it), so these are negatives for every category, privacy left open (a few disclose a
    # third party's address). Ordinary multi-sentence text is what the English head sees too little of.
    Source("presidio-synth-pii", benign_except=("privacy",)),
)
TRAIN_SPLITS = frozenset({"train"})


@dataclass
class TrainRow:
    text: str
    lang: str
    flagged: bool
    categories: list[str]
    source: str
    weight: float = 1.0
    extra: dict = field(default_factory=dict)
    # Categories this row says nothing about (masked out of those heads' training).
    unknown: tuple[str, ...] = ()


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not valid JSON: {exc}") from exc
    return rows


def load_public(seed: int = 13, data_dir: Path | None = None) -> list[TrainRow]:
    base = data_dir or datasets_dir()
    out: list[TrainRow] = []
    for src in SOURCES:
        path = base / f"{src.name}.jsonl"
        if not path.exists():
            raise FileNotFoundError(f"training data missing: {path} (set SAFEWATCH_DATASETS)")
        rows = [r for r in _read_jsonl(path) if r.get("split") in TRAIN_SPLITS and r.get("text")]
        if src.limit and len(rows) > src.limit:
            rows = random.Random(f"{seed}:{src.name}").sample(rows, src.limit)
        for r in rows:
            cats = [c for c in r.get("categories", []) if c in CATEGORIES]
            if cats and set(cats) <= set(src.dont_care):
                cats = []
            if src.benign_except is not None:
                out.append(TrainRow(r["text"], r.get("lang", "en"), False, [], src.name, src.weight,
                                    unknown=src.benign_except))
                continue
            out.append(TrainRow(r["text"], r.get("lang", "en"), bool(r["flagged"]), cats, src.name, src.weight))
    return out


def load_corpus(corpus_dir: Path = CORPUS_DIR) -> list[TrainRow]:
    out: list[TrainRow] = []
    for path in sorted(corpus_dir.glob("*.jsonl")):
        for r in _read_jsonl(path):
            cats = [c for c in r.get("categories", []) if c in CATEGORIES]
            # The corpus is written for this taxonomy: weigh it above the noisier public labels.
            out.append(TrainRow(r["text"], r.get("lang", path.stem), bool(r["flagged"]), cats, f"corpus-{path.stem}", 2.0))
    return out


def dedupe(rows: list[TrainRow]) -> list[TrainRow]:
    """One row per text; where copies disagree, the flagged one with the most categories wins."""
    best: dict[str, TrainRow] = {}
    for r in rows:
        key = " ".join(r.text.lower().split())
        cur = best.get(key)
        if cur is None or (r.flagged, len(r.categories), r.weight) > (cur.flagged, len(cur.categories), cur.weight):
            best[key] = r
    return list(best.values())
