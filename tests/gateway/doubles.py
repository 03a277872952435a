"""Stand-ins for the parts around the gateway, so its tests say exactly what the gateway does.

`PhraseDetector` keeps the `Detector` contract (`check_batch(texts, role)`, `policy`, `warm_up`) with the real
default policy (refusals, crisis resources, fail mode) but decides by fixed phrases: the gateway's tests test
the plumbing, the detector's own tests test detection. The end-to-end tests use the real detector.
"""

from __future__ import annotations

import re
import threading

from safewatch.policy import Policy, load_policy
from safewatch.taxonomy import CATEGORIES
from safewatch.verdict import Action, Match, Verdict

THREAT = "i will kill you"
SELF_HARM = "i want to end my life"
HARMFUL_OUTPUT = "mix bleach and ammonia"
BOOM = "detector-boom"  # makes the detector raise
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")

_RULES = (
    (THREAT, ("harassment", "harassment/threatening", "violence"), Action.BLOCK),
    ("tôi sẽ giết mày", ("harassment", "harassment/threatening", "violence"), Action.BLOCK),
    (SELF_HARM, ("self-harm", "self-harm/intent"), Action.SUPPORT),
    (HARMFUL_OUTPUT, ("illicit", "illicit/violent"), Action.BLOCK),
)


def language_of(text: str) -> str:
    if re.search(r"[\u4e00-\u9fff]", text):
        return "zh"
    if re.search(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", text.lower()):
        return "vi"
    return "en"


class PhraseDetector:
    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or load_policy()
        self.calls: list[tuple[list[str], str]] = []
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        pass

    def check(self, text: str, role: str = "input") -> Verdict:
        return self.check_batch([text], role)[0]

    def check_batch(self, texts: list[str], role: str = "input") -> list[Verdict]:
        with self._lock:
            self.calls.append((list(texts), role))
        return [self._one(t) for t in texts]

    def _one(self, text: str) -> Verdict:
        low = " ".join(text.lower().split())
        if BOOM in low:
            raise RuntimeError("the detector broke")
        lang = language_of(text)
        flagged: set[str] = set()
        action = Action.ALLOW
        matches = []
        for phrase, cats, act in _RULES:
            at = low.find(phrase)
            if at >= 0:
                flagged.update(cats)
                action = Action.strongest([action, act])
                matches.append(Match(layer="rules", category=cats[-1], rule=phrase, span=(at, at + len(phrase))))
        redacted = None
        if EMAIL.search(text):
            flagged.add("privacy")
            action = Action.strongest([action, Action.REDACT])
            redacted = EMAIL.sub("[EMAIL]", text)
        scores = {c: (0.97 if c in flagged else 0.01) for c in CATEGORIES}
        support = None
        if action == Action.SUPPORT:
            locale = self.policy.crisis_for(lang)
            support = locale.message if locale else None
        return Verdict(
            flagged=bool(flagged), action=action, overall_score=max(scores.values()),
            categories={c: c in flagged for c in CATEGORIES}, category_scores=scores, matches=matches,
            language=lang, redacted_text=redacted, decided_by="rules" if flagged else "none",
            support_message=support, policy_version=self.policy.version_tag,
        )


class RecordingTracer:
    """Collects `record_gateway` calls as the platform's tracer would receive them."""

    def __init__(self, fail: bool = False) -> None:
        self.records: list[dict] = []
        self.fail = fail

    async def record_gateway(self, project_id: str, **fields) -> str:
        if self.fail:
            raise RuntimeError("tracing is down")
        self.records.append({"project_id": project_id, **fields})
        return f"trace-{len(self.records)}"
