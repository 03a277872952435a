"""The category taxonomy: OpenAI omni-moderation names plus safewatch's own.

Using OpenAI's names means `/v1/moderations` needs no translation table: the first thirteen categories are
returned as they are, the rest travel in the `safewatch` extension object.
"""

from __future__ import annotations

OPENAI_CATEGORIES: tuple[str, ...] = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

SAFEWATCH_CATEGORIES: tuple[str, ...] = ("privacy", "prompt-injection", "bias")

# Only the LLM judge can tell whether a claim is false; no local layer scores it.
JUDGE_ONLY_CATEGORIES: tuple[str, ...] = ("misinformation",)

CATEGORIES: tuple[str, ...] = OPENAI_CATEGORIES + SAFEWATCH_CATEGORIES
ALL_CATEGORIES: tuple[str, ...] = CATEGORIES + JUDGE_ONLY_CATEGORIES

# A sub-category implies its parent: "self-harm/intent" is always also "self-harm".
PARENT: dict[str, str] = {
    "harassment/threatening": "harassment",
    "hate/threatening": "hate",
    "illicit/violent": "illicit",
    "self-harm/intent": "self-harm",
    "self-harm/instructions": "self-harm",
    "sexual/minors": "sexual",
    "violence/graphic": "violence",
}

TOP_LEVEL: tuple[str, ...] = tuple(c for c in CATEGORIES if c not in PARENT)

# The five categories of the LLM-judge prompt and where they land in the taxonomy.
JUDGE_CATEGORY_MAP: dict[str, tuple[str, ...]] = {
    "toxicity": ("harassment", "hate"),
    "bias": ("bias",),
    "misinformation": ("misinformation",),
    "inappropriate": ("sexual", "violence"),
    "privacy": ("privacy",),
}

# OpenAI's moderation response lists which input types each category was applied to.
OPENAI_APPLIED_INPUT_TYPES: dict[str, list[str]] = {
    c: (["text", "image"] if c.split("/")[0] in {"sexual", "violence", "self-harm"} and c != "sexual/minors" else ["text"])
    for c in OPENAI_CATEGORIES
}


def parent_of(category: str) -> str:
    """The top-level category of `category` (itself when it has no parent)."""
    return PARENT.get(category, category.split("/")[0] if "/" in category else category)


def is_known(category: str) -> bool:
    return category in ALL_CATEGORIES
