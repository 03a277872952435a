"""PII detection and redaction: what counts as PII, what does not, and what the redacted text looks like."""

from __future__ import annotations

import pytest

from safewatch.detect.base import Layer
from safewatch.detect.normalize import prepare
from safewatch.detect.pii import PiiEntity, PiiLayer, find_pii, iban_valid, luhn_valid, redact


def types_and_values(text: str) -> list[tuple[str, str]]:
    return [(e.type, e.value) for e in find_pii(text)]


# --- each type, with the exact substring found --------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write to john.doe+news@example.co.uk today", [("EMAIL", "john.doe+news@example.co.uk")]),
        ("邮箱是test@example.cn，谢谢", [("EMAIL", "test@example.cn")]),
        ("Call +1 (415) 555-2671 after 5pm", [("PHONE", "+1 (415) 555-2671")]),
        ("Call 415-555-2671 or 1-800-555-0199", [("PHONE", "415-555-2671"), ("PHONE", "1-800-555-0199")]),
        ("London office: +44 20 7946 0958", [("PHONE", "+44 20 7946 0958")]),
        ("Số của tôi là 0912 345 678 nhé", [("PHONE", "0912 345 678")]),
        ("Gọi 0987654321 hoặc +84 912 345 678", [("PHONE", "0987654321"), ("PHONE", "+84 912 345 678")]),
        ("Liên hệ 84912345678", [("PHONE", "84912345678")]),
        ("Bàn làm việc: 024 3825 1234", [("PHONE", "024 3825 1234")]),
        ("SĐT: 0283.822.1234", [("PHONE", "0283.822.1234")]),
        ("我的手机号是13812345678，请联系", [("PHONE", "13812345678")]),
        ("电话 +86 138 1234 5678 或 010-12345678", [("PHONE", "+86 138 1234 5678"), ("PHONE", "010-12345678")]),
        ("Pay with 4111 1111 1111 1111 please", [("CREDIT_CARD", "4111 1111 1111 1111")]),
        ("card: 5500-0055-5555-5559", [("CREDIT_CARD", "5500-0055-5555-5559")]),
        ("Amex 378282246310005", [("CREDIT_CARD", "378282246310005")]),
        ("IBAN DE89 3704 0044 0532 0130 00, thanks", [("IBAN", "DE89 3704 0044 0532 0130 00")]),
        ("my iban is gb82west12345698765432", [("IBAN", "gb82west12345698765432")]),
        ("server 192.168.1.10 is down", [("IP_ADDRESS", "192.168.1.10")]),
        ("ping 2001:db8::8a2e:370:7334 now", [("IP_ADDRESS", "2001:db8::8a2e:370:7334")]),
        ("SSN 123-45-6789", [("SSN", "123-45-6789")]),
        ("Số CCCD: 001203004567", [("VN_ID", "001203004567")]),
        ("身份证号11010519491231002X", [("CN_ID", "11010519491231002X")]),
    ],
)
def test_finds_each_type_with_its_exact_span(text: str, expected: list[tuple[str, str]]) -> None:
    entities = find_pii(text)
    assert [(e.type, e.value) for e in entities] == expected
    for e in entities:
        assert text[e.start : e.end] == e.value


@pytest.mark.parametrize(
    "secret",
    [
        "AKIAIOSFODNN7EXAMPLE",
        "sk-proj-abcdefghijklmnopqrstuvwxyz123456",
        "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "xoxb-123456789012-abcdefghij",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ],
)
def test_api_keys_and_tokens_are_found(secret: str) -> None:
    text = f"my key is {secret} keep it safe"
    assert types_and_values(text) == [("API_KEY", secret)]
    assert redact(text, find_pii(text)) == "my key is [API_KEY] keep it safe"


def test_private_key_block_is_one_entity() -> None:
    text = "here:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----\nthanks"
    assert redact(text, find_pii(text)) == "here:\n[API_KEY]\nthanks"


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("DB_PASSWORD=hunter2!x", "DB_PASSWORD=[API_KEY]"),
        ('{"api_key": "abc123def456"}', '{"api_key": "[API_KEY]"}'),
        ("client_secret: s3cr3t-value", "client_secret: [API_KEY]"),
        ("mật khẩu: Matkhau@2024", "mật khẩu: [API_KEY]"),
        ("密码：abc12345", "密码：[API_KEY]"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123", "Authorization: Bearer [API_KEY]"),
    ],
)
def test_secret_assignments_mask_only_the_value(text: str, redacted: str) -> None:
    assert redact(text, find_pii(text)) == redacted


@pytest.mark.parametrize(
    "text",
    [
        "password: required",
        "Set max_tokens=100000 for long answers",
        "API_KEY=${OPENAI_API_KEY}",
        "api_key = <your-api-key>",
        "Enter your password to continue",
    ],
)
def test_secret_shaped_prose_and_placeholders_are_not_secrets(text: str) -> None:
    assert find_pii(text) == []


# --- what must not be flagged ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    [
        "In 2023 we moved to Hanoi.",
        "It costs $1,299.99 or 29.990.000 đ",
        "The meeting is on 2023-05-12 at 12:30:45.",
        "Born 12/05/1990, arrived 05.12.2023",
        "Upgrade to version 3.11.4 or v10.0.0.1",
        "Python 3.12.1.2 release notes",
        "Your order number is 4111111111111111",
        "Invoice #1234567890123",
        "Mã đơn hàng: 0912345678",
        "订单号 13812345678",
        "ISBN 978-3-16-148410-0",
        "std::vector and Foo::bar and 10:30:15",
        "999.1.1.1 is not an address",
        "The population is 1234567890123 people",
        "The phone costs 1299 dollars",
    ],
)
def test_numbers_that_are_not_pii(text: str) -> None:
    assert find_pii(text) == []


def test_luhn_invalid_card_is_not_redacted() -> None:
    text = "Card 4111 1111 1111 1112 expires soon"
    assert not luhn_valid("4111111111111112")
    assert find_pii(text) == []
    assert redact(text, find_pii(text)) == text


def test_iban_needs_a_valid_checksum() -> None:
    assert iban_valid("DE89 3704 0044 0532 0130 00")
    assert not iban_valid("DE88 3704 0044 0532 0130 00")
    assert find_pii("IBAN DE88 3704 0044 0532 0130 00") == []


# --- redaction ---------------------------------------------------------------------------------------

def test_email_and_card_are_both_masked_and_the_rest_is_intact() -> None:
    text = "Hi, I'm Lan. Email lan.nguyen@gmail.com, card 4111-1111-1111-1111. Ship by Friday!"
    assert redact(text, find_pii(text)) == "Hi, I'm Lan. Email [EMAIL], card [CREDIT_CARD]. Ship by Friday!"


def test_redaction_in_vietnamese_and_chinese() -> None:
    vi = "Liên hệ tôi qua 0912 345 678 hoặc lan@example.vn nhé"
    assert redact(vi, find_pii(vi)) == "Liên hệ tôi qua [PHONE] hoặc [EMAIL] nhé"
    zh = "我的电话是13812345678，邮箱是wang@example.cn。"
    assert redact(zh, find_pii(zh)) == "我的电话是[PHONE]，邮箱是[EMAIL]。"


def test_overlapping_candidates_resolve_to_one_entity() -> None:
    # The digits inside an email are not a separate phone number.
    text = "write to lan.0912345678@example.com"
    assert types_and_values(text) == [("EMAIL", "lan.0912345678@example.com")]


def test_redact_ignores_entity_order_and_overlaps() -> None:
    text = "a@b.co and c@d.co"
    entities = find_pii(text)
    assert redact(text, list(reversed(entities))) == "[EMAIL] and [EMAIL]"
    overlapping = [PiiEntity("EMAIL", 0, 6, "a@b.co"), PiiEntity("PHONE", 2, 4, "b.")]
    assert redact(text, overlapping) == "[EMAIL] and c@d.co"


def test_text_without_pii_is_unchanged() -> None:
    text = "How do I reset my router? It keeps dropping the connection."
    assert find_pii(text) == []
    assert redact(text, []) == text


# --- the layer ---------------------------------------------------------------------------------------

def test_layer_reports_privacy_matches_and_redacted_text() -> None:
    layer = PiiLayer(None)
    assert isinstance(layer, Layer)
    text = "Email me at lan@example.com or call +84 912 345 678"
    [result] = layer.score([prepare(text)])
    assert 0.6 <= result.scores["privacy"] <= 0.7
    assert [m.rule for m in result.matches] == ["pii-email", "pii-phone"]
    assert all(m.layer == "pii" and m.category == "privacy" for m in result.matches)
    assert [text[slice(*m.span)] for m in result.matches] == ["lan@example.com", "+84 912 345 678"]
    # The evidence does not repeat the PII itself (verdicts end up in traces).
    assert all(m.text is None for m in result.matches)
    assert result.redacted_text == "Email me at [EMAIL] or call [PHONE]"
    assert not result.certain


def test_layer_spans_refer_to_the_sanitized_text() -> None:
    text = "mail\u200b me: lan@example.com"
    p = prepare(text)
    [result] = PiiLayer(None).score([p])
    [m] = result.matches
    assert p.text[slice(*m.span)] == "lan@example.com"
    assert result.redacted_text == p.text.replace("lan@example.com", "[EMAIL]")


def test_layer_on_a_batch_without_pii() -> None:
    results = PiiLayer(None).score([prepare("hello"), prepare("xin chào"), prepare("你好")])
    assert [(r.scores, r.matches, r.redacted_text) for r in results] == [({}, [], None)] * 3


def test_detector_redacts_email_and_card_end_to_end() -> None:
    from safewatch.detector import Detector

    verdict = Detector(semantic=False, classifier=False).check("Mail lan@example.com, card 4111 1111 1111 1111.")
    assert verdict.redacted_text == "Mail [EMAIL], card [CREDIT_CARD]."
    assert {"pii-email", "pii-credit-card"} <= {m.rule for m in verdict.matches}
