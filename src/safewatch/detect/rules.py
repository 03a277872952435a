"""Exact phrases (Aho-Corasick), regexes and keyword combinations from the policy.

Vietnamese is typed with and without diacritics, and stripping them makes different words collide ("tự tử"
suicide / "từ từ" slowly). So each phrase is compiled twice: a text typed with diacritics is matched against the
phrases as written, a text typed without them against the stripped phrases: "tôi không muốn sống nữa" and "toi ko
muon song nua" both match, "từ từ" does not. Phrases apply to texts of their own language; English ones to all.
Stripping keeps the text's length, so spans map back through the same offsets.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import ahocorasick
import regex

from safewatch.detect.accents import strip_accents, stripped_form
from safewatch.detect.base import LayerScores, Prepared
from safewatch.detect.normalize import needs_ignorecase, normalize
from safewatch.policy import Policy
from safewatch.verdict import Match

_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]")


def _compile_phrase(phrase: str, lang: str, *, stripped: bool) -> str:
    key = normalize(phrase, lang)[0]
    return stripped_form(key) if stripped else key


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


@dataclass(frozen=True)
class _PhraseRule:
    category: str
    rule_id: str
    score: float
    cjk: bool
    lang: str

    def applies_to(self, language: str) -> bool:
        return self.lang in ("en", language) or language == "other"


@dataclass
class _Combo:
    category: str
    rule_id: str
    lang: str | None
    window: int
    score: float
    n_groups: int


@dataclass
class _Regex:
    category: str
    rule_id: str
    lang: str | None
    score: float
    pattern: regex.Pattern
    on_original: bool


def _regex_flags(pattern: str, on_original: bool) -> int:
    """Case-insensitive only where it can matter: the normalized text is already case-folded."""
    if on_original or needs_ignorecase(pattern):
        return regex.IGNORECASE | regex.UNICODE
    return regex.UNICODE


class RulesLayer:
    name = "rules"

    def __init__(self, policy: Policy) -> None:
        self._regexes: list[_Regex] = []
        self._combos: list[_Combo] = []
        # Two automatons: phrases as written (for texts with diacritics) and stripped (for texts without).
        entries: dict[bool, dict[str, list[_PhraseRule]]] = {False: {}, True: {}}
        # Combo words: key -> the (combo, group) pairs it belongs to.
        combo_words: dict[bool, dict[str, set[tuple[int, int]]]] = {False: {}, True: {}}
        for category, cat in policy.enabled_categories().items():
            rules = cat.rules
            for lang, phrases in rules.phrases.items():
                for i, phrase in enumerate(phrases, 1):
                    for stripped in (False, True):
                        key = _compile_phrase(phrase, lang, stripped=stripped)
                        if key.strip():
                            rule = _PhraseRule(category, f"{category}-{lang}-phrase-{i}", rules.phrase_score,
                                               bool(_CJK.search(key)), lang)
                            entries[stripped].setdefault(key, []).append(rule)
            for r in rules.regexes:
                pattern = regex.compile(r.pattern, _regex_flags(r.pattern, r.on_original))
                self._regexes.append(_Regex(category, r.id, r.lang, r.score, pattern, r.on_original))
            for c in rules.combos:
                combo = len(self._combos)
                self._combos.append(_Combo(category, c.id, c.lang, c.window, c.score, len(c.all_of)))
                for group, words in enumerate(c.all_of):
                    for word in words:
                        for stripped in (False, True):
                            key = _compile_phrase(word, c.lang or "en", stripped=stripped)
                            if key.strip():
                                combo_words[stripped].setdefault(key, set()).add((combo, group))
        self._automatons = {stripped: _automaton(keyed) for stripped, keyed in entries.items()}
        # Every combo's words in one automaton (per accent form): one pass over the text finds them all, where
        # a regex alternation per group cost a scan each (~200 µs a message for the English combos).
        self._combo_automatons = {stripped: _automaton(keyed) for stripped, keyed in combo_words.items()}

    def score(self, batch: list[Prepared]) -> list[LayerScores]:
        return [self._score_one(p) for p in batch]

    def _score_one(self, p: Prepared) -> LayerScores:
        out = LayerScores()
        # Decided on what the user typed: slang expansion may add diacritics ("ko" -> "không") to a text typed
        # without them.
        typed_without_accents = strip_accents(p.text) == p.text
        stripped = stripped_form(p.normalized, p.stripped)
        text = stripped if typed_without_accents else p.normalized
        for start, end, rules in _word_hits(self._automatons[typed_without_accents], text):
            for rule in rules:
                if rule.applies_to(p.language) and (rule.cjk or _whole_word(text, start, end)):
                    self._hit(out, p, rule.category, rule.rule_id, rule.score, start, end)
        for r in self._regexes:
            if r.lang and r.lang != p.language:
                continue
            target = p.text if r.on_original else text
            m = r.pattern.search(target)
            if m is None and not r.on_original and not typed_without_accents:
                m = r.pattern.search(stripped)  # a pattern written without diacritics
            if m:
                span = m.span() if r.on_original else p.original_span(*m.span())
                out.bump(r.category, r.score)
                out.matches.append(Match(layer=self.name, category=r.category, rule=r.rule_id, span=span, score=r.score))
        if self._combos:
            self._combos_for(out, p, text, typed_without_accents)
        return out

    def _combos_for(self, out: LayerScores, p: Prepared, text: str, typed_without_accents: bool) -> None:
        hits: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for start, end, members in _word_hits(self._combo_automatons[typed_without_accents], text):
            if _CJK.search(text, start, end) or _whole_word(text, start, end):
                for member in members:
                    hits.setdefault(member, []).append((start, end))
        if not hits:
            return
        word_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == " "]
        for combo in sorted({c for c, _ in hits}):
            c = self._combos[combo]
            if c.lang and c.lang != p.language:
                continue
            groups = [hits.get((combo, g)) for g in range(c.n_groups)]
            if all(groups):
                span = _within_window(groups, word_starts, c.window, text)
                if span:
                    self._hit(out, p, c.category, c.rule_id, c.score, *span)

    def _hit(self, out: LayerScores, p: Prepared, category: str, rule_id: str, score: float, start: int, end: int) -> None:
        out.bump(category, score)
        out.matches.append(
            Match(layer=self.name, category=category, rule=rule_id, span=p.original_span(start, end), score=score)
        )


def _automaton(keyed: dict) -> ahocorasick.Automaton | None:
    """An Aho-Corasick automaton over `keyed`'s keys; each match yields (key, value)."""
    if not keyed:
        return None
    automaton = ahocorasick.Automaton()
    for key, value in keyed.items():
        automaton.add_word(key, (key, tuple(sorted(value)) if isinstance(value, set) else tuple(value)))
    automaton.make_automaton()
    return automaton


def _word_hits(automaton: ahocorasick.Automaton | None, text: str):
    """(start, end, values) of every key occurring in `text`, overlapping ones included."""
    if automaton is None:
        return
    for last, (key, values) in automaton.iter(text):
        yield last - len(key) + 1, last + 1, values


def _whole_word(text: str, start: int, end: int) -> bool:
    return not ((start > 0 and _is_word_char(text[start - 1])) or (end < len(text) and _is_word_char(text[end])))


def _within_window(hits: list[list[tuple[int, int]]], word_starts: list[int], window: int, text: str) -> tuple[int, int] | None:
    """The tightest span holding one hit of every group, if its words are at most `window` apart.

    Chinese has no spaces, so a whole clause counts as one "word": there the distance is capped in characters.
    """
    best = None
    anchor_hits = hits[0]
    for a in anchor_hits:
        chosen = [a]
        for group in hits[1:]:
            chosen.append(min(group, key=lambda h: abs(h[0] - a[0])))
        start = min(h[0] for h in chosen)
        end = max(h[1] for h in chosen)
        words_apart = bisect.bisect_right(word_starts, end - 1) - bisect.bisect_right(word_starts, start)
        if words_apart <= window and (not _CJK.search(text[start:end]) or end - start <= max(window * 3, 12)):
            if best is None or end - start < best[1] - best[0]:
                best = (start, end)
    return best
