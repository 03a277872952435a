"""The optional LLM judge behind the gateway: configured like a deployment, asked only about ambiguous texts,
never holding up other requests, and never failing one.

The detector is the real `Detector` with the default policy, rules only (no models), plus one rule that scores
"muppet" inside the judge's ambiguous band; the judge is the loopback fake speaking OpenAI's wire format.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from fakes.upstream import Reply
from safewatch import Detector
from safewatch.config import ConfigError, Settings
from safewatch.detect.judge import JudgeConfig, LLMJudge
from safewatch.policy import load_policy
from safewatch.policy.model import RegexRule
from safewatch.server.app import create_app
from safewatch.taxonomy import JUDGE_CATEGORY_MAP

AMBIGUOUS = "you are such a muppet"


def answer(**scores: float) -> str:
    cats = {name: {"score": scores.get(name, 0.02), "detected": scores.get(name, 0.02) >= 0.5,
                   "reason": f"{name} found" if scores.get(name, 0.02) >= 0.5 else ""} for name in JUDGE_CATEGORY_MAP}
    unsafe = any(c["detected"] for c in cats.values())
    return json.dumps({"is_safe": not unsafe, "overall_score": max(c["score"] for c in cats.values()),
                       "recommendation": "block" if unsafe else "allow", "categories": cats})


def judged_detector(url: str, **config) -> Detector:
    policy = load_policy().model_copy(deep=True)
    policy.categories["harassment"].rules.regexes.append(RegexRule(id="muppet", pattern=r"\bmuppet\b", score=0.4))
    judge = JudgeConfig(base_url=url, api_key="sk-judge", model="judge-model", **config)
    return Detector(policy, semantic=False, classifier=False, judge=judge)


def moderate(gateway, text: str) -> dict:
    r = gateway.post("/v1/moderations", json={"input": text})
    assert r.status_code == 200, r.text
    return r.json()["results"][0]


def test_an_ambiguous_text_is_decided_by_the_judge(make_gateway, upstream):
    gateway = make_gateway(detector=judged_detector(upstream.openai_url))
    upstream.push(Reply(text=answer(toxicity=0.92)))

    plain = moderate(gateway, "good morning, how are you?")
    judged = moderate(gateway, AMBIGUOUS)

    assert len(upstream.requests) == 1  # only the ambiguous text went to the judge
    assert plain["flagged"] is False and plain["safewatch"]["judge"] is None
    assert judged["flagged"] is True and judged["categories"]["harassment"] is True
    assert judged["safewatch"]["decided_by"] == "judge"
    assert judged["safewatch"]["judge"]["used"] is True and judged["safewatch"]["judge"]["model"] == "judge-model"
    assert "misinformation" in judged["safewatch"]["category_scores"]
    metrics = httpx.get(f"{gateway.base_url}/metrics", headers=gateway.headers).text
    assert 'safewatch_judge_reviews_total{outcome="used",role="input"} 1.0' in metrics


def test_in_one_batch_only_the_ambiguous_text_is_judged(make_gateway, upstream):
    gateway = make_gateway(detector=judged_detector(upstream.openai_url))
    upstream.push(Reply(text=answer(toxicity=0.92)))

    r = gateway.post("/v1/moderations", json={"input": ["good morning", AMBIGUOUS, "see you tomorrow"]})

    assert r.status_code == 200, r.text
    plain, judged, later = r.json()["results"]
    assert len(upstream.requests) == 1 and AMBIGUOUS in json.dumps(upstream.requests[0].json)
    assert judged["flagged"] is True and judged["safewatch"]["decided_by"] == "judge"
    for result in (plain, later):
        assert result["flagged"] is False and result["safewatch"]["judge"] is None


def test_a_slow_judge_holds_up_only_the_request_it_judges(make_gateway, upstream):
    gateway = make_gateway(detector=judged_detector(upstream.openai_url, timeout_s=10))
    upstream.push(Reply(text=answer(toxicity=0.92), hang_s=2.0))
    finished: list[str] = []

    def slow() -> None:
        moderate(gateway, AMBIGUOUS)
        finished.append("judged")

    thread = threading.Thread(target=slow)
    thread.start()
    deadline = time.monotonic() + 10
    while not upstream.requests and time.monotonic() < deadline:
        time.sleep(0.01)  # the judge has been asked and is thinking
    assert upstream.requests
    assert moderate(gateway, "what a lovely morning")["flagged"] is False
    finished.append("plain")
    thread.join(timeout=15)
    assert finished == ["plain", "judged"]


def test_an_unreachable_judge_leaves_the_local_verdict(make_gateway):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"  # nothing listens here once closed
    gateway = make_gateway(detector=judged_detector(dead, timeout_s=2))

    result = moderate(gateway, AMBIGUOUS)

    assert result["flagged"] is False  # 0.4 is under the threshold: the local verdict stands
    assert result["category_scores"]["harassment"] == pytest.approx(0.4)
    assert result["safewatch"]["judge"]["used"] is False
    assert "cannot reach the judge" in result["safewatch"]["judge"]["error"]


def test_the_server_takes_its_judge_from_the_environment(tmp_path):
    env = {"SAFEWATCH_JUDGE_URL": "http://127.0.0.1:9/v1", "SAFEWATCH_JUDGE_MODEL": "judge-model",
           "SAFEWATCH_JUDGE_KEY": "sk-judge", "SAFEWATCH_JUDGE_BAND": "0.3,0.7"}
    settings = Settings.load(env, data_dir=tmp_path, warm_up=False, scoring_enabled=False)
    app = create_app(settings)
    try:
        assert isinstance(app.state.detector.judge, LLMJudge)
        assert app.state.detector.judge.config.band == (0.3, 0.7)
    finally:
        app.state.detector.close()
    assert create_app(Settings(data_dir=tmp_path, warm_up=False)).state.detector.judge is None
    with pytest.raises(ConfigError, match="SAFEWATCH_JUDGE_MODEL"):
        Settings.load({"SAFEWATCH_JUDGE_URL": "http://127.0.0.1:9/v1"}, data_dir=tmp_path)


def test_the_config_file_may_hold_the_judge(tmp_path):
    config = tmp_path / "safewatch.yaml"
    config.write_text("judge:\n  base_url: http://127.0.0.1:9/v1\n  model: small\n  weight: 0.5\n", encoding="utf-8")
    settings = Settings.load({"SAFEWATCH_CONFIG": str(config), "SAFEWATCH_JUDGE_MODEL": "large"}, data_dir=tmp_path)
    assert (settings.judge.model, settings.judge.weight) == ("large", 0.5)
