"""The cascade: cheap layers first, embeddings only where needed, fused per category into a Verdict.

Order: normalize → rules, PII, injection, context (microseconds) → early exit where a layer is certain and no
context cue argues against it → embed (one encoder per language) → semantic + classifier → fuse (max per
category, then sub-categories lift their parents, then context factors) → thresholds and action from the policy.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from safewatch.detect.base import LayerScores, Prepared
from safewatch.detect.classifier import ClassifierLayer
from safewatch.detect.context import ContextLayer
from safewatch.detect.decision import decide, support_message
from safewatch.detect.embed import encoder_name_for, shared_pool
from safewatch.detect.injection import InjectionLayer
from safewatch.detect.normalize import prepare
from safewatch.detect.pii import PiiLayer
from safewatch.detect.rules import RulesLayer
from safewatch.detect.semantic import SemanticLayer
from safewatch.policy import Policy
from safewatch.taxonomy import PARENT
from safewatch.verdict import Action, Match, Verdict

log = logging.getLogger(__name__)

# Layers whose scores decide categories. PII only redacts: your own email in a message is not a violation.
_DECIDING = ("rules", "injection", "classifier", "semantic")


def _limit_blas_threads() -> None:
    """One BLAS thread: the cascade's matrix products are tiny (a batch against a few thousand exemplars), and
    OpenBLAS's worker threads fight onnxruntime for the cores: a 16x384x600 product took 28 ms with them and 2 ms
    without on a loaded 2-core machine. Process-wide; SAFEWATCH_BLAS_THREADS overrides."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=int(os.environ.get("SAFEWATCH_BLAS_THREADS", "1")), user_api="blas")


@dataclass
class Screened:
    """A batch after the cascade's first stage: the prepared texts and each one's layer scores so far."""

    prepared: list[Prepared]
    results: list[dict[str, LayerScores]]


class Cascade:
    def __init__(self, policy: Policy, *, semantic: bool = True, classifier: bool = True) -> None:
        _limit_blas_threads()
        self.policy = policy
        self.rules = RulesLayer(policy)
        self.pii = PiiLayer(policy)
        self.injection = InjectionLayer(policy)
        self.context = ContextLayer(policy)
        self.encoders = shared_pool()
        self.semantic = SemanticLayer(policy, self.encoders) if semantic else None
        self.classifier = ClassifierLayer(self.semantic) if (classifier and self.semantic) else None
        self.categories = list(policy.enabled_categories())

    # -- running -------------------------------------------------------------------------------------------
    def run(self, texts: list[str], role: str = "input") -> list[Verdict]:
        return self.finish(self.screen(texts, role))

    def screen(self, texts: list[str], role: str = "input") -> Screened:
        """The first stage: normalization and the cheap layers (pure Python, microseconds a text)."""
        prepared = [prepare(t, role) for t in texts]
        results: list[dict[str, LayerScores]] = [{} for _ in prepared]
        for layer in (self.rules, self.pii, self.injection, self.context):
            for res, scores in zip(results, layer.score(prepared), strict=True):
                res[layer.name] = scores
        return Screened(prepared, results)

    def finish(self, screened: Screened) -> list[Verdict]:
        """The second stage: the encoders (which release the GIL while they run) and the model layers for the
        texts no cheap layer was certain about, then fusion. Split from `screen` so that a stream of batches
        can screen the next batch while this one is in the encoder."""
        prepared, results = screened.prepared, screened.results
        pending = [i for i, p in enumerate(prepared) if not self._certain(p, results[i])]
        if pending and self.semantic is not None:
            self.embed([prepared[i] for i in pending])
            sub = [prepared[i] for i in pending]
            model_layers = [self.semantic] + ([self.classifier] if self.classifier else [])
            for layer in model_layers:
                for i, scores in zip(pending, layer.score(sub), strict=True):
                    results[i][layer.name] = scores
        return [self.fuse(p, res) for p, res in zip(prepared, results, strict=True)]

    def embed(self, batch: list[Prepared]) -> None:
        """Set `embedding` on each prepared text, one encoder call per language group."""
        groups: dict[str, list[Prepared]] = {}
        for p in batch:
            groups.setdefault(encoder_name_for(p.language), []).append(p)
        for name, ps in groups.items():
            vecs = self.encoders.get(name).encode([model_text(p, name) for p in ps])
            for p, v in zip(ps, vecs, strict=True):
                p.embedding, p.encoder = v, name

    @staticmethod
    def _certain(p: Prepared, res: dict[str, LayerScores]) -> bool:
        return not p.context.lowers_scores and any(s.certain for s in res.values())

    # -- fusing --------------------------------------------------------------------------------------------
    def fuse(self, p: Prepared, res: dict[str, LayerScores]) -> Verdict:
        scores = {c: 0.0 for c in self.categories}
        source: dict[str, str] = {}
        covered = self.classifier.covers(p.encoder) if (self.classifier and p.encoder) else set()
        for name in _DECIDING:
            layer = res.get(name)
            if layer is None:
                continue
            for c, s in layer.scores.items():
                if c not in scores:
                    continue
                # Where a trained head covers a category it already weighs the exemplar similarity, so the raw
                # similarity speaks at a discount there: it still catches phrasings close to an exemplar that
                # the head, trained on little data for rare categories, scores low.
                if name == "semantic" and c in covered:
                    s *= self.policy.semantic_weight
                if s > scores[c]:
                    scores[c], source[c] = s, name
        for child, parent in PARENT.items():
            if child in scores and parent in scores and scores[child] > scores[parent]:
                scores[parent], source[parent] = scores[child], source.get(child, "none")
        scores = self.context.apply(p, scores)

        matches: list[Match] = [m for layer in res.values() for m in layer.matches]
        pii = res.get("pii")
        redacted = pii.redacted_text if pii and pii.redacted_text and pii.redacted_text != p.text else None
        flagged, action = decide(self.policy, scores, p.role, redacted=bool(redacted))
        any_flag = any(flagged.values())
        top = max(scores, key=lambda c: scores[c]) if scores else None
        return Verdict(
            flagged=any_flag,
            action=action,
            overall_score=round(float(max(scores.values(), default=0.0)), 4),
            categories=flagged,
            category_scores={c: round(float(s), 4) for c, s in scores.items()},
            matches=matches,
            context=p.context,
            language=p.language,
            redacted_text=redacted,
            decided_by=source.get(top, "none") if top and scores[top] > 0 else "none",
            policy_version=self.policy.version_tag,
            support_message=support_message(self.policy, p.language) if action == Action.SUPPORT else None,
        )


def model_text(p: Prepared, encoder: str) -> str:
    """What an encoder reads (here and in training): English-only MiniLM the normalized text (slang expanded,
    look-alikes folded, case kept out); the multilingual encoders the sanitized original, which keeps more of
    what they learned from."""
    return p.normalized if encoder == "minilm" else p.text
