"""What the proxy does when the upstream misbehaves: retries, key rotation, fallback, canary, timeouts,
malformed answers. Every failure ends in a clear OpenAI-shaped error, never a hang."""

from __future__ import annotations

import openai
import pytest

from fakes.upstream import Reply
from safewatch.gateway.errors import unavailable_message
from safewatch.gateway.upstream import canary_bucket

MESSAGES = [{"role": "user", "content": "Say hello."}]


def _ask(gw, **kwargs):
    return gw.client().chat.completions.create(model="m", messages=kwargs.pop("messages", MESSAGES), **kwargs)


def test_429_is_retried_with_the_next_key(gateway, upstream):
    upstream.push(Reply.error(429, retry_after=0), Reply(text="Second time lucky."))
    assert _ask(gateway).choices[0].message.content == "Second time lucky."
    keys = [r.headers["authorization"] for r in upstream.requests]
    assert keys == ["Bearer sk-upstream-a", "Bearer sk-upstream-b"]


def test_500s_are_retried_then_the_fallback_answers(make_gateway, upstream):
    gw = make_gateway({"SAFEWATCH_FALLBACK_URL": upstream.openai_url, "SAFEWATCH_FALLBACK_KEY": "sk-fallback"})
    upstream.push(Reply.error(500), Reply.error(502), Reply.error(503), Reply(text="From the fallback."))
    raw = gw.client().chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "From the fallback."
    assert raw.headers["x-safewatch-upstream"] == "fallback"
    assert len(upstream.requests) == 4  # 1 try + 2 retries on the primary, then the fallback
    assert upstream.requests[-1].headers["authorization"] == "Bearer sk-fallback"


def test_a_retry_after_too_long_to_wait_for_goes_to_the_fallback(make_gateway, upstream):
    gw = make_gateway({"SAFEWATCH_FALLBACK_URL": upstream.openai_url, "SAFEWATCH_UPSTREAM_MAX_RETRY_AFTER": "5"})
    upstream.push(Reply.error(429, retry_after=120), Reply(text="Fallback."))
    assert _ask(gw).choices[0].message.content == "Fallback."
    assert len(upstream.requests) == 2


def test_when_every_upstream_fails_the_error_is_clear_and_localized(make_gateway, upstream):
    gw = make_gateway({"SAFEWATCH_UPSTREAM_RETRIES": "1"})
    upstream.push(*[Reply.error(500)] * 2)
    with pytest.raises(openai.APIStatusError) as err:
        _ask(gw, messages=[{"role": "user", "content": "Xin chào, bạn khỏe không?"}])
    assert err.value.status_code == 502
    assert err.value.body["message"] == unavailable_message("vi")
    assert err.value.body["code"] == "upstream_unavailable"


def test_a_hanging_upstream_times_out_with_a_504(make_gateway, upstream):
    gw = make_gateway({"SAFEWATCH_UPSTREAM_TIMEOUT": "0.3", "SAFEWATCH_UPSTREAM_RETRIES": "0"})
    upstream.push(Reply.hang(5))
    with pytest.raises(openai.APIStatusError) as err:
        _ask(gw)
    assert err.value.status_code == 504
    assert err.value.body["message"] == unavailable_message("en")


def test_a_stream_that_stalls_midway_ends_with_an_error_event(make_gateway, upstream):
    gw = make_gateway({"SAFEWATCH_UPSTREAM_TIMEOUT": "0.3", "SAFEWATCH_UPSTREAM_RETRIES": "0"})
    upstream.push(Reply(text="slow " * 20, chunk_delay_s=2))
    stream = _ask(gw, stream=True)
    with pytest.raises(openai.APIError) as err:
        for _ in stream:
            pass
    assert "timeout" in err.value.body["code"]


def test_malformed_json_answer_is_retried_then_a_502(make_gateway, upstream):
    gw = make_gateway({"SAFEWATCH_UPSTREAM_RETRIES": "1"})
    upstream.push(Reply(raw_body=b'{"choices": [ {"mess'), Reply(raw_body=b'{"no": "choices"}'))
    with pytest.raises(openai.APIStatusError) as err:
        _ask(gw)
    assert err.value.status_code == 502
    assert len(upstream.requests) == 2


def test_malformed_chunk_midstream_ends_with_an_error_event_not_a_hang(gateway, upstream):
    upstream.push(Reply(text="This answer breaks down half way through, sadly.", piece=4, malformed_after=3))
    stream = _ask(gateway, stream=True)
    received = ""
    with pytest.raises(openai.APIError) as err:
        for chunk in stream:
            received += chunk.choices[0].delta.content or ""
    assert err.value.body["code"] == "upstream_protocol"
    # Text the guard had not yet checked is never forwarded.
    assert "half way" not in received


def test_a_stream_that_fails_to_open_is_retried(gateway, upstream):
    upstream.push(Reply.error(503), Reply(text="Streamed after a retry."))
    text = "".join(c.choices[0].delta.content or "" for c in _ask(gateway, stream=True) if c.choices)
    assert text == "Streamed after a retry."


def test_a_stream_that_cannot_open_anywhere_is_a_plain_error_response(make_gateway, upstream):
    gw = make_gateway({"SAFEWATCH_UPSTREAM_RETRIES": "0"})
    upstream.push(Reply.error(500))
    with pytest.raises(openai.APIStatusError) as err:
        _ask(gw, stream=True)
    assert err.value.status_code == 502


@pytest.mark.parametrize(("status", "exc"), [(400, openai.BadRequestError), (404, openai.NotFoundError)])
def test_upstream_client_errors_are_passed_on_without_retries(make_gateway, upstream, status, exc):
    gw = make_gateway({"SAFEWATCH_FALLBACK_URL": upstream.openai_url})
    upstream.push(Reply.error(status, message="The model `nope` does not exist"))
    with pytest.raises(exc) as err:
        _ask(gw)
    assert "does not exist" in err.value.body["message"]
    assert len(upstream.requests) == 1


def test_anthropic_errors_are_retried_like_openais(make_gateway, upstream):
    gw = make_gateway({"SAFEWATCH_UPSTREAM_URL": upstream.anthropic_url, "SAFEWATCH_UPSTREAM_KIND": "anthropic"})
    upstream.push(Reply.error(529), Reply(text="Recovered."))
    assert _ask(gw).choices[0].message.content == "Recovered."


def test_anthropic_malformed_stream_event_is_an_error_event(make_gateway, upstream):
    gw = make_gateway({"SAFEWATCH_UPSTREAM_URL": upstream.anthropic_url, "SAFEWATCH_UPSTREAM_KIND": "anthropic"})
    upstream.push(Reply(text="abcdefghijklmnopqrstuvwxyz" * 3, piece=5, malformed_after=2))
    with pytest.raises(openai.APIError):
        for _ in _ask(gw, stream=True):
            pass


def _users(inside: bool, percent: float, n: int = 3) -> list[str]:
    found = [f"user-{i}" for i in range(1000) if (canary_bucket(f"user-{i}") < percent) == inside]
    return found[:n]


def test_canary_gets_a_stable_share_of_users(make_gateway, upstream):
    gw = make_gateway({"SAFEWATCH_CANARY_URL": upstream.openai_url, "SAFEWATCH_CANARY_KEY": "sk-canary",
                       "SAFEWATCH_CANARY_PERCENT": "30"})
    for user in _users(True, 30) + _users(False, 30):
        for _ in range(2):  # the same user lands on the same side every time
            raw = gw.client().chat.completions.with_raw_response.create(model="m", messages=MESSAGES, user=user)
            expected = "canary" if canary_bucket(user) < 30 else "upstream"
            assert raw.headers["x-safewatch-upstream"] == expected
    used = [r.headers["authorization"] for r in upstream.requests]
    assert used.count("Bearer sk-canary") == 6


def test_a_failing_canary_falls_back_to_the_primary(make_gateway, upstream):
    gw = make_gateway({"SAFEWATCH_CANARY_URL": upstream.openai_url, "SAFEWATCH_CANARY_PERCENT": "100",
                       "SAFEWATCH_UPSTREAM_RETRIES": "0"})
    upstream.push(Reply.error(500), Reply(text="Primary."))
    assert _ask(gw, user="anyone").choices[0].message.content == "Primary."
