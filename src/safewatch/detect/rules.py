"""Exact phrases (Aho-Corasick), regexes and keyword combinations from the policy.

All matching runs on the normalized text with Vietnamese diacritics stripped, and policy phrases are normalized
and stripped the same way when compiled: "tôi không muốn sống nữa", "toi ko muon song nua" and "TOI KHONG MUON
SONG NUA" are one phrase. Stripping keeps the text's length, so spans map back through the same offsets.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import ahocorasick
import regex

from safewatch.detect.base import LayerScores, Prepared
from safewatch.detect.normalize import normalize, strip_accents
from safewatch.policy import Policy
from safewatch.verdict import Match

_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]")


def matchable(text: str, language: str) -> str:
    """The form rules match against: normalized, then accents stripped (same length)."""
    stripped = strip_accents(text)
    return stripped if len(stripped) == len(text) else text


def _compile_phrase(phrase: str, lang: str) -> str:
    return matchable(normalize(phrase, lang)[0], lang)


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


@dataclass(frozen=True)
class _PhraseRule:
    category: str
    rule_id: str
    score: float
    cjk: bool


@dataclass
class _Combo:
    category: str
    rule_id: str
    lang: str | None
    window: int
    score: float
    groups: list[regex.Pattern]


@dataclass
class _Regex:
    category: str
    rule_id: str
    lang: str | None
    score: float
    pattern: regex.Pattern
    on_original: bool


def _alternation(words: list[str], lang: str) -> regex.Pattern:
    parts = []
    for w in sorted({_compile_phrase(w, lang) for w in words if w.strip()}, key=len, reverse=True):
        esc = regex.escape(w)
        parts.append(esc if _CJK.search(w) else rf"(?<!\w){esc}(?!\w)")
    return regex.compile("|".join(parts) or r"(?!)")


class RulesLayer:
    name = "rules"

    def __init__(self, policy: Policy) -> None:
        self._automaton = ahocorasick.Automaton()
        self._regexes: list[_Regex] = []
        self._combos: list[_Combo] = []
        entries: dict[str, list[_PhraseRule]] = {}
        for category, cat in policy.enabled_categories().items():
            rules = cat.rules
            for lang, phrases in rules.phrases.items():
                for i, phrase in enumerate(phrases, 1):
                    key = _compile_phrase(phrase, lang)
                    if not key.strip():
                        continue
                    rule = _PhraseRule(category, f"{category}-{lang}-phrase-{i}", rules.phrase_score, bool(_CJK.search(key)))
                    entries.setdefault(key, []).append(rule)
            for r in rules.regexes:
                flags = regex.IGNORECASE | regex.UNICODE
                self._regexes.append(_Regex(category, r.id, r.lang, r.score, regex.compile(r.pattern, flags), r.on_original))
            for c in rules.combos:
                lang = c.lang or "en"
                self._combos.append(_Combo(category, c.id, c.lang, c.window, c.score, [_alternation(g, lang) for g in c.all_of]))
        for key, rules_for_key in entries.items():
            self._automaton.add_word(key, (key, tuple(rules_for_key)))
        self._has_phrases = bool(entries)
        if self._has_phrases:
            self._automaton.make_automaton()

    def score(self, batch: list[Prepared]) -> list[LayerScores]:
        return [self._score_one(p) for p in batch]

    def _score_one(self, p: Prepared) -> LayerScores:
        out = LayerScores()
        text = matchable(p.normalized, p.language)
        if self._has_phrases:
            for end, (key, rules) in self._automaton.iter(text):
                start = end - len(key) + 1
                for rule in rules:
                    if not rule.cjk and (
                        (start > 0 and _is_word_char(text[start - 1])) or (end + 1 < len(text) and _is_word_char(text[end + 1]))
                    ):
                        continue
                    self._hit(out, p, rule.category, rule.rule_id, rule.score, start, end + 1)
        for r in self._regexes:
            if r.lang and r.lang != p.language:
                continue
            target = p.text if r.on_original else text
            m = r.pattern.search(target)
            if m is None and not r.on_original and text != p.normalized:
                target = p.normalized
                m = r.pattern.search(target)
            if m:
                span = m.span() if r.on_original else p.original_span(*m.span())
                out.bump(r.category, r.score)
                out.matches.append(Match(layer=self.name, category=r.category, rule=r.rule_id, span=span, score=r.score))
        if self._combos:
            self._combos_for(out, p, text)
        return out

    def _combos_for(self, out: LayerScores, p: Prepared, text: str) -> None:
        word_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == " "]
        for c in self._combos:
            if c.lang and c.lang != p.language:
                continue
            hits = []
            for group in c.groups:
                found = [m.span() for m in group.finditer(text)]
                if not found:
                    break
                hits.append(found)
            else:
                span = _within_window(hits, word_starts, c.window)
                if span:
                    self._hit(out, p, c.category, c.rule_id, c.score, *span)

    def _hit(self, out: LayerScores, p: Prepared, category: str, rule_id: str, score: float, start: int, end: int) -> None:
        out.bump(category, score)
        out.matches.append(
            Match(layer=self.name, category=category, rule=rule_id, span=p.original_span(start, end), score=score)
        )


def _within_window(hits: list[list[tuple[int, int]]], word_starts: list[int], window: int) -> tuple[int, int] | None:
    """The tightest span holding one hit of every group, if its words are at most `window` apart."""
    best = None
    anchor_hits = hits[0]
    for a in anchor_hits:
        chosen = [a]
        for group in hits[1:]:
            chosen.append(min(group, key=lambda h: abs(h[0] - a[0])))
        start = min(h[0] for h in chosen)
        end = max(h[1] for h in chosen)
        words_apart = bisect.bisect_right(word_starts, end - 1) - bisect.bisect_right(word_starts, start)
        # CJK has no spaces: a clause is one "word", so also cap the distance in characters.
        if words_apart <= window and end - start <= max(window * 8, 24):
            if best is None or end - start < best[1] - best[0]:
                best = (start, end)
    return best
