"""The whole product as a user runs it: `safewatch serve` in a subprocess with the real detector, a project
made with `safewatch projects create`, the official openai SDK, and an upstream on loopback.

Only the contract is asserted, plus verdicts on texts no sensible detector could miss; the detector's accuracy
is measured by its own tests and benchmarks."""

from __future__ import annotations

import httpx
import openai
import pytest

from fakes.upstream import Reply
from safewatch.taxonomy import OPENAI_CATEGORIES

pytestmark = pytest.mark.slow

THREAT = "I will kill you tomorrow, you worthless pig."
MESSAGES = [{"role": "user", "content": "Hello, how are you today?"}]


@pytest.fixture(scope="module")
def live(server_factory, _upstream_server):
    srv = server_factory(env={"SAFEWATCH_UPSTREAM_URL": _upstream_server.openai_url,
                              "SAFEWATCH_UPSTREAM_KEY": "sk-up", "SAFEWATCH_UPSTREAM_RETRIES": "1",
                              "SAFEWATCH_UPSTREAM_BACKOFF_BASE": "0.01"})
    return srv, srv.create_project()


@pytest.fixture
def client(live, upstream) -> openai.OpenAI:
    _, keys = live
    return openai.OpenAI(base_url=f"{keys.base_url}/v1", api_key=keys.secret_key, max_retries=0, timeout=30)


def test_moderations_with_the_real_detector(client):
    single = client.moderations.create(input=THREAT, model="omni-moderation-latest")
    [r] = single.results
    assert r.flagged is True
    assert set(r.model_dump(by_alias=True)["categories"]) == set(OPENAI_CATEGORIES)
    assert r.model_extra["safewatch"]["action"] == "block"

    many = client.moderations.create(input=["Hello, how are you today?", THREAT, "Xin chào bạn"])
    assert [x.flagged for x in many.results] == [False, True, False]
    assert many.results[2].model_extra["safewatch"]["language"] == "vi"


def test_chat_plain_streamed_and_blocked(client, upstream):
    upstream.push(Reply(text="I am fine, thank you!"))
    assert client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == (
        "I am fine, thank you!"
    )

    upstream.push(Reply(text="Streaming along nicely, thank you for asking.", piece=5))
    chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Streaming along nicely, thank you for asking."
    )

    blocked = client.chat.completions.create(model="m", messages=[{"role": "user", "content": THREAT}])
    assert blocked.choices[0].finish_reason == "content_filter"
    assert len(upstream.requests) == 2  # the blocked one never reached the upstream


def test_harmful_stream_is_cut_with_the_real_detector(client, upstream):
    upstream.push(Reply(text=f"Okay, here is my answer for you. {THREAT} That is all I have to say.", piece=4))
    chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert "worthless pig" not in text


def test_health_is_open_and_the_rest_needs_a_key(live):
    srv, _ = live
    assert httpx.get(f"{srv.base_url}/api/public/health").status_code == 200
    for path in ("/v1/moderations", "/v1/chat/completions", "/api/v1/check"):
        r = httpx.post(f"{srv.base_url}{path}", json={})
        assert r.status_code == 401, path
