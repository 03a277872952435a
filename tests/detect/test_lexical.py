"""The lexical toxicity feature: alt-profanity-check's model, recomputed without its scikit-learn pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from safewatch.detect.classifier import LEXICAL_ENCODERS, Head, head_path
from safewatch.detect.embed import ENCODERS
from safewatch.detect.lexical import shared_lexical

TEXTS = ["you are a worthless piece of garbage", "good morning, where is my parcel?", "", "the the the",
         "F U C K this shit", "Idiot idiot IDIOT", "12345 !!!", "Tôi không muốn sống nữa"]


def test_it_gives_the_packages_own_probabilities():
    from profanity_check import predict_prob

    assert np.allclose(shared_lexical().score(TEXTS), predict_prob(TEXTS), atol=1e-6)


def test_offensive_words_score_high_and_shop_chat_low():
    insult, shop = shared_lexical().score(["shut up you stupid bitch", "can I change the size of my order?"])
    assert insult > 0.9 and shop < 0.2


def test_the_shipped_english_head_reads_it_and_only_it():
    for encoder in ENCODERS:
        head = Head.load(head_path(encoder))
        assert bool(head.meta.get("lexical")) == (encoder in LEXICAL_ENCODERS), encoder


@pytest.mark.parametrize("text", ["", "   ", "\u200b"])
def test_text_without_words_gets_the_models_prior(text):
    [score] = shared_lexical().score([text])
    assert 0.0 < score < 0.5
