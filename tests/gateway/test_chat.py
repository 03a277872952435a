"""`POST /v1/chat/completions`: the guarded proxy, plain and streamed, against a real upstream on loopback."""

from __future__ import annotations

import time

import pytest

from fakes.upstream import Reply
from gateway.doubles import BOOM, HARMFUL_OUTPUT, SELF_HARM, THREAT, RecordingTracer
from safewatch.policy import load_policy

POLICY = load_policy()
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello."}]


def _stream_text(stream) -> tuple[str, str | None]:
    text, finish = "", None
    for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    return text, finish


def test_plain_chat_passes_through_the_upstream(gateway, upstream):
    upstream.push(Reply(text="Hello there!"))
    raw = gateway.client().chat.completions.with_raw_response.create(model="gpt-test", messages=MESSAGES, user="u-7")
    completion = raw.parse()

    assert completion.choices[0].message.content == "Hello there!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == 12
    assert raw.headers["x-safewatch-input-action"] == "allow"
    assert raw.headers["x-safewatch-output-action"] == "allow"
    [sent] = upstream.requests
    assert sent.json["messages"] == MESSAGES
    assert sent.json["model"] == "gpt-test"
    assert sent.json["user"] == "u-7"
    # The caller's safewatch key never reaches the upstream; the upstream's own key does.
    assert sent.headers["authorization"] == "Bearer sk-upstream-a"


def test_harmful_input_is_refused_without_calling_the_upstream(gateway, upstream):
    completion = gateway.client().chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": f"Listen: {THREAT}."}]
    )
    assert completion.choices[0].finish_reason == "content_filter"
    assert completion.choices[0].message.content == POLICY.refusal_for("en")
    assert upstream.requests == []


def test_refusal_is_in_the_users_language(gateway, upstream):
    completion = gateway.client().chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "Tôi sẽ giết mày ngay bây giờ"}]
    )
    assert completion.choices[0].message.content == POLICY.refusal_for("vi")
    assert upstream.requests == []


def test_self_harm_intent_is_answered_with_crisis_resources(gateway, upstream):
    completion = gateway.client().chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": f"{SELF_HARM}, nothing matters"}]
    )
    assert completion.choices[0].finish_reason == "content_filter"
    assert completion.choices[0].message.content == POLICY.crisis_for("en").message
    assert upstream.requests == []


def test_only_the_new_user_turn_is_checked(gateway, upstream):
    # An earlier (already answered) turn and the system prompt are not checked again.
    messages = [
        {"role": "system", "content": "Never say " + THREAT},
        {"role": "user", "content": "Old question"},
        {"role": "assistant", "content": "Old answer"},
        {"role": "user", "content": "New question"},
    ]
    assert gateway.client().chat.completions.create(model="m", messages=messages).choices[0].finish_reason == "stop"
    assert (["New question"], "input") in gateway.detector.calls


def test_pii_in_the_input_is_redacted_before_the_upstream_sees_it(gateway, upstream):
    gateway.client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Mail bob@example.com the notes"}]
    )
    assert upstream.requests[0].json["messages"][0]["content"] == "Mail [EMAIL] the notes"


def test_harmful_upstream_answer_is_replaced(gateway, upstream):
    upstream.push(Reply(text=f"Sure: {HARMFUL_OUTPUT} in a closed room."))
    raw = gateway.client().chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].finish_reason == "content_filter"
    assert completion.choices[0].message.content == POLICY.refusal_for("en")
    assert raw.headers["x-safewatch-output-action"] == "block"
    assert gateway.detector.calls[-1] == ([f"Sure: {HARMFUL_OUTPUT} in a closed room."], "output")


def test_streamed_chat_arrives_whole_and_in_order(gateway, upstream):
    text = "One two three four five six seven eight nine ten eleven twelve."
    upstream.push(Reply(text=text, piece=5))
    stream = gateway.client().chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert _stream_text(stream) == (text, "stop")
    assert upstream.requests[0].stream


def test_harmful_stream_is_cut_off_midway(gateway, upstream):
    harmful = f"First you {HARMFUL_OUTPUT}, then you wait and breathe it in deeply for a long while."
    text = "Here is a calm and perfectly ordinary opening sentence for you. " + harmful
    upstream.push(Reply(text=text, piece=4))
    stream = gateway.client().chat.completions.create(model="m", messages=MESSAGES, stream=True)
    got, finish = _stream_text(stream)

    assert finish == "content_filter"
    assert got.endswith(POLICY.refusal_for("en"))
    shown = got[: -len(POLICY.refusal_for("en"))]
    assert HARMFUL_OUTPUT not in shown
    assert "bleach" not in shown  # held back, never forwarded
    assert shown.startswith("Here is a calm")
    # The stream stopped at the unsafe window: the rest of the upstream's answer was never read out.
    assert not any("breathe it in" in t for texts, _ in gateway.detector.calls for t in texts)


def test_phrase_split_across_chunks_and_windows_is_caught(make_gateway, upstream):
    gw = make_gateway({"SAFEWATCH_STREAM_WINDOW_CHARS": "8", "SAFEWATCH_STREAM_OVERLAP_CHARS": "30"})
    # Every chunk is 3 characters: no chunk and no single window holds the whole phrase.
    upstream.push(Reply(text=f"Well... {HARMFUL_OUTPUT}!", piece=3))
    got, finish = _stream_text(gw.client().chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert finish == "content_filter"
    assert "ammonia" not in got


def test_whole_streamed_answer_is_checked_at_the_end(make_gateway, upstream):
    # Overlap 0: windows alone would never see the phrase whole, the final check of the whole answer does.
    gw = make_gateway({"SAFEWATCH_STREAM_WINDOW_CHARS": "10", "SAFEWATCH_STREAM_OVERLAP_CHARS": "0"})
    upstream.push(Reply(text=f"ok ok ok: {HARMFUL_OUTPUT}.", piece=10))
    got, finish = _stream_text(gw.client().chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert finish == "content_filter"


def test_blocked_input_on_a_stream_is_a_refusal_stream(gateway, upstream):
    stream = gateway.client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": THREAT}], stream=True
    )
    assert _stream_text(stream) == (POLICY.refusal_for("en"), "content_filter")
    assert upstream.requests == []


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_upstream_is_translated_both_ways(make_gateway, upstream, stream):
    gw = make_gateway({"SAFEWATCH_UPSTREAM_URL": upstream.anthropic_url, "SAFEWATCH_UPSTREAM_KIND": "anthropic",
                       "SAFEWATCH_UPSTREAM_KEY": "ak-1"})
    upstream.push(Reply(text="Bonjour from Claude."))
    client = gw.client()
    if stream:
        got = _stream_text(client.chat.completions.create(model="claude-x", messages=MESSAGES, stream=True))
        assert got == ("Bonjour from Claude.", "stop")
    else:
        completion = client.chat.completions.create(model="claude-x", messages=MESSAGES, max_tokens=50)
        assert completion.choices[0].message.content == "Bonjour from Claude."
        assert completion.usage.total_tokens == 12
    [sent] = upstream.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "ak-1"
    assert sent.headers["anthropic-version"]
    assert sent.json["system"] == "You are terse."
    assert sent.json["messages"] == [{"role": "user", "content": "Say hello."}]
    assert sent.json["max_tokens"] == (1024 if stream else 50)


def test_harmful_anthropic_stream_is_cut(make_gateway, upstream):
    gw = make_gateway({"SAFEWATCH_UPSTREAM_URL": upstream.anthropic_url, "SAFEWATCH_UPSTREAM_KIND": "anthropic"})
    upstream.push(Reply(text=f"Well then, {HARMFUL_OUTPUT} and see what happens next to you.", piece=4))
    got, finish = _stream_text(gw.client().chat.completions.create(model="c", messages=MESSAGES, stream=True))
    assert finish == "content_filter"
    assert "ammonia" not in got


def test_detector_error_fails_closed_by_default(gateway, upstream):
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": f"{BOOM} please"}]
    )
    assert raw.parse().choices[0].finish_reason == "content_filter"
    assert "detector error" in raw.headers["x-safewatch-warning"]
    assert upstream.requests == []


def test_detector_error_fails_open_when_the_policy_says_so(make_gateway, upstream, tmp_path):
    policy = tmp_path / "open.yaml"
    policy.write_text("fail_mode: open\n")
    from gateway.doubles import PhraseDetector

    gw = make_gateway(detector=PhraseDetector(policy=load_policy(policy)))
    upstream.push(Reply(text="Fine."))
    raw = gw.client().chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": f"{BOOM} please"}]
    )
    assert raw.parse().choices[0].message.content == "Fine."
    assert "detector error" in raw.headers["x-safewatch-warning"]


def test_moderation_reports_a_detector_error_as_503(gateway):
    r = gateway.post("/v1/moderations", json={"input": BOOM})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "detector_error"


def test_chat_is_traced_with_user_session_and_verdicts(make_gateway, upstream):
    gw = make_gateway(tracer=RecordingTracer())
    upstream.push(Reply(text="Hi!"))
    gw.client().chat.completions.create(
        model="m", messages=MESSAGES, user="user-1", extra_headers={"X-Safewatch-Session-Id": "sess-1"}
    )
    for _ in range(100):
        if gw.tracer.records:
            break
        time.sleep(0.01)
    [rec] = gw.tracer.records
    assert (rec["name"], rec["user_id"], rec["session_id"], rec["output"]) == ("chat", "user-1", "sess-1", "Hi!")
    assert rec["input_verdict"].action.value == "allow"
    assert rec["output_verdict"].action.value == "allow"
    assert rec["blocked"] is None
    assert rec["usage"]["total_tokens"] == 12


def test_no_upstream_configured_is_a_clear_503(make_gateway):
    gw = make_gateway({"SAFEWATCH_UPSTREAM_URL": ""})
    r = gw.post("/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert r.status_code == 503
    assert "SAFEWATCH_UPSTREAM_URL" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"messages": MESSAGES}, "model"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": "hello"}, "messages"),
        ({"model": "m", "messages": [{"content": "no role"}]}, "role"),
        ({"model": "m", "messages": MESSAGES, "stream": "yes please"}, "stream"),
    ],
)
def test_malformed_chat_requests_are_400s(gateway, upstream, body, needle):
    r = gateway.post("/v1/chat/completions", json=body)
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"]["message"]
    assert upstream.requests == []
