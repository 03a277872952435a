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
# A Vietnamese syllable typed without diacritics: an initial from Vietnamese's closed set, a vowel nucleus and a
# final from its closed set ("nguoi", "khong", "truoc"). Most English words break the pattern (finals like r, s,
# d, l, consonant clusters like "str", "bl"); the short ones that fit are common English words, excluded below.
_VI_SHAPE = re.compile(r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?"
                       r"(?:uye|uya|uyu|uoi|uou|oai|oay|uay|ieu|yeu|ai|ao|au|ay|eo|eu|ia|iu|oa|oe|oi|ua|ue|ui|uy|uo|ie|"
                       r"[aeiouy])(?:ch|ng|nh|[cmnpt])?")
_ENGLISH_FITS = frozenset(
    "a i o u y an in on to it at up me my he we be do go no so the then than them they you your yo oh ah "
    "am can man men ten ton tin tan pan pen pin pot pat pit cat cut cot hat hit hot hut mat met not nut "
    "ma pa mom dad hi he she the tho thy key bay day may pay say way boy toy guy buy bit but bet get got "
    "let lot net nap map cap cup tip top tap kit kid kin king sing ring thing bring thin think chin chat "
    "chap chip chop china much such rich each teach reach beach peach coach thank bank tank rank "
    "sang song long ping pong bang gang hang hung sung rung lung thong tong dong ding ming "
    "vote note mute cute huge rage page sage wage cage cite mine nine line pine vine dine "
    "time tim kim jim tom tony toni game came same name take make cake lake bake sake".split()
)
# Function words of the other big Latin-script languages, none of them an English word or chat spelling ("die",
# "was", "son", "la", "yo", "hat", "dem", "dan" (the jailbreak), "com" (".com"), "del", "elle", "pas" are left
# out): a German or Spanish message read by English-only MiniLM is noise, so such text takes the multilingual
# path ("other").
_OTHER_LATIN_WORDS = frozenset(
    # German
    "der das und ist nicht ich du sie wir ihr ein eine einen einem einer eines auf fuer für von zu sich auch nach "
    "wie aber oder wenn dass wer wo warum wieso kann können sind habe hast wird werden alle vergiss ignoriere "
    "ignorieren bitte jetzt mir mich dich uns ihnen sein seine meine meiner meinen deine keine nur noch diese dieser "
    "dieses welche welcher welches gibt gerne wann wollen haben waren wäre würde könnte sollte muss müssen mit bei "
    "über unter zwischen durch gegen ohne beim vom zum zur den des es schon sehr mehr viele etwas nichts immer "
    "heute hier dort danke "
    # French
    "les une est je nous vous ils sont avec pour dans qui que quoi mais ou où très tous cette ces mon mes "
    "tes ses oublie moi toi des aux sur être avoir faire comment pourquoi quand aussi bien encore rien merci "
    "bonjour "
    # Spanish, Portuguese, Italian
    "los las por una pero como qué muy todo todos esta este eso tú usted ellos somos olvida ignora ahora "
    "para porque cuando donde dónde cómo también hola gracias hay tiene tengo quiero puedo "
    "não você uma também isso isto ela eles muito obrigado "
    "gli della delle sono che più anche questo questa tutto tutti noi voi loro perché grazie voglio "
    # Indonesian and Malay
    "yang ini itu tidak saya anda untuk dengan bagaimana bisa tolong aku kamu akan sudah belum juga karena".split()
)
# Letters of German, Spanish, Portuguese and French that English words (loanwords aside) do not use.
_FOREIGN_LETTER = re.compile(r"[äöüßñãõœ]", re.IGNORECASE)
_NON_LATIN_LETTER = re.compile(r"[^\W\d_a-zA-Z\u00c0-\u024f\u1e00-\u1eff]", re.UNICODE)
_WORD = re.compile(r"[a-zA-Z]+")
_ACCENTED_WORD = re.compile(r"[a-zA-Z\u00c0-\u024f\u1e00-\u1eff]+")


def _looks_unaccented_vietnamese(words: list[str]) -> bool:
    """Nearly every word has the shape of a Vietnamese syllable, and enough of them are not English words."""
    shaped = [w for w in words if _VI_SHAPE.fullmatch(w)]
    telling = [w for w in shaped if w not in _ENGLISH_FITS]
    return len(words) >= 3 and len(shaped) >= 0.8 * len(words) and len(telling) >= max(2, 0.4 * len(words))


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
    # Diacritics shared with French or Spanish ("là", "gì", "phòng"): Vietnamese when several accented words
    # have the shape of Vietnamese syllables (English words mixed in or not).
    latin_words = _ACCENTED_WORD.findall(text)
    accented = [w for w in latin_words if not w.isascii()]
    if sum(1 for w in accented if _VI_SHAPE.fullmatch(strip_accents(w).lower())) >= 3:
        return "vi"
    words = [w.lower() for w in _WORD.findall(strip_accents(text))]
    if len(words) >= 2:
        hits = sum(1 for w in words if w in _VI_SYLLABLES)
        if hits >= 2 and hits / len(words) >= 0.5:
            return "vi"
        if _looks_unaccented_vietnamese(words):
            return "vi"
    if len(words) >= 3:
        foreign = sum(1 for w in latin_words if w.lower() in _OTHER_LATIN_WORDS)
        if foreign >= 2 and foreign >= 0.1 * len(words):
            return "other"
        # One function word is enough beside a letter English does without ("Vergiss alles davor. Was läuft?").
        if foreign and _FOREIGN_LETTER.search(text):
            return "other"
    non_latin = len(_NON_LATIN_LETTER.findall(text))
    if non_latin and non_latin / max(sum(1 for c in text if c.isalpha()), 1) > 0.3:
        return "other"
    return "en"
