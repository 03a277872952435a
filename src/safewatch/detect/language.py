"""Language detection: decides which encoder and which rules a text gets.

Script and vocabulary are enough for the three languages the detector covers: Chinese by Han characters,
Vietnamese by its unique diacritics or, typed without them, by its most frequent syllables. Anything else with
non-Latin letters is "other" (it takes the multilingual path); Latin-script text defaults to English.
"""

from __future__ import annotations

import re

from safewatch.detect.accents import strip_accents

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")
# Letters that exist in Vietnamese and (almost) nowhere else.
_VI_LETTERS = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)
# Frequent Vietnamese syllables, compared without diacritics, plus teen-chat spellings ("hok", "mun", "vl").
_VI_SYLLABLES = frozenset(
    "toi ban khong ko muon song nua duoc dc nguoi cua cho mot nhung lam sao gi nay voi thi la co minh chet roi "
    "vay di nhe nha em anh chi oi ah ak day mua hang don cai con ma tu tao may bao nhieu gio ngay den ve "
    "tai vi nen phai rat qua biet thich yeu ghet giet hay chua dang se da hok hong mun ngu vl dm dmm cmm "
    "ae mn ntn j nhanh nhat cach rieng ca si sdt cccd chem dit lon cho ba me bo ong troi oi khi nao "
    "duoc khoc buon met chan ghe tien lay giup voi tim hieu moi tren duoi sau truoc xin cam on".split()
)
_NON_LATIN_LETTER = re.compile(r"[^\W\d_a-zA-Z\u00c0-\u024f\u1e00-\u1eff]", re.UNICODE)
_WORD = re.compile(r"[a-zA-Z]+")


def detect_language(text: str) -> str:
    """"en", "vi", "zh" or "other"."""
    if not text:
        return "en"
    han = len(_HAN.findall(text))
    if han and not _KANA_HANGUL.search(text):
        letters = sum(1 for c in text if c.isalpha())
        if han >= 2 or han / max(letters, 1) >= 0.15:
            return "zh"
    vi_marks = len(_VI_LETTERS.findall(text))
    if vi_marks >= 2 or (vi_marks == 1 and len(text) < 40):
        return "vi"
    words = [w.lower() for w in _WORD.findall(strip_accents(text))]
    if len(words) >= 2:
        hits = sum(1 for w in words if w in _VI_SYLLABLES)
        if hits >= 2 and hits / len(words) >= 0.5:
            return "vi"
    non_latin = len(_NON_LATIN_LETTER.findall(text))
    if non_latin and non_latin / max(sum(1 for c in text if c.isalpha()), 1) > 0.3:
        return "other"
    return "en"
