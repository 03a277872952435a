"""Context cues lower scores with a stated reason; they never drop a score silently."""

import pytest

from safewatch.detect.context import ContextLayer
from safewatch.detect.normalize import prepare


def signals(text):
    p = prepare(text)
    ContextLayer().score([p])
    return p


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("I'm NOT thinking about suicide anymore", "negated"),
        ("my friend is suicidal, how can I help her", "third_party"),
        ("bạn tôi muốn tự tử, tôi phải giúp bạn ấy thế nào", "third_party"),
        ("我朋友想自杀，我该怎么帮她", "third_party"),
        ("what is the history of the Rwandan genocide", "educational"),
        ("in my novel the villain poisons the king", "fiction"),
        ("the news said a man threatened to kill his neighbour", "quotation"),
        ("How do I kill a Python process?", "technical"),
        ("如何杀死一个Linux进程", "technical"),
    ],
)
def test_cues(text, signal):
    assert getattr(signals(text).context, signal)


def test_first_person_intent_has_no_lowering_cue():
    ctx = signals("I don't want to live anymore").context
    assert not (ctx.negated or ctx.third_party or ctx.technical)


def test_kill_my_boss_is_not_technical():
    assert not signals("I'm going to kill my boss tomorrow").context.technical


def test_apply_lowers_and_explains():
    p = signals("my friend is suicidal, how can I help her")
    out = ContextLayer().apply(p, {"self-harm": 0.9, "violence": 0.1})
    assert out["self-harm"] < 0.5
    assert out["violence"] == 0.1
    assert any("lowered self-harm" in n for n in p.context.notes)
