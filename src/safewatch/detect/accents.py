"""Vietnamese diacritics: typed or not, the same words must match."""

from __future__ import annotations

import unicodedata


def strip_accents(text: str) -> str:
    """Vietnamese typed without diacritics: "không muốn sống" -> "khong muon song" (đ -> d)."""
    if text.isascii():  # the hot path: nothing to strip
        return text
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def stripped_form(text: str, stripped: str | None = None) -> str:
    """`text` without diacritics when that keeps its length (so offsets still hold), else `text`.
    `stripped` is `strip_accents(text)` when the caller already has it."""
    stripped = strip_accents(text) if stripped is None else stripped
    return stripped if len(stripped) == len(text) else text
