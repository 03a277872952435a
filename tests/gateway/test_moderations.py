"""`POST /v1/moderations` and `POST /api/v1/check`, driven with the official openai SDK."""

from __future__ import annotations

import openai
import pytest

from gateway.doubles import THREAT
from safewatch.taxonomy import OPENAI_CATEGORIES, SAFEWATCH_CATEGORIES


def test_single_input_has_openais_schema_and_the_safewatch_extension(gateway):
    result = gateway.client().moderations.create(input=f"{THREAT}, tonight.", model="omni-moderation-latest")

    assert result.model == "omni-moderation-latest"
    assert result.id.startswith("modr-")
    [r] = result.results
    assert r.flagged is True
    assert r.categories.harassment_threatening is True
    assert r.categories.sexual is False
    assert r.category_scores.harassment_threatening > r.category_scores.sexual
    raw = r.model_dump(by_alias=True)
    assert set(raw["categories"]) == set(OPENAI_CATEGORIES)
    assert set(raw["category_scores"]) == set(OPENAI_CATEGORIES)
    assert raw["category_applied_input_types"]["violence"] == ["text"]
    extension = r.model_extra["safewatch"]
    assert extension["action"] == "block"
    assert set(extension["categories"]) == set(SAFEWATCH_CATEGORIES)
    assert extension["matches"][0]["rule"] == THREAT
    assert extension["language"] == "en"


def test_list_input_gives_one_result_per_text_in_order(gateway):
    texts = ["What a lovely morning.", THREAT, "write me to ann@example.com"]
    result = gateway.client().moderations.create(input=texts)

    assert result.model == "safewatch-default"
    assert [r.flagged for r in result.results] == [False, True, True]
    assert result.results[2].model_extra["safewatch"]["categories"]["privacy"] is True
    assert result.results[2].model_extra["safewatch"]["redacted_text"] == "write me to [EMAIL]"
    # Three texts from one request reach the detector as one batch.
    assert ([*texts], "input") in gateway.detector.calls


def test_text_parts_are_one_multimodal_input(gateway):
    result = gateway.client().moderations.create(
        input=[{"type": "text", "text": "I will kill"}, {"type": "text", "text": "you"}]
    )
    assert len(result.results) == 1
    # Parts are joined with a newline, which the detector reads as a space.
    assert result.results[0].flagged is True


@pytest.mark.parametrize("model", ["text-moderation-latest", "safewatch-default"])
def test_known_model_names_are_accepted(gateway, model):
    assert gateway.client().moderations.create(input="hi", model=model).model == model


def test_unknown_model_is_a_404_in_openais_shape(gateway):
    with pytest.raises(openai.NotFoundError) as err:
        gateway.client().moderations.create(input="hi", model="gpt-4o")
    assert err.value.body["code"] == "model_not_found"
    assert "gpt-4o" in err.value.body["message"]


def test_wrong_or_missing_key_is_a_401_in_openais_shape(gateway):
    bad = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        bad.moderations.create(input="hi")
    assert err.value.status_code == 401
    assert err.value.body["message"]

    r = gateway.post("/v1/moderations", json={"input": "hi"}, headers={})
    assert r.status_code == 401
    assert set(r.json()["error"]) >= {"message", "type", "code"}


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"input": 5}', 400, "input"),
        (b'{"input": [1, 2]}', 400, "input"),
        (b'{"model": "omni-moderation-latest"}', 400, "input"),
        (b'{"input": []}', 400, "must not be empty"),
        (b'{"input": "hi", "model": 7}', 400, "model"),
        (b'{"input": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}', 400, "image"),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(gateway, body, status, needle):
    r = gateway.post("/v1/moderations", content=body, headers={**gateway.headers, "content-type": "application/json"})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert needle in error["message"]
    assert error["type"] == "invalid_request_error"


def test_limits_on_text_length_array_length_and_body_size(make_gateway):
    gw = make_gateway({"SAFEWATCH_GATEWAY_MAX_TEXT_CHARS": "50", "SAFEWATCH_GATEWAY_MAX_INPUTS": "3",
                       "SAFEWATCH_GATEWAY_MAX_BODY_BYTES": "2000"})
    client = gw.client()
    with pytest.raises(openai.BadRequestError, match="at most 50"):
        client.moderations.create(input="x" * 51)
    with pytest.raises(openai.BadRequestError, match="at most 3"):
        client.moderations.create(input=["a", "b", "c", "d"])
    with pytest.raises(openai.APIStatusError) as err:
        client.moderations.create(input=["y" * 40] * 3 + ["z" * 2000])
    assert err.value.status_code == 413
    # Without a Content-Length the body is still cut off at the limit, not read whole.
    r = gw.post("/v1/moderations", content=iter([b'{"input": "', b"a" * 3000, b'"}']),
                headers={**gw.headers, "content-type": "application/json"})
    assert r.status_code == 413


def test_check_returns_full_verdicts_for_a_batch(gateway):
    r = gateway.post("/api/v1/check", json={"input": ["hello", THREAT], "role": "output"})
    assert r.status_code == 200
    first, second = r.json()["results"]
    assert first["action"] == "allow"
    assert second["action"] == "block"
    assert second["categories"]["harassment/threatening"] is True
    assert {"overall_score", "matches", "context", "language", "decided_by", "policy_version"} <= set(second)
    assert gateway.detector.calls[-1] == (["hello", THREAT], "output")


def test_check_rejects_an_unknown_role(gateway):
    r = gateway.post("/api/v1/check", json={"input": "hi", "role": "system"})
    assert r.status_code == 400
    assert "role" in r.json()["error"]["message"]


def test_moderation_is_traced_without_waiting(make_gateway):
    from gateway.doubles import RecordingTracer

    gw = make_gateway(tracer=RecordingTracer())
    gw.post("/v1/moderations", json={"input": THREAT}, headers={**gw.headers, "X-Safewatch-User-Id": "u-1"})
    import time

    for _ in range(100):
        if gw.tracer.records:
            break
        time.sleep(0.01)
    [rec] = gw.tracer.records
    assert rec["project_id"] == gw.project_id
    assert rec["name"] == "moderation"
    assert rec["user_id"] == "u-1"
    assert rec["blocked"] == "input"  # the caller is told to block it
    assert rec["input_verdict"].action.value == "block"


def test_a_failing_tracer_never_fails_the_request(make_gateway):
    from gateway.doubles import RecordingTracer

    gw = make_gateway(tracer=RecordingTracer(fail=True))
    assert gw.client().moderations.create(input="hello").results[0].flagged is False


def test_models_lists_the_moderation_models(gateway):
    ids = [m.id for m in gateway.client().models.list()]
    assert "omni-moderation-latest" in ids and "safewatch-default" in ids
