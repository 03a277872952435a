"""Reading evaluation datasets: the JSONL schema of `../shared/datasets/README.md`.

One row per line: `{"id", "text", "lang", "flagged", "categories", "source_label", "split"}`. Only `text` and
`flagged` are required; the rest have defaults so a user's own small file needs no boilerplate.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safewatch.paths import datasets_dir

# The categories the shared datasets label, all named at the level the datasets use. `bias` is a safewatch
# category that no shared dataset labels yet; a user's dataset may.
LABEL_CATEGORIES: tuple[str, ...] = (
    "harassment",
    "hate",
    "illicit",
    "self-harm",
    "sexual",
    "sexual/minors",
    "violence",
    "prompt-injection",
    "privacy",
    "bias",
)

# openai-moderation keeps only the source keys that were labelled; a category's label is known only when its
# own key is present (a positive implied by another key, e.g. S3 -> sexual, is known regardless).
OPENAI_MODERATION_KEYS: dict[str, str] = {
    "sexual": "S",
    "hate": "H",
    "violence": "V",
    "harassment": "HR",
    "self-harm": "SH",
    "sexual/minors": "S3",
}
_OPENAI_MODERATION = "openai-moderation"


class DatasetError(ValueError):
    """A dataset cannot be used as given."""


class DatasetNotFoundError(DatasetError):
    """No dataset file at the given path (or name)."""


class DatasetFormatError(DatasetError):
    """A line of a dataset file is not a valid row."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line


@dataclass
class EvalRow:
    id: str
    text: str
    flagged: bool
    lang: str = "en"
    categories: list[str] = field(default_factory=list)
    split: str = ""
    source_label: dict[str, Any] = field(default_factory=dict)
    dataset: str = ""

    def category_label(self, category: str) -> bool | None:
        """The row's label for one category, or None when it is unknown ("don't care").

        Harmful rows without a mapped category (misinformation, copyright, ToxicChat's binary label) say
        nothing about any single category; neither do openai-moderation rows that lack the category's key.
        """
        if category in self.categories:
            return True
        if self.flagged and not self.categories:
            return None
        if self._is_openai_moderation():
            key = OPENAI_MODERATION_KEYS.get(category)
            if key is not None and key not in self.source_label:
                return None
        return False

    def _is_openai_moderation(self) -> bool:
        return self.dataset == _OPENAI_MODERATION or self.id.startswith(_OPENAI_MODERATION + "-")


def resolve_dataset(spec: str | Path) -> Path:
    """A path to a JSONL file; a bare name such as `xstest` is looked up in `datasets_dir()`."""
    path = Path(spec)
    if path.is_file():
        return path
    if path.exists():
        raise DatasetNotFoundError(f"{path} is not a file")
    name = str(spec)
    if os.sep not in name and "/" not in name:
        for candidate in (datasets_dir() / name, datasets_dir() / f"{name}.jsonl"):
            if candidate.is_file():
                return candidate
    raise DatasetNotFoundError(f"dataset not found: {spec}")


def dataset_name(path: Path) -> str:
    name = path.name
    return name[: -len(".jsonl")] if name.endswith(".jsonl") else path.stem


def _parse_row(obj: Any, dataset: str, lineno: int) -> EvalRow:
    if not isinstance(obj, dict):
        raise ValueError("a row must be a JSON object")
    text = obj.get("text")
    if not isinstance(text, str):
        raise ValueError("'text' must be a string")
    flagged = obj.get("flagged")
    if not isinstance(flagged, bool):
        raise ValueError("'flagged' must be true or false")
    categories = obj.get("categories") or []
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise ValueError("'categories' must be a list of strings")
    if categories and not flagged:
        raise ValueError("a row with categories must be flagged")
    source_label = obj.get("source_label") or {}
    if not isinstance(source_label, dict):
        raise ValueError("'source_label' must be an object")
    return EvalRow(
        id=str(obj.get("id") or f"{dataset}-{lineno}"),
        text=text,
        flagged=flagged,
        lang=str(obj.get("lang") or "en"),
        categories=list(categories),
        split=str(obj.get("split") or ""),
        source_label=source_label,
        dataset=dataset,
    )


def read_rows(path: str | Path, *, dataset: str | None = None) -> list[EvalRow]:
    """Every row of a JSONL dataset file; blank lines are skipped."""
    path = Path(path)
    name = dataset or dataset_name(path)
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DatasetNotFoundError(f"dataset not found: {path}") from exc
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    rows: list[EvalRow] = []
    with handle:
        try:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append(_parse_row(json.loads(line), name, lineno))
                except json.JSONDecodeError as exc:
                    raise DatasetFormatError(path, lineno, f"not valid JSON: {exc.msg}") from exc
                except ValueError as exc:
                    raise DatasetFormatError(path, lineno, str(exc)) from exc
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not UTF-8 text") from exc
    return rows


def parse_splits(values: Iterable[str] | None) -> set[str] | None:
    """`--split` values (repeatable, each a comma list) as a set; None means every split."""
    splits = {s.strip() for v in values or () for s in v.split(",") if s.strip()}
    return splits or None


def select(rows: Sequence[EvalRow], *, splits: set[str] | None = None, limit: int | None = None,
           seed: int = 0) -> list[EvalRow]:
    """Rows of the given splits, then at most `limit` of them: a seeded sample kept in file order."""
    chosen = [r for r in rows if splits is None or r.split in splits]
    if limit is not None and 0 <= limit < len(chosen):
        keep = sorted(random.Random(seed).sample(range(len(chosen)), limit))
        chosen = [chosen[i] for i in keep]
    return chosen


def load_dataset(spec: str | Path, *, splits: set[str] | None = None, limit: int | None = None,
                 seed: int = 0) -> tuple[str, list[EvalRow]]:
    """Resolve, read and select: the dataset's name and its chosen rows."""
    path = resolve_dataset(spec)
    rows = read_rows(path)
    return dataset_name(path), select(rows, splits=splits, limit=limit, seed=seed)
