"""Rules: phrases at word boundaries, accent-insensitive Vietnamese, CJK substrings, regexes and combos."""

from safewatch.detect.normalize import prepare
from safewatch.detect.rules import RulesLayer
from safewatch.policy import Policy

POLICY = Policy.model_validate({
    "categories": {
        "self-harm/intent": {
            "rules": {
                "phrases": {"en": ["kill myself"], "vi": ["không muốn sống nữa"], "zh": ["不想活了"]},
                "combos": [{"id": "sh-combo", "all_of": [["end", "finish"], ["my life"]], "lang": "en", "window": 3}],
            }
        },
        "illicit": {"rules": {"regexes": [{"id": "cvv-dump", "pattern": r"\bfullz\b", "score": 0.8}]}},
    }
})


def score(text):
    return RulesLayer(POLICY).score([prepare(text)])[0]


def test_phrase_matches_through_slang_and_reports_original_span():
    text = "hw 2 kms tonight"
    res = score(text)
    assert res.scores["self-harm/intent"] >= 0.9
    s, e = res.matches[0].span
    assert text[s:e] == "kms"


def test_phrase_respects_word_boundaries():
    assert score("skill myselfie contest").scores == {}


def test_vietnamese_phrase_matches_with_and_without_diacritics():
    assert score("tôi không muốn sống nữa").scores.get("self-harm/intent")
    assert score("toi ko muon song nua").scores.get("self-harm/intent")


def test_chinese_phrase_is_a_substring_match():
    assert score("我真的不想活了").scores.get("self-harm/intent")


def test_combo_needs_every_group_within_the_window():
    assert score("i will end my life").scores.get("self-harm/intent")
    assert not score("the end of the movie changed my life").scores.get("self-harm/intent")


def test_regex_rule():
    res = score("selling fullz cheap")
    assert res.scores["illicit"] == 0.8
    assert res.matches[0].rule == "cvv-dump"
