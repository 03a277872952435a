"""Where safewatch finds and keeps its files."""

from __future__ import annotations

import hashlib
import json
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
    """A file's SHA-256 (hex, shortened): names a build after what it was built from.

    Hashing the model files (~160 MB) took ~0.45 s of every process start, so digests are remembered in the
    model cache under the file's path, size and modification time: a replaced file (a new package release)
    gets a new stamp and is hashed again."""
    stat = path.stat()
    stamp = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    memo_path = model_cache_dir() / "digests.json"
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}  # none yet, or damaged: rebuilt below
    if not isinstance(memo, dict) or not isinstance(memo.get(stamp), str):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        memo = memo if isinstance(memo, dict) else {}
        memo[stamp] = h.hexdigest()
        tmp = memo_path.with_suffix(f".{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(memo, sort_keys=True), encoding="utf-8")
            os.replace(tmp, memo_path)  # atomic; a concurrent writer may drop this entry: it is only re-hashed
        except OSError:
            tmp.unlink(missing_ok=True)  # a read-only cache still works, it only hashes every time
    return memo[stamp][:length]
