"""Where safewatch finds and keeps its files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Trained heads ship as package data (built by `safewatch train`).
DATA_DIR = PACKAGE_DIR / "data"
REPO_ROOT = PACKAGE_DIR.parent.parent


def model_cache_dir() -> Path:
    """Models the project builds itself on first use (the int8 ONNX export), cached across runs."""
    base = os.environ.get("SAFEWATCH_MODEL_DIR")
    path = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "safewatch" / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def datasets_dir() -> Path:
    """The shared public datasets: $SAFEWATCH_DATASETS, else ../shared/datasets beside the repository."""
    env = os.environ.get("SAFEWATCH_DATASETS")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "datasets"


def file_digest(path: Path, length: int = 16) -> str:
    """A file's SHA-256 (hex, shortened): names a build after what it was built from."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]
