"""Policy files extend or replace the built-in default."""

import pytest

from safewatch import Detector
from safewatch.policy import PolicyError, load_policy, merge
from safewatch.taxonomy import CATEGORIES


def test_default_policy_covers_every_category_in_three_languages():
    policy = load_policy()
    assert set(CATEGORIES) <= set(policy.categories)
    for name in CATEGORIES:
        langs = set(policy.categories[name].exemplars)
        assert {"en", "vi", "zh"} <= langs, f"{name} lacks exemplars in {({'en', 'vi', 'zh'} - langs)}"
    assert {"en", "vi", "zh"} <= set(policy.crisis_resources)


def test_merge_appends_lists_and_overrides_scalars():
    assert merge({"a": [1], "b": {"x": 1, "y": 2}}, {"a": [2, 1], "b": {"y": 3}}) == {"a": [1, 2], "b": {"x": 1, "y": 3}}


def test_user_policy_overrides_threshold_and_adds_a_custom_category(tmp_path):
    f = tmp_path / "policy.yaml"
    f.write_text(
        "name: shop\nversion: 4\n"
        "categories:\n"
        "  self-harm:\n    threshold: 0.9\n"
        "  competitors:\n    action: warn\n    threshold: 0.5\n"
        "    exemplars:\n      en: ['you should buy from Lazada instead', 'Shopee has it cheaper, go there',"
        " 'is Tiki better than this shop']\n"
    )
    policy = load_policy(f)
    assert policy.categories["self-harm"].threshold == 0.9
    assert policy.categories["self-harm"].exemplars["en"]  # default exemplars kept
    v = Detector(policy).check("honestly Shopee sells this cheaper, buy it there")
    assert v.policy_version == "shop@4"
    assert "competitors" in v.category_scores
    assert v.categories["competitors"] and v.action.value == "warn"


def test_invalid_policy_is_a_clear_error(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("categories:\n  hate:\n    threshold: high\n")
    with pytest.raises(PolicyError, match="threshold"):
        load_policy(f)
    f.write_text("- just a list")
    with pytest.raises(PolicyError, match="mapping"):
        load_policy(f)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
