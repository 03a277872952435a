"""Shared helpers: rows, verdicts and a tiny detector that needs no models."""

from __future__ import annotations

import json
from pathlib import Path

from safewatch.evals.datasets import EvalRow
from safewatch.verdict import Action, Verdict


def make_verdict(scores: dict[str, float], threshold: float = 0.5) -> Verdict:
    categories = {c: s >= threshold for c, s in scores.items()}
    overall = max(scores.values(), default=0.0)
    flagged = any(categories.values())
    return Verdict(flagged=flagged, action=Action.BLOCK if flagged else Action.ALLOW, overall_score=overall,
                   categories=categories, category_scores=scores)


class FakeDetector:
    """Scores by keyword: 'kill' is violence, 'minor' is sexual/minors (a sub-category of sexual), 'hate' is hate.

    Records each call so tests can see how the runner batched.
    """

    KEYWORDS = {"kill": ("violence", 0.9), "minor": ("sexual/minors", 0.8), "hate": ("hate", 0.7)}

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []

    def check_batch(self, texts: list[str], role: str = "input") -> list[Verdict]:
        self.calls.append((len(texts), role))
        out = []
        for text in texts:
            scores = {"violence": 0.1, "sexual": 0.05, "sexual/minors": 0.0, "hate": 0.02}
            for word, (cat, score) in self.KEYWORDS.items():
                if word in text:
                    scores[cat] = score
            out.append(make_verdict(scores))
        return out


def row(id: str, text: str, flagged: bool, categories: list[str] | None = None, lang: str = "en",
        split: str = "eval", dataset: str = "toy", source_label: dict | None = None) -> EvalRow:
    return EvalRow(id=id, text=text, flagged=flagged, lang=lang, categories=categories or [], split=split,
                   source_label=source_label or {}, dataset=dataset)


TOY_ROWS = [
    {"id": "toy-1", "text": "I will kill you", "lang": "en", "flagged": True, "categories": ["violence"], "split": "eval"},
    {"id": "toy-2", "text": "how to kill a python process", "lang": "en", "flagged": False, "categories": [], "split": "eval"},
    {"id": "toy-3", "text": "sexual content with a minor", "lang": "en", "flagged": True,
     "categories": ["sexual", "sexual/minors"], "split": "eval"},
    {"id": "toy-4", "text": "fake news about vaccines", "lang": "en", "flagged": True, "categories": [], "split": "eval"},
    {"id": "toy-5", "text": "xin chào bạn", "lang": "vi", "flagged": False, "categories": [], "split": "train"},
    {"id": "toy-6", "text": "tôi sẽ kill bạn", "lang": "vi", "flagged": True, "categories": ["violence"], "split": "train"},
    {"id": "toy-7", "text": "I hate those people", "lang": "en", "flagged": True, "categories": ["hate"], "split": "eval"},
    {"id": "toy-8", "text": "have a nice day | ok", "lang": "en", "flagged": False, "categories": [], "split": "eval"},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path
