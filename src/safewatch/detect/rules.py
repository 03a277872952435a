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
from safewatch.detect.normalize import normalize
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
    groups: list[regex.Pattern]
    stripped_groups: list[regex.Pattern]


@dataclass
class _Regex:
    category: str
    rule_id: str
    lang: str | None
    score: float
    pattern: regex.Pattern
    on_original: bool


def _alternation(words: list[str], lang: str, *, stripped: bool) -> regex.Pattern:
    parts = []
    for w in sorted({_compile_phrase(w, lang, stripped=stripped) for w in words if w.strip()}, key=len, reverse=True):
        esc = regex.escape(w)
        parts.append(esc if _CJK.search(w) else rf"(?<!\w){esc}(?!\w)")
    return regex.compile("|".join(parts) or r"(?!)")


class RulesLayer:
    name = "rules"

    def __init__(self, policy: Policy) -> None:
        self._regexes: list[_Regex] = []
        self._combos: list[_Combo] = []
        # Two automatons: phrases as written (for texts with diacritics) and stripped (for texts without).
        entries: dict[bool, dict[str, list[_PhraseRule]]] = {False: {}, True: {}}
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
                flags = regex.IGNORECASE | regex.UNICODE
                self._regexes.append(_Regex(category, r.id, r.lang, r.score, regex.compile(r.pattern, flags), r.on_original))
            for c in rules.combos:
                lang = c.lang or "en"
                self._combos.append(_Combo(category, c.id, c.lang, c.window, c.score,
                                           [_alternation(g, lang, stripped=False) for g in c.all_of],
                                           [_alternation(g, lang, stripped=True) for g in c.all_of]))
        self._automatons: dict[bool, ahocorasick.Automaton | None] = {}
        for stripped, keyed in entries.items():
            if not keyed:
                self._automatons[stripped] = None
                continue
            automaton = ahocorasick.Automaton()
            for key, rules_for_key in keyed.items():
                automaton.add_word(key, (key, tuple(rules_for_key)))
            automaton.make_automaton()
            self._automatons[stripped] = automaton

    def score(self, batch: list[Prepared]) -> list[LayerScores]:
        return [self._score_one(p) for p in batch]

    def _score_one(self, p: Prepared) -> LayerScores:
        out = LayerScores()
        # Decided on what the user typed: slang expansion may add diacritics ("ko" -> "không") to a text typed
        # without them.
        typed_without_accents = strip_accents(p.text) == p.text
        stripped = stripped_form(p.normalized, p.stripped)
        text = stripped if typed_without_accents else p.normalized
        automaton = self._automatons[typed_without_accents]
        if automaton is not None:
            for end, (key, rules) in automaton.iter(text):
                start = end - len(key) + 1
                for rule in rules:
                    if not rule.applies_to(p.language):
                        continue
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
        word_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == " "]
        for c in self._combos:
            if c.lang and c.lang != p.language:
                continue
            hits = []
            for group in (c.stripped_groups if typed_without_accents else c.groups):
                found = [m.span() for m in group.finditer(text)]
                if not found:
                    break
                hits.append(found)
            else:
                span = _within_window(hits, word_starts, c.window, text)
                if span:
                    self._hit(out, p, c.category, c.rule_id, c.score, *span)

    def _hit(self, out: LayerScores, p: Prepared, category: str, rule_id: str, score: float, start: int, end: int) -> None:
        out.bump(category, score)
        out.matches.append(
            Match(layer=self.name, category=category, rule=rule_id, span=p.original_span(start, end), score=score)
        )


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
