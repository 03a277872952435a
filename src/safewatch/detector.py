"""The library entry point: `Detector().check(text)`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from safewatch.policy import Policy, load_policy
from safewatch.verdict import Verdict


class Detector:
    """Checks texts against a policy with the detection cascade, and the optional LLM judge.

    Models are loaded once, on first use, and shared by all threads; `check` and `check_batch` are
    thread-safe. Batch when you can: the embedding model is much faster per text on a batch.

    `judge` is off by default: pass a `JudgeConfig` (or `JudgeConfig.from_env()`) to send the verdicts whose
    score falls in the ambiguous band to an LLM for a second opinion.
    """

    def __init__(
        self,
        policy: Policy | str | Path | None = None,
        *,
        semantic: bool = True,
        classifier: bool = True,
        judge: object | None = None,
    ) -> None:
        from safewatch.detect.judge import build_judge

        self.policy = policy if isinstance(policy, Policy) else load_policy(policy)
        self.judge = build_judge(judge, self.policy)
        self._options = {"semantic": semantic, "classifier": classifier}
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
        self.check_batch(["hello", "xin chào", "你好"], review=False)

    def check(self, text: str, role: str = "input") -> Verdict:
        return self.check_batch([text], role=role)[0]

    def check_batch(self, texts: list[str], role: str = "input", *, review: bool = True) -> list[Verdict]:
        """One verdict per text, in order.

        `review=False` leaves out the judge: the caller hands the verdicts to `review` later. The gateway does
        so, so that a slow judge call never holds up the other requests batched into the same model call.
        """
        _check_role(role)
        texts = list(texts)
        return self._finish(*self._screen(texts, role), role, review=review)

    def check_batches(self, batches: Iterable[list[str]], role: str = "input") -> Iterator[list[Verdict]]:
        """`check_batch` over a stream of batches, one list of verdicts per batch, in order.

        Pipelined: while one batch is in the encoder (native code, the GIL released), a worker thread runs the
        next batch's normalization and cheap layers. For large files (`safewatch check --jsonl`).
        """
        _check_role(role)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="safewatch-screen") as pool:
            ahead = None
            for batch in batches:
                following = pool.submit(self._screen, list(batch), role)
                if ahead is not None:
                    yield self._finish(*ahead.result(), role)
                ahead = following
            if ahead is not None:
                yield self._finish(*ahead.result(), role)

    def _screen(self, texts: list[str], role: str):
        """The cascade's cheap first stage, timed: (texts, screened, seconds)."""
        start = time.perf_counter()
        return texts, self.cascade.screen(texts, role=role), time.perf_counter() - start

    def _finish(self, texts: list[str], screened, screen_s: float, role: str, *, review: bool = True) -> list[Verdict]:
        """The cascade's second stage; each verdict's `latency_ms` is its share of both stages' time."""
        start = time.perf_counter()
        verdicts = self.cascade.finish(screened)
        per_text_ms = (screen_s + time.perf_counter() - start) * 1000 / max(len(texts), 1)
        for v in verdicts:
            v.latency_ms = round(per_text_ms, 3)
        return self.review(texts, verdicts, role) if review else verdicts

    def needs_review(self, verdicts: list[Verdict]) -> bool:
        """Whether `review` would ask the judge about any of these verdicts."""
        return self.judge is not None and any(self._ambiguous(v) for v in verdicts)

    def _ambiguous(self, verdict: Verdict) -> bool:
        # A judge without an `ambiguous` band reviews every verdict.
        ambiguous = getattr(self.judge, "ambiguous", None)
        return ambiguous is None or ambiguous(verdict)

    def review(self, texts: list[str], verdicts: list[Verdict], role: str = "input") -> list[Verdict]:
        """The local verdicts of `texts`, those in the judge's ambiguous band decided again with its answer.

        Without a judge, or when none is ambiguous, the verdicts come back unchanged. A judged verdict's
        `latency_ms` includes the judge's time; whatever goes wrong with the judge, the local verdict stands
        and its `judge` field says why.
        """
        if not self.needs_review(verdicts):
            return list(verdicts)
        from safewatch.detect.normalize import prepare

        start = time.perf_counter()
        # Only the ambiguous texts are read by the judge: only they are prepared again.
        prepared = [prepare(t, role) if self._ambiguous(v) else None for t, v in zip(texts, verdicts, strict=True)]
        out = self.judge.review(prepared, list(verdicts))
        spent_ms = (time.perf_counter() - start) * 1000
        for before, after in zip(verdicts, out, strict=True):
            if after.judge is not None:
                after.latency_ms = round(before.latency_ms + spent_ms, 3)
        return out

    def close(self) -> None:
        """Release the judge's connections and threads (the models stay shared by the process)."""
        close = getattr(self.judge, "close", None)
        if close is not None:
            close()


def _check_role(role: str) -> None:
    if role not in ("input", "output"):
        raise ValueError("role must be 'input' or 'output'")
