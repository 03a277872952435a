"""Per-key rate limits (in process and shared through Redis) and `GET /metrics`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import httpx
import openai
import pytest

from fakes.upstream import Reply
from gateway.doubles import THREAT
from safewatch.auth import create_project


def test_rate_limit_per_key_is_a_429_with_retry_after(make_gateway):
    gw = make_gateway({"SAFEWATCH_RATE_LIMIT_PER_MINUTE": "3"})
    client = gw.client()
    for _ in range(3):
        client.moderations.create(input="hi")
    with pytest.raises(openai.RateLimitError) as err:
        client.moderations.create(input="hi")
    assert int(err.value.response.headers["retry-after"]) >= 1
    assert err.value.body["code"] == "rate_limit_exceeded"
    # Another key of another project has its own allowance.
    other = create_project(gw.app.state.db, "other")
    r = httpx.post(f"{gw.base_url}/v1/moderations", json={"input": "hi"},
                   headers={"Authorization": f"Bearer {other.secret_key}"})
    assert r.status_code == 200


@pytest.fixture
def redis_url(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_redis_rate_limit_is_shared_by_every_replica(make_gateway, redis_url):
    env = {"SAFEWATCH_RATE_LIMIT_PER_MINUTE": "4", "SAFEWATCH_REDIS_URL": redis_url}
    one = make_gateway(env)
    # Two replicas on one database and one Redis: the second knows the key's allowance is spent.
    two = make_gateway(env, database_url=one.app.state.settings.database_url)
    key = create_project(one.app.state.db, "shared")
    statuses = []
    for i in range(6):
        gw = one if i % 2 else two
        r = httpx.post(f"{gw.base_url}/v1/moderations", json={"input": "hi"},
                       headers={"Authorization": f"Bearer {key.secret_key}"})
        statuses.append(r.status_code)
    assert statuses == [200, 200, 200, 200, 429, 429]
    assert int(r.headers["retry-after"]) >= 1


def test_metrics_count_requests_latency_flags_and_upstream_retries(gateway, upstream):
    client = gateway.client()
    client.moderations.create(input=["hello", THREAT])
    upstream.push(Reply.error(429, retry_after=0), Reply(text="ok"))
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])

    r = httpx.get(f"{gateway.base_url}/metrics", headers=gateway.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'safewatch_http_requests_total{method="POST",route="/v1/moderations",status="200"} 1.0' in text
    assert 'safewatch_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/v1/moderations"} 1.0' in text
    assert 'safewatch_flagged_total{action="block",category="harassment/threatening",role="input"} 1.0' in text
    assert 'safewatch_verdicts_total{action="allow",role="input"} 2.0' in text  # "hello" and "hi"
    assert 'safewatch_upstream_retries_total{kind="status",upstream="upstream"} 1.0' in text
    assert 'safewatch_upstream_requests_total{upstream="upstream"} 1.0' in text
    assert "safewatch_detector_batch_size_bucket" in text


def test_metrics_need_a_key_unless_made_public(make_gateway):
    assert httpx.get(f"{make_gateway().base_url}/metrics").status_code == 401
    public = make_gateway({"SAFEWATCH_METRICS_PUBLIC": "1"})
    assert httpx.get(f"{public.base_url}/metrics").status_code == 200
