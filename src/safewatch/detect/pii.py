"""PII detection and redaction: contact details, payment data, network addresses, secrets and IDs.

Pure, precompiled regular expressions plus a validator per type (Luhn, IBAN mod-97, `ipaddress`, ID
checksums), so a number only counts when it could really be what it looks like: years, prices, dates,
times, version strings and order numbers stay as they are. Found entities are replaced with typed
placeholders (`[EMAIL]`, `[PHONE]` ...), which keeps the text useful to the model after redaction.

Finding PII is not a violation in itself: the layer reports `privacy` at a moderate score and hands the
cascade a `redacted_text`; the policy decides whether to redact, warn or block.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from safewatch.detect.base import LayerScores, Prepared
from safewatch.policy.model import Policy
from safewatch.verdict import Match

CATEGORY = "privacy"

EMAIL = "EMAIL"
PHONE = "PHONE"
CREDIT_CARD = "CREDIT_CARD"
IBAN = "IBAN"
IP_ADDRESS = "IP_ADDRESS"
API_KEY = "API_KEY"
VN_ID = "VN_ID"
CN_ID = "CN_ID"
SSN = "SSN"

ENTITY_TYPES: tuple[str, ...] = (EMAIL, PHONE, CREDIT_CARD, IBAN, IP_ADDRESS, API_KEY, VN_ID, CN_ID, SSN)

# Contact details and network addresses are personal but common in ordinary requests; payment data,
# secrets and national IDs are worth more to an attacker.
TYPE_SCORES: dict[str, float] = {
    EMAIL: 0.6,
    PHONE: 0.6,
    IP_ADDRESS: 0.6,
    CREDIT_CARD: 0.7,
    IBAN: 0.7,
    API_KEY: 0.7,
    VN_ID: 0.7,
    CN_ID: 0.7,
    SSN: 0.7,
}


@dataclass(frozen=True)
class PiiEntity:
    """One piece of PII: its type and where it sits in the text (`text[start:end] == value`)."""

    type: str
    start: int
    end: int
    value: str

    @property
    def placeholder(self) -> str:
        return f"[{self.type}]"

    @property
    def rule(self) -> str:
        return "pii-" + self.type.lower().replace("_", "-")


# --- helpers -----------------------------------------------------------------------------------------

# `re.ASCII` everywhere: `\w` must not include CJK, or "电话13812345678" would have no boundary before
# the digits. Lookarounds on explicit classes stand in for `\b`.
_A = re.ASCII
_NOT_ALNUM_BEFORE = r"(?<![A-Za-z0-9_])"
_NOT_ALNUM_AFTER = r"(?![A-Za-z0-9_])"
# A number glued to more digits, a decimal point or a dash-continued digit run is part of something longer;
# so is one right after another digit group ("DE88 3704 0044 ..." holds no phone number).
_NUM_BEFORE = r"(?<![\w.,/-])(?<!\d )"
_NUM_AFTER = r"(?![\w/]|[.,-]\d)"

_DIGITS = re.compile(r"\d")

# Words right before a number that make it an order / invoice / tracking reference, not a card or phone.
_REFERENCE_CONTEXT = re.compile(
    r"(?:order|invoice|tracking|reference|ref|ticket|booking|confirmation|transaction|shipment|"
    r"receipt|serial|sku|isbn|part|model|account\s+no|mã\s+đơn(?:\s+hàng)?|đơn\s+hàng|mã\s+vận\s+đơn|"
    r"订单号?|单号|运单号?|发票号?)\s*(?:number|no\.?|num|id|code|#|số|号|號)?\s*(?:is|was|là|是|为|為)?\s*[:#=]?\s*$",
    re.IGNORECASE,
)


def _after_reference_word(text: str, start: int) -> bool:
    return _REFERENCE_CONTEXT.search(text[max(0, start - 40) : start]) is not None


def _digits(s: str) -> str:
    return "".join(_DIGITS.findall(s))


def luhn_valid(number: str) -> bool:
    """The Luhn check every payment card number carries in its last digit."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# Lengths per IBAN country (ISO 13616 registry); an unknown country code is not an IBAN.
_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_valid(candidate: str) -> bool:
    """Country length plus the ISO 7064 mod-97 check."""
    iban = re.sub(r"[\s-]", "", candidate).upper()
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


_CARD_CONTEXT = re.compile(r"card|\bcc\b|visa|mastercard|maestro|thẻ|卡", re.IGNORECASE)


def _card_valid(candidate: str, text: str, start: int) -> bool:
    number = _digits(candidate)
    if len(set(number)) == 1 or not luhn_valid(number):
        return False
    # Issuer ranges: 2/5 Mastercard, 3 Amex/Diners/JCB, 4 Visa, 5/6 Maestro, 6 Discover/UnionPay;
    # 1800 is the old 15-digit JCB range.
    if not (number[0] in "23456" or (number.startswith("1800") and len(number) == 15)):
        return False
    # 12-digit Maestro numbers look like any other ID; only accept them when the text says "card".
    if len(number) == 12 and not _CARD_CONTEXT.search(text[max(0, start - 30) : start]):
        return False
    return not _after_reference_word(text, start)


_VERSION_CONTEXT = re.compile(
    r"(?:\bv|\b(?:ver(?:sion)?|build|release|rel|patch|update|firmware|kernel|python|node|java|ubuntu|debian|"
    r"android|ios|macos|windows|chrome|firefox|php|ruby|go|rust|gcc|llvm|cuda)\.?\s*|phiên bản\s*|版本(?:号|號)?\s*[:：]?\s*)$",
    re.IGNORECASE,
)


def _ipv4_valid(candidate: str, text: str, start: int) -> bool:
    try:
        ipaddress.IPv4Address(candidate)
    except ValueError:
        return False
    # "version 1.2.3.4", "v10.0.0.1", "Python 3.12.1.2": a dotted version string, not an address.
    return not _VERSION_CONTEXT.search(text[max(0, start - 16) : start])


def _ipv6_valid(candidate: str, text: str, start: int) -> bool:
    # C++ "a::b" and clock times "12:30:45" have the shape but no hex digits / not enough groups.
    if not _DIGITS.search(candidate) or candidate.count(":") < 2:
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _phone_valid(candidate: str, text: str, start: int) -> bool:
    n = len(_digits(candidate))
    return 8 <= n <= 15 and not _after_reference_word(text, start)


def _ssn_valid(candidate: str, text: str, start: int) -> bool:
    area, group, serial = candidate.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _cn_id_valid(candidate: str, text: str, start: int) -> bool:
    """GB 11643 check character of the 18-character Chinese resident ID."""
    total = sum(int(c) * w for c, w in zip(candidate[:17], _CN_ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == candidate[17].upper()


_PASSWORD_WORD = re.compile(r"pass|pwd|mật khẩu|mat khau|密码|密碼|口令", re.IGNORECASE)
# Values that name a secret instead of holding one: env references, templates, masks, examples.
_SECRET_PLACEHOLDER = re.compile(
    r"^(?:[$<{%\[(]|os\.|env\.|process\.)|your|xxxx|\*\*\*|\.\.\.|example|placeholder|changeme|redacted", re.IGNORECASE
)


def _secret_valid(candidate: str, text: str, start: int) -> bool:
    if _SECRET_PLACEHOLDER.search(candidate):
        return False
    # `max_tokens=100000`: only a password may be all digits.
    return not candidate.isdigit() or _PASSWORD_WORD.search(text[max(0, start - 24) : start]) is not None


def _always(candidate: str, text: str, start: int) -> bool:
    return True


Validator = Callable[[str, str, int], bool]


@dataclass(frozen=True)
class _Pattern:
    type: str
    regex: re.Pattern[str]
    validate: Validator = _always
    # The capture group that holds the PII (a keyword before it stays readable after redaction).
    group: int = 0


def _p(type_: str, pattern: str, validate: Validator = _always, flags: int = _A, group: int = 0) -> _Pattern:
    return _Pattern(type_, re.compile(pattern, flags), validate, group)


# Order matters: when two candidates overlap, the one found by the earlier pattern wins (a key that
# contains digits is a key, not a phone number; an email's local part is not a separate phone).
_PATTERNS: tuple[_Pattern, ...] = (
    # --- secrets ---
    _p(API_KEY, r"-----BEGIN[A-Z ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z ]*PRIVATE KEY(?: BLOCK)?-----|\Z)"),
    _p(API_KEY, _NOT_ALNUM_BEFORE + r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z0-9]{16}" + _NOT_ALNUM_AFTER),
    _p(API_KEY, _NOT_ALNUM_BEFORE + r"sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    _p(API_KEY, _NOT_ALNUM_BEFORE + r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    _p(API_KEY, _NOT_ALNUM_BEFORE + r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    _p(API_KEY, _NOT_ALNUM_BEFORE + r"xox[abposre]-[A-Za-z0-9-]{10,}"),
    _p(API_KEY, _NOT_ALNUM_BEFORE + r"AIza[0-9A-Za-z_-]{35}"),
    _p(API_KEY, _NOT_ALNUM_BEFORE + r"(?:glpat|hf)_[A-Za-z0-9_-]{20,}"),
    # JWT: base64url header and payload both start with '{"' -> "eyJ".
    _p(API_KEY, _NOT_ALNUM_BEFORE + r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{10,}"),
    # Generic assignments: `password=...`, `"api_key": "..."`, `secret: ...`, "mật khẩu: ...", "密码：...".
    # Only the value is masked. A ':' followed by a plain word ("password: required") is prose, not a secret.
    _p(
        API_KEY,
        r"(?:\b(?:[a-z_]*_)?(?:password|passwd|pwd|pass|secret|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|"
        r"private[_-]?key|client[_-]?secret|access[_-]?token|auth[_-]?token|refresh[_-]?token|bearer|token)"
        r"|mật khẩu|mat khau|密码|密碼|口令)"
        r"[\"']?\s*(?:=|:|：|is\s*:|là\s*:?)\s*[\"']?"
        r"((?=[^\s\"'`,;]*[0-9!@#$%^&*+/=_\-.?~])[^\s\"'`,;]{6,}|[^\s\"'`,;]{6,}(?=[\"']))",
        _secret_valid,
        flags=re.IGNORECASE,
        group=1,
    ),
    _p(API_KEY, r"\bbearer\s+([A-Za-z0-9._~+/-]{20,}=*)", _secret_valid, flags=re.IGNORECASE, group=1),
    # --- contact ---
    _p(EMAIL, r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}" + _NOT_ALNUM_AFTER),
    # --- national IDs (checksummed or keyword-anchored) ---
    _p(CN_ID, r"(?<!\d)[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])", _cn_id_valid),
    _p(
        VN_ID,
        r"(?:cccd|cmnd|căn cước(?: công dân)?|can cuoc(?: cong dan)?|chứng minh(?: nhân dân| thư)?|số định danh(?: cá nhân)?|"
        r"so dinh danh)\D{0,20}?(?<!\d)(\d{12}|\d{9})(?!\d)",
        flags=re.IGNORECASE,
        group=1,
    ),
    _p(SSN, _NUM_BEFORE + r"\d{3}-\d{2}-\d{4}" + _NUM_AFTER, _ssn_valid),
    _p(SSN, r"(?:\bssn|social security(?: number| no\.?)?)\D{0,15}?(?<!\d)(\d{9})(?!\d)", flags=re.IGNORECASE, group=1),
    # --- payment ---
    _p(
        IBAN,
        r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,3})?(?![A-Za-z0-9])",
        lambda c, t, s: iban_valid(c),
        # mod-97 keeps this precise even for a lower-cased "gb42nawi0445...".
        flags=_A | re.IGNORECASE,
    ),
    # 12-19 digits in groups separated by single spaces or dashes (or none).
    _p(CREDIT_CARD, r"(?<![\w.,/+-])(?<!\d )\d(?:[ -]?\d){11,18}" + _NUM_AFTER, _card_valid),
    # --- network ---
    _p(IP_ADDRESS, r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)", _ipv4_valid),
    _p(
        IP_ADDRESS,
        r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:]|\.\d)",
        _ipv6_valid,
    ),
    # --- phone numbers ---
    # International / E.164: "+84 912 345 678", "+1 (415) 555-2671", "+86 138 1234 5678", "+442079460958".
    _p(PHONE, r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){1,5}(?:[ .-]?\d{2,5})" + _NUM_AFTER, _phone_valid),
    # "0084 ..." / "00 86 ..." international dialling prefix.
    _p(PHONE, _NUM_BEFORE + r"00[ ]?(?:84|86|1|44|49|33|61|65|81|82)[ .-]?\d{2,4}(?:[ .-]?\d{2,4}){2,3}" + _NUM_AFTER, _phone_valid),
    # Vietnam: mobiles 0[35789]x xxx xxxx (10 digits), with country code 84 (no plus), landlines 02x + 8 digits.
    _p(PHONE, _NUM_BEFORE + r"(?:\(?0[35789]\d\)?|84[ .-]?[35789]\d)(?:[ .-]?\d){7}" + _NUM_AFTER, _phone_valid),
    _p(PHONE, _NUM_BEFORE + r"\(?02\d{1,2}\)?[ .-]?\d{3,4}[ .-]?\d{4}" + _NUM_AFTER, _phone_valid),
    # China: mobiles 1[3-9] + 9 digits (3-4-4 grouping optional), landlines 0xx(x)-xxxxxxx(x).
    _p(PHONE, r"(?<![\w.,/+-])(?<!\d )1[3-9]\d(?:[ -]?\d{4}){2}" + _NUM_AFTER, _phone_valid),
    _p(PHONE, _NUM_BEFORE + r"\(?0[1-9]\d{1,2}\)?-\d{7,8}" + _NUM_AFTER, _phone_valid),
    # Anything phone-shaped right after "phone:", "call me at", "SĐT", "电话" ... (local formats of any country).
    # Unicode case folding here ("SĐT", "Số Điện Thoại"), so explicit classes instead of `\b` and `\d`.
    _p(
        PHONE,
        r"(?:(?<![a-z])(?:tel(?:ephone)?|phone(?:\s+number)?|mobile|cell|fax|whatsapp|zalo|call\s+me\s+(?:at|on)|"
        r"text\s+me\s+(?:at|on)|số\s+điện\s+thoại|điện\s+thoại|so\s+dien\s+thoai|sđt|sdt|đt)(?![a-z])|"
        r"电话|電話|手机号?|手機|联系方式)"
        r"[^0-9\n+]{0,12}\n?(\+?\(?[0-9][0-9 ().-]{5,18}[0-9])(?![0-9A-Za-z_/]|[.,-][0-9])",
        lambda c, t, s: 7 <= len(_digits(c)) <= 15,
        flags=re.IGNORECASE,
        group=1,
    ),
    # North America: (415) 555-2671, 415-555-2671, 415.555.2671, 1-800-555-0199 - separators required,
    # a bare 10-digit run is more often an ID than a phone number.
    _p(
        PHONE,
        r"(?<![\w.,/+-])(?<!\d )(?:1[ .-])?(?:\([2-9]\d{2}\)[ .-]?|[2-9]\d{2}[ .-])\d{3}[ .-]\d{4}" + _NUM_AFTER,
        _phone_valid,
    ),
)


def _candidates(text: str) -> Iterator[PiiEntity]:
    for pattern in _PATTERNS:
        for m in pattern.regex.finditer(text):
            start, end = m.span(pattern.group)
            value = m.group(pattern.group)
            if value and pattern.validate(value, text, start):
                yield PiiEntity(pattern.type, start, end, value)


def find_pii(text: str) -> list[PiiEntity]:
    """Every PII entity in `text`, non-overlapping, in text order."""
    if not text:
        return []
    taken: list[PiiEntity] = []
    for entity in _candidates(text):
        if all(entity.end <= t.start or entity.start >= t.end for t in taken):
            taken.append(entity)
    return sorted(taken, key=lambda e: e.start)


def redact(text: str, entities: list[PiiEntity]) -> str:
    """`text` with every entity replaced by its typed placeholder; everything else unchanged."""
    out: list[str] = []
    pos = 0
    for e in sorted(entities, key=lambda e: e.start):
        if e.start < pos:  # overlapping input: the earlier entity already covers it
            continue
        out.append(text[pos : e.start])
        out.append(e.placeholder)
        pos = e.end
    out.append(text[pos:])
    return "".join(out)


class PiiLayer:
    """The `privacy` layer: finds PII in the sanitized text and offers its redaction."""

    name = "pii"

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy

    def score_one(self, prepared: Prepared) -> LayerScores:
        result = LayerScores()
        entities = find_pii(prepared.text)
        if not entities:
            return result
        for e in entities:
            score = TYPE_SCORES[e.type]
            result.bump(CATEGORY, score)
            # The matched value is left out of the evidence on purpose: verdicts end up in traces and logs.
            result.matches.append(Match(layer=self.name, category=CATEGORY, rule=e.rule, span=(e.start, e.end), score=score))
        result.redacted_text = redact(prepared.text, entities)
        return result

    def score(self, batch: list[Prepared]) -> list[LayerScores]:
        return [self.score_one(p) for p in batch]
