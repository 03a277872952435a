"""The gateway's parts on their own: retry policy, canary split, token bucket, settings, the stream guard,
Anthropic translation and the micro-batcher."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest

from gateway.doubles import HARMFUL_OUTPUT, PhraseDetector
from safewatch.config import ConfigError
from safewatch.gateway.batcher import MicroBatcher
from safewatch.gateway.ratelimit import TokenBucketLimiter
from safewatch.gateway.settings import GatewaySettings
from safewatch.gateway.streaming import StreamGuard
from safewatch.gateway.upstream import (
    KeyRing,
    RetryPolicy,
    UpstreamStatusError,
    UpstreamTimeout,
    canary_bucket,
    parse_retry_after,
    with_retries,
)
from safewatch.gateway.upstream.anthropic import from_anthropic, to_anthropic
from safewatch.verdict import Action

# --- retries ---------------------------------------------------------------------------------------------


def test_retry_after_in_seconds_milliseconds_and_http_date():
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_backoff_is_full_jitter_under_an_exponential_cap():
    policy = RetryPolicy(max_retries=10, base_s=0.5, cap_s=3.0, rng=random.Random(1))
    err = UpstreamStatusError("boom", status=500)
    for attempt in range(6):
        delays = [policy.delay(attempt, err) for _ in range(200)]
        assert all(0 <= d <= min(3.0, 0.5 * 2**attempt) for d in delays)
        assert max(delays) > 0.8 * min(3.0, 0.5 * 2**attempt)  # the whole range is used


def test_retry_after_wins_over_backoff_up_to_a_limit():
    policy = RetryPolicy(max_retries=3, max_retry_after_s=10)
    assert policy.delay(0, UpstreamStatusError("slow down", status=429, retry_after_s=7)) == 7
    assert policy.delay(0, UpstreamStatusError("slow down", status=429, retry_after_s=70)) is None


def test_what_is_retried():
    policy = RetryPolicy(max_retries=1)
    assert policy.delay(0, UpstreamStatusError("x", status=400)) is None
    assert policy.delay(0, UpstreamStatusError("x", status=401)) is None
    assert policy.delay(0, UpstreamTimeout("x")) is not None
    assert policy.delay(1, UpstreamTimeout("x")) is None  # retries spent


def test_with_retries_rotates_keys_and_stops_when_told():
    keys, seen = KeyRing(["a", "b", "c"]), []

    async def attempt(key: str) -> str:
        seen.append(key)
        if len(seen) < 3:
            raise UpstreamStatusError("busy", status=503)
        return "done"

    policy = RetryPolicy(max_retries=5, base_s=0.0)
    assert asyncio.run(with_retries(attempt, keys=keys, policy=policy)) == "done"
    assert seen == ["a", "b", "c"]


# --- canary, rate limits, settings -----------------------------------------------------------------------


def test_canary_bucket_is_stable_and_spreads_users_evenly():
    assert canary_bucket("alice") == canary_bucket("alice")
    buckets = [canary_bucket(f"user-{i}") for i in range(4000)]
    assert all(0 <= b < 100 for b in buckets)
    share = sum(b < 25 for b in buckets) / len(buckets)
    assert 0.22 < share < 0.28


def test_token_bucket_allows_bursts_then_refills():
    now = [0.0]
    bucket = TokenBucketLimiter(60, clock=lambda: now[0])  # one a second, bursts of 60

    async def run():
        assert all([await bucket.hit("k") is None for _ in range(60)])
        wait = await bucket.hit("k")
        assert wait == pytest.approx(1.0)
        assert await bucket.hit("other") is None
        now[0] += 1.0
        assert await bucket.hit("k") is None

    asyncio.run(run())


def test_settings_from_yaml_then_env(tmp_path):
    config = tmp_path / "safewatch.yaml"
    config.write_text(
        "gateway:\n"
        "  upstream: {base_url: 'https://api.example.com/v1/', keys: ['k1', 'k2']}\n"
        "  fallback: {base_url: 'https://api.anthropic.com', kind: anthropic}\n"
        "  max_retries: 5\n"
    )
    s = GatewaySettings.load({"SAFEWATCH_CONFIG": str(config), "SAFEWATCH_UPSTREAM_RETRIES": "1",
                              "SAFEWATCH_FALLBACK_KEY": "a1, a2", "SAFEWATCH_CANARY_PERCENT": "12.5"})
    assert s.upstream.base_url == "https://api.example.com/v1"
    assert s.upstream.keys == ["k1", "k2"]
    assert (s.fallback.kind, s.fallback.keys) == ("anthropic", ["a1", "a2"])
    assert s.max_retries == 1
    assert s.canary is None and s.canary_percent == 12.5


@pytest.mark.parametrize("env", [{"SAFEWATCH_UPSTREAM_URL": "ftp://x"}, {"SAFEWATCH_CANARY_PERCENT": "150"},
                                 {"SAFEWATCH_UPSTREAM_URL": "http://x", "SAFEWATCH_UPSTREAM_KIND": "cohere"}])
def test_bad_settings_are_a_config_error(env):
    with pytest.raises(ConfigError):
        GatewaySettings.load(env)


# --- the stream guard ------------------------------------------------------------------------------------


def _chunk(content: str | None = None, finish: str | None = None, role: str | None = None) -> dict:
    delta = {k: v for k, v in (("role", role), ("content", content)) if v is not None}
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _guard(detector: PhraseDetector, **kwargs) -> StreamGuard:
    async def check(texts):
        return detector.check_batch(texts, "output")

    return StreamGuard(check=check, fallback=lambda v: "[filtered]", **kwargs)


def _run(guard: StreamGuard, pieces: list[str]) -> list[dict]:
    async def go():
        out = list(await guard.feed(_chunk(role="assistant", content="")))
        for p in pieces:
            out += await guard.feed(_chunk(p))
            if guard.cut_by:
                return out
        out += await guard.feed(_chunk(finish="stop"))
        return out + await guard.finish()

    return asyncio.run(go())


def _text(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_guard_holds_text_until_a_window_is_checked():
    detector = PhraseDetector()
    guard = _guard(detector, window=10, overlap=4)

    async def go():
        first = await guard.feed(_chunk(role="assistant", content=""))
        assert len(first) == 1  # the role passes at once: no text is held
        assert await guard.feed(_chunk("Hello ")) == []  # 6 chars: under the window, held
        released = await guard.feed(_chunk("world!"))  # 12 chars: checked and released together
        assert _text(released) == "Hello world!"
        assert detector.calls[-1] == (["Hello world!"], "output")
        await guard.feed(_chunk(" Bye now, all."))
        assert detector.calls[-1] == (["rld! Bye now, all."], "output")  # with 4 chars of overlap

    asyncio.run(go())


def test_guard_releases_everything_safe_in_order():
    pieces = ["The ", "quick ", "brown ", "fox ", "jumps ", "over ", "the ", "lazy ", "dog."]
    out = _run(_guard(PhraseDetector(), window=12, overlap=5), pieces)
    assert _text(out) == "".join(pieces)
    assert out[-1]["choices"][0]["finish_reason"] == "stop"


def test_guard_cuts_on_an_unsafe_window_and_forwards_none_of_it():
    text = f"Sure thing. Now {HARMFUL_OUTPUT} and stir well for ten minutes."
    guard = _guard(PhraseDetector(), window=16, overlap=24)
    out = _run(guard, [text[i:i + 3] for i in range(0, len(text), 3)])
    assert guard.cut_by is not None and guard.cut_by.action == Action.BLOCK
    assert out[-1]["choices"][0]["finish_reason"] == "content_filter"
    assert _text(out).endswith("[filtered]")
    assert "ammonia" not in _text(out)
    assert "minutes" not in guard.text()  # reading stopped at the cut


def test_guard_checks_the_whole_answer_before_letting_the_stream_end():
    # No overlap: windows never see the phrase whole; the final check of the whole answer does, and the
    # upstream's "stop" is replaced by "content_filter" rather than followed by it.
    guard = _guard(PhraseDetector(), window=10, overlap=0)
    out = _run(guard, ["Fine: mix bl", "each and am", "monia now."])
    finishes = [ch["finish_reason"] for c in out for ch in c["choices"] if ch.get("finish_reason")]
    assert finishes == ["content_filter"]
    assert guard.cut_by is not None


def test_guard_masks_pii_in_released_text():
    out = _run(_guard(PhraseDetector(), window=20, overlap=5), ["Write to ", "jane@example.com", " today please."])
    assert "jane@example.com" not in _text(out)
    assert "[EMAIL]" in _text(out)
    assert _text(out).startswith("Write to ")


# --- Anthropic translation -------------------------------------------------------------------------------


def test_openai_request_as_anthropic_messages():
    body = {"model": "claude", "temperature": 0.2, "stop": "END", "user": "u1", "max_tokens": 77,
            "messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                         {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Again"}]}
    out = to_anthropic(body, default_max_tokens=1024)
    assert out == {
        "model": "claude", "max_tokens": 77, "system": "Be brief.", "temperature": 0.2,
        "stop_sequences": ["END"], "metadata": {"user_id": "u1"},
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                     {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Again"}],
    }


def test_anthropic_answer_as_openai_completion():
    out = from_anthropic({"id": "msg_1", "model": "claude", "stop_reason": "max_tokens",
                          "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}],
                          "usage": {"input_tokens": 3, "output_tokens": 2}})
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "Hello"}
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


# --- the micro-batcher -----------------------------------------------------------------------------------


class GatedDetector(PhraseDetector):
    """Holds its first batch until the test opens the gate, like a model busy with a batch."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()
        self.busy = threading.Event()
        self.threads: set[str] = set()

    def check_batch(self, texts, role="input"):
        self.threads.add(threading.current_thread().name)
        self.busy.set()
        self.gate.wait(10)
        return super().check_batch(texts, role)


def test_checks_arriving_while_the_detector_is_busy_go_as_one_batch_off_the_event_loop():
    detector = GatedDetector()

    async def go():
        batcher = MicroBatcher(detector, max_batch=64)
        await batcher.start()
        first = asyncio.create_task(batcher.check("first"))
        # The event loop stays free while the detector works in its thread: this wait would hang otherwise.
        while not detector.busy.is_set():
            await asyncio.sleep(0.001)
        rest = [asyncio.create_task(batcher.check(f"text {i}")) for i in range(39)]
        await asyncio.sleep(0)
        detector.gate.set()
        verdicts = await asyncio.gather(first, *rest)
        await batcher.stop()
        return verdicts

    verdicts = asyncio.run(go())
    assert len(verdicts) == 40
    assert [len(texts) for texts, _ in detector.calls] == [1, 39]
    assert detector.threads and all(t.startswith("safewatch-detect") for t in detector.threads)


def test_batches_are_capped():
    detector = GatedDetector()
    detector.gate.set()

    async def go():
        batcher = MicroBatcher(detector, max_batch=8)
        await asyncio.gather(*(batcher.check(f"t{i}") for i in range(20)))
        await batcher.stop()

    asyncio.run(go())
    assert [len(texts) for texts, _ in detector.calls] == [8, 8, 4]


def test_batcher_keeps_roles_apart_and_a_failing_text_fails_only_its_own_caller():
    detector = PhraseDetector()

    async def go():
        batcher = MicroBatcher(detector)
        a, b, c = await asyncio.gather(batcher.check("x", "input"), batcher.check("y", "output"),
                                       batcher.check("detector-boom"), return_exceptions=True)
        await batcher.stop()
        return a, b, c

    a, b, c = asyncio.run(go())
    assert isinstance(c, RuntimeError)
    assert a.action == Action.ALLOW and b.action == Action.ALLOW
    assert {role for _, role in detector.calls} == {"input", "output"}
