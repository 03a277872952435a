"""The library entry point: `Detector().check(text)`."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from safewatch.policy import Policy, load_policy
from safewatch.verdict import Verdict


class Detector:
    """Checks texts against a policy with the detection cascade.

    Models are loaded once, on first use, and shared by all threads; `check` and `check_batch` are
    thread-safe. Batch when you can: the embedding model is much faster per text on a batch.
    """

    def __init__(
        self,
        policy: Policy | str | Path | None = None,
        *,
        semantic: bool = True,
        classifier: bool = True,
        judge: object | None = None,
    ) -> None:
        self.policy = policy if isinstance(policy, Policy) else load_policy(policy)
        self._options = {"semantic": semantic, "classifier": classifier, "judge": judge}
        self._cascade = None
        self._lock = threading.Lock()

    @property
    def cascade(self):
        if self._cascade is None:
            with self._lock:
                if self._cascade is None:
                    from safewatch.detect.cascade import Cascade

                    self._cascade = Cascade(self.policy, **self._options)
        return self._cascade

    def warm_up(self) -> None:
        """Load every model now rather than on the first request."""
        self.check_batch(["hello", "xin chào", "你好"])

    def check(self, text: str, role: str = "input") -> Verdict:
        return self.check_batch([text], role=role)[0]

    def check_batch(self, texts: list[str], role: str = "input") -> list[Verdict]:
        if role not in ("input", "output"):
            raise ValueError("role must be 'input' or 'output'")
        start = time.perf_counter()
        verdicts = self.cascade.run(list(texts), role=role)
        per_text_ms = (time.perf_counter() - start) * 1000 / max(len(texts), 1)
        for v in verdicts:
            v.latency_ms = round(per_text_ms, 3)
        return verdicts
