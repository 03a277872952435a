"""Text normalization: what rules and models read, with a map back to the original for spans.

People evade filters with look-alike letters ("ѕuісіdе" in Cyrillic), leetspeak ("k1ll"), spacing
("k i l l"), zero-width characters and chat slang ("hw 2 kms"). Every step here folds one of those tricks while
keeping, for each output character, the index of the input character it came from.
"""

from __future__ import annotations

import re
import unicodedata

from safewatch.detect.base import Prepared
from safewatch.detect.language import detect_language

# Characters that render as nothing: zero-width, joiners, BOM, soft hyphen, bidi controls, Unicode tags.
_INVISIBLE = re.compile("[\u0000\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u2064\u2066-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f]")

HOMOGLYPHS = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g", "һ": "h", "ӏ": "l",
    # Greek
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    # Latin look-alikes
    "ı": "i", "ł": "l", "ø": "o", "ß": "ss", "ſ": "s",
    # Typographic apostrophes: "don’t" must read as "don't".
    "’": "'", "‘": "'", "ʼ": "'", "`": "'",
})

# Leetspeak digits/symbols, folded only inside tokens that also contain letters ("k1ll" but not "8080").
LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i", "|": "l"}

# Chat slang and abbreviations, per token. Values are what the rules and models should read.
SLANG_EN = {
    "kms": "kill myself", "kys": "kill yourself", "unalive": "kill", "unalived": "killed", "unaliving": "killing",
    "sewerslide": "suicide", "suicid": "suicide", "sucide": "suicide", "suicde": "suicide", "selfharm": "self harm",
    "hw": "how", "u": "you", "ur": "your", "r": "are", "y": "why", "pls": "please", "plz": "please", "ppl": "people",
    "wanna": "want to", "gonna": "going to", "gotta": "got to", "tryna": "trying to", "dont": "don't", "cant": "can't",
    "im": "i'm", "ive": "i've", "idk": "i don't know", "idc": "i don't care", "rn": "right now", "bc": "because",
    "cuz": "because", "coz": "because", "w/": "with", "w/o": "without", "urself": "yourself", "urselves": "yourselves", "myslf": "myself", "thx": "thanks", "smth": "something",
    "sth": "something", "abt": "about", "tho": "though", "n": "and", "da": "the", "ya": "you", "ima": "i'm going to",
    "imma": "i'm going to", "tmrw": "tomorrow", "2nite": "tonight", "2day": "today", "gf": "girlfriend",
    "bf": "boyfriend", "mf": "motherfucker", "stfu": "shut the fuck up", "fk": "fuck", "fck": "fuck", "fuk": "fuck",
}
SLANG_VI = {
    "ko": "không", "k": "không", "hok": "không", "khong": "không", "hông": "không", "hem": "không", "kh": "không",
    "dc": "được", "đc": "được", "duoc": "được", "j": "gì", "mk": "mình", "mik": "mình", "vs": "với", "ng": "người",
    "nguoi": "người", "bit": "biết", "bik": "biết", "bjt": "biết", "ntn": "như thế nào",
    "v": "vậy", "r": "rồi", "ck": "chồng", "vk": "vợ", "ms": "mới", "trc": "trước", "cx": "cũng", "cg": "cũng",
    "thik": "thích", "iu": "yêu", "dt": "điện thoại", "đt": "điện thoại", "sdt": "số điện thoại", "sđt": "số điện thoại",
    "tks": "cảm ơn",
}
# Censored spellings ("p*rn", "f**k", "k!ll" is leetspeak): a token with asterisks is read as the word of this
# list it fits, each "*" standing for one or more letters.
CENSORED_WORDS = (
    "porn", "porno", "fuck", "fucking", "fucker", "shit", "bitch", "bastard", "cunt", "dick", "pussy", "cock",
    "sex", "sexy", "nude", "nudes", "naked", "rape", "raped", "rapist", "kill", "killing", "suicide", "die", "dead",
    "nigger", "nigga", "faggot", "fag", "retard", "whore", "slut", "asshole", "ass", "damn", "hell", "murder",
    "bomb", "gun", "drugs", "meth", "cocaine", "heroin", "weed", "tits", "boobs", "penis", "vagina", "horny",
)
# "how 2", "hw 2", "want 2": a bare "2" after these words means "to".
_TWO_MEANS_TO_AFTER = {"how", "want", "going", "need", "have", "got", "wanna", "way", "ways", "trying", "like"}


def uncensor(token: str) -> str:
    """"p*rn" -> "porn", "f**k" -> "fuck"; unchanged when no listed word fits."""
    if "*" not in token or not any(c.isalpha() for c in token):
        return token
    pattern = re.compile("^" + "".join(".+?" if c == "*" else re.escape(c) for c in re.sub(r"\*+", "*", token)) + "$")
    for word in CENSORED_WORDS:
        if pattern.match(word) and len(word) >= len(token.replace("*", "")) + 1:
            return word
    return token


def sanitize(text: str) -> str:
    """Remove null bytes and invisible characters (they hide words from filters, and break some parsers)."""
    return _INVISIBLE.sub("", text)


_ASCII_HOMOGLYPHS = {k: v for k, v in HOMOGLYPHS.items() if k < 128}
_RUN_OF_THREE = re.compile(r"(.)\1\1", re.DOTALL)


def _fold_chars(text: str) -> tuple[str, list[int]]:
    """NFKC + casefold + homoglyphs, character by character, keeping the source index of every output char."""
    if text.isascii():
        # The common case, and the hot path: NFKC leaves ASCII alone and casefold is lower(), so every character
        # maps to exactly one (same result as the loop below, ~20x faster).
        return text.lower().translate(_ASCII_HOMOGLYPHS), list(range(len(text)))
    out: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        folded = unicodedata.normalize("NFKC", ch).casefold().translate(HOMOGLYPHS)
        for c in folded:
            out.append(c)
            offsets.append(i)
    return "".join(out), offsets


def _collapse_repeats(chars: list[str], offs: list[int]) -> tuple[list[str], list[int]]:
    """"diiiie" -> "die", "killlll" -> "kill": runs of 3+ keep one vowel or two consonants."""
    if not _RUN_OF_THREE.search("".join(chars)):
        return chars, offs
    out_c: list[str] = []
    out_o: list[int] = []
    i = 0
    while i < len(chars):
        j = i
        while j < len(chars) and chars[j] == chars[i]:
            j += 1
        run = j - i
        keep = run if run < 3 or not chars[i].isalpha() else (1 if chars[i] in "aeiouy" else 2)
        out_c.extend(chars[i : i + keep])
        out_o.extend(offs[i : i + keep])
        i = j
    return out_c, out_o


def _join_spaced_letters(tokens: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """"k i l l   m y s e l f" -> "killmyself"; runs of at least 4 single letters become one token (3 would eat
    chat like "u r a")."""
    out: list[tuple[str, int, int]] = []
    i = 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and len(tokens[j][0]) == 1 and tokens[j][0].isalpha():
            j += 1
        if j - i >= 4:
            out.append(("".join(t[0] for t in tokens[i:j]), tokens[i][1], tokens[j - 1][2]))
            i = j
        else:
            out.append(tokens[i])
            i += 1
    return out


def _deleet(token: str) -> str:
    # Leetspeak is an evasion of Latin-script words: "13岁" and "q1" are an age and a district, not "ie岁".
    if not any("a" <= c <= "z" for c in token) or token.isdigit() or any(ord(c) > 0x24F for c in token):
        return token
    if all(c.isalpha() or c in "'’" for c in token):
        return token
    return "".join(LEET.get(c, c) for c in token)


def normalize(text: str, language: str = "en") -> tuple[str, list[int]]:
    """The normalized form of `text` and, for each of its characters, the index in `text` it came from."""
    folded, offs = _fold_chars(text)
    if language == "en":  # "cccd" (a Vietnamese ID card) is not an elongated word
        chars, offs = _collapse_repeats(list(folded), offs)
        folded = "".join(chars)
    # Tokens: words (leet symbols kept inside so "k!ll" survives) and single punctuation marks.
    raw = [(m.group(0), m.start(), m.end()) for m in re.finditer(r"[\w@$!|'*]+|[^\w\s]", folded)]
    # Trailing "!!!" is emphasis, not leetspeak for "iii"; inside a word ("k!ll") it is.
    deleet = _deleet if language in ("en", "other") else (lambda t: t)
    tokens = []
    for t, s, e in raw:
        core = t.strip("!|'")
        if core:  # keep the span on the word itself, not on its trailing "!!"
            lead = len(t) - len(t.lstrip("!|'"))
            s, e = s + lead, s + lead + len(core)
        tokens.append((uncensor(deleet(core)) if core else t, s, e))
    tokens = [t for t in tokens if any(c.isalnum() for c in t[0])]  # punctuation becomes plain spacing
    tokens = _join_spaced_letters(tokens)
    slang = SLANG_VI if language == "vi" else SLANG_EN
    out: list[str] = []
    out_offs: list[int] = []
    prev = ""
    for tok, s, e in tokens:
        word = tok
        if tok == "2" and prev in _TWO_MEANS_TO_AFTER:
            word = "to"
        elif tok in slang:
            word = slang[tok]
        elif language != "en" and tok in SLANG_EN and tok in {"kms", "kys", "unalive"}:
            word = SLANG_EN[tok]
        if out:
            out.append(" ")
            out_offs.append(offs[s])
        span = max(e - s, 1)
        for k, c in enumerate(word):
            out.append(c)
            # Characters of a replacement map onto the replaced token, proportionally.
            out_offs.append(offs[min(s + (k * span) // max(len(word), 1), len(offs) - 1)])
        prev = word
    return "".join(out), out_offs


def prepare(text: str, role: str = "input", language: str | None = None) -> Prepared:
    """Sanitize, detect the language and normalize: the input to every detection layer."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, not {type(text).__name__}")
    clean = sanitize(text)
    lang = language or detect_language(clean.translate(HOMOGLYPHS))
    normalized, offsets = normalize(clean, lang)
    return Prepared(original=text, text=clean, normalized=normalized, offsets=offsets, language=lang, role=role)


# Escapes whose letter is not a literal (\S, \W, \p{Han}, ...): an upper-case one does not make a pattern
# case-sensitive.
_ESCAPE = re.compile(r"\\(?:[pPN]\{[^}]*\}|.)")


def needs_ignorecase(pattern: str) -> bool:
    """Whether a pattern searched over normalized (case-folded) text needs IGNORECASE: only if it has an
    upper-case literal. Without the flag the regex engine does about half the work."""
    return any(ch.isupper() for ch in _ESCAPE.sub("", pattern))
