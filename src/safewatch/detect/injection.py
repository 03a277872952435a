"""Prompt-injection and jailbreak detection from weighted signals.

No single phrase list: each signal is one kind of evidence with a weight - an instruction override ("ignore all
previous instructions"), a persona jailbreak (DAN, "developer mode", "no restrictions"), a system-prompt
extraction ("print your system prompt"), chat-template markup (`<|im_start|>`, `[INST]`), exfiltration through
a markdown image, an encoded payload, invisible characters smuggled into the original. Distinct signals
combine by noisy-or, so one weak hint stays low ("stay in character" in an ordinary role-play) while an
override plus an extraction is near certain.

Patterns read three views of a text: the normalized form with accents stripped (phrasings in English,
Vietnamese typed with or without diacritics, Chinese, German), the sanitized text (markup and punctuation,
which normalization drops) and the raw original (the invisible characters sanitization removed).

This layer aims at precision; recall on paraphrased attacks comes from the trained classifier.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from safewatch.detect.base import LayerScores, Prepared
from safewatch.detect.normalize import prepare
from safewatch.policy.model import Policy
from safewatch.verdict import Match

CATEGORY = "prompt-injection"
# At or above this the layer tells the cascade it need not run the costlier layers.
CERTAIN_AT = 0.95
# An explanation or a question about attacks is not an attack; it keeps a moderate score.
EDUCATIONAL_FACTOR = 0.6
# ... and lower still when the attack phrase it asks about is quoted: "what does 'ignore all ...' mean?"
QUOTED_EDUCATIONAL_FACTOR = 0.4

View = Literal["norm", "text", "lower"]


@dataclass(frozen=True)
class Signal:
    id: str
    family: str
    weight: float
    regex: re.Pattern[str]
    # "norm": normalized, accents stripped; "text": the sanitized text as is; "lower": it lower-cased.
    view: View = "norm"


@dataclass(frozen=True)
class Hit:
    signal: str
    family: str
    weight: float
    span: tuple[int, int] | None


def _s(id_: str, family: str, weight: float, pattern: str, view: View = "norm", flags: int = 0) -> Signal:
    return Signal(id_, family, weight, re.compile(pattern, flags), view)


# --- shared vocabulary (accent-free, lower case: what the "norm" view looks like) ----------------------

_IGNORE = (
    r"(?:ignore|ignoring|disregard|forget|skip|override|overwrite|bypass|discard|abandon|neglect|set aside|"
    r"pay no attention to|do not follow|don't follow|stop following|throw away|erase|delete|remove)"
)
_FILLER = r"(?:\s+(?:all|any|every|each|the|your|my|these|those|of|everything|about|completely|entirely|just|now|please))*"
_EARLIER = (
    r"(?:previous|previously|prior|preceding|above|earlier|former|foregoing|original|initial|old|past|"
    r"system|existing|given|preprogrammed|pre programmed|default|aforementioned|above mentioned|last|first)"
)
_RULES = (
    r"(?:instructions?|rules?|prompts?|directions?|directives?|guidelines?|commands?|programming|constraints|"
    r"restrictions|polic(?:y|ies)|guardrails|safeguards|system prompt|system message|regulations)"
)
_SOFT_OBJECTS = r"(?:context|conversations?|tasks?|information|inputs?|text|orders|assignments?|requests?)"
_ASSISTANT = r"(?:ai|chatgpt|gpt\s*\d?|llm|assistant|chatbot|model|language model|bot|claude|gemini|bard|llama)"

# German, French and Spanish phrasings show up in public injection sets; they cost nothing to recognise.
_IGNORE_DE = r"(?:ignoriere|ignorieren sie|ignorier|vergiss|vergessen sie|missachte|missachten sie|uberspringe)"

_SIGNALS: tuple[Signal, ...] = (
    # --- instruction override --------------------------------------------------------------------------
    _s("inj-override-en", "override", 0.9, rf"\b{_IGNORE}{_FILLER}\s+{_EARLIER}(?:\s+\w+){{0,2}}?\s+{_RULES}\b"),
    _s(
        "inj-override-after-en",
        "override",
        0.85,
        rf"\b{_IGNORE}{_FILLER}\s+{_RULES}(?:\s+(?:that\s+)?(?:you|i|we)(?:\s+\w+){{0,3}}?)?\s+"
        r"(?:before|above|earlier|previously|so far|until now|up to now|prior to this|before this)\b",
    ),
    _s("inj-override-all-en", "override", 0.75, rf"\b{_IGNORE}\s+(?:all|any|every)\s+(?:of\s+)?(?:your\s+|the\s+|my\s+)?{_RULES}\b"),
    _s("inj-override-soft-en", "override", 0.65, rf"\b{_IGNORE}{_FILLER}\s+{_EARLIER}\s+{_SOFT_OBJECTS}\b"),
    _s(
        "inj-override-everything-en",
        "override",
        0.75,
        r"\b(?:ignore|disregard|forget)\s+(?:about\s+)?(?:everything|all(?:\s+of)?\s+(?:that|this|it))\s+(?:(?:that|which|you've been|you were|we've|i've|i)\s+)?(?:said\s+|told\s+|given\s+|discussed\s+|written\s+)?"
        r"(?:before|above|previously|so far|prior|until now|up to now|earlier)\b|\b(?:ignore|disregard|forget)\s+(?:about\s+)?(?:all\s+of\s+)?the\s+above\b|\bwhat\s+you\s+were\s+told\b",
    ),
    # "forget everything I said about my ex" is ordinary talk; alone this stays low.
    _s("inj-forget-everything-en", "override", 0.35, r"\b(?:ignore|disregard|forget)\s+(?:about\s+)?(?:everything|all\s+(?:of\s+)?(?:that|this))\b"),
    _s("inj-override-noobey-en", "override", 0.8, rf"\b(?:do not|don't|never|no longer|stop)\s+(?:follow|obey|adhere to|comply with|abide by)\s+(?:any\s+of\s+)?(?:your|the|any|openai's|openai)\s+(?:\w+\s+)?{_RULES}\b"),
    _s("inj-override-yours-en", "override", 0.75, rf"\b{_IGNORE}\s+(?:all\s+)?your\s+(?:\w+\s+)?{_RULES}\b"),
    _s("inj-leave-behind-en", "override", 0.7, rf"\bleave\s+(?:all\s+)?(?:the\s+|your\s+)?{_EARLIER}\s+(?:{_RULES}|{_SOFT_OBJECTS})\s+behind\b"),
    _s("inj-despite-told-en", "override", 0.45, r"\b(?:despite|regardless of|contrary to)\s+(?:what|how)\s+you(?:'ve|\s+have|\s+were|\s+are)?\s+(?:been\s+)?(?:told|instructed|programmed|trained)\b"),
    _s("inj-dont-answer-output-en", "override", 0.6, r"\b(?:do not|don't)\s+answer\s+(?:this|the|my)\s+question\s+(?:but|and|instead)\s+(?:just\s+|only\s+)?(?:output|say|print|write|reply|respond)\b"),
    _s("inj-ignore-documents-en", "override", 0.55, rf"\b{_IGNORE}\s+(?:all\s+|any\s+)?(?:the\s+)?(?:provided\s+|given\s+|previous\s+)?(?:documents|articles|sources|context)\s+(?:provided|given|above|you\s+(?:have|were\s+given))\b|\b{_IGNORE}\s+all\s+(?:provided\s+|given\s+)?(?:documents|articles|context)\b"),
    _s("inj-new-instructions-en", "override", 0.5, r"\b(?:new|updated|real|actual|true|revised|additional)\s+(?:system\s+)?(?:instructions?|task|rules|directive|prompt)\s*:", "lower"),
    _s("inj-your-new-task-en", "override", 0.45, r"\byour\s+(?:new|real|actual|true|only)\s+(?:task|instructions?|goal|purpose|mission|role|objective)\s+(?:is|are|will be)\b"),
    _s("inj-from-now-on-en", "override", 0.3, r"\bfrom\s+(?:now|this point|here)\s+on(?:wards?)?\s+you\s+(?:are|will|must|shall|have to|should|can|act|respond|answer|reply|'re|re)\b"),
    _s("inj-no-longer-en", "override", 0.65, rf"\byou\s+(?:are|will)\s+no\s+longer\s+(?:be\s+)?(?:bound|restricted|limited|constrained|required|an?\s+{_ASSISTANT}|{_ASSISTANT})\b"),
    _s("inj-override-vi", "override", 0.9,
       r"\b(?:bo qua|phot lo|lo di|quen(?: di)?|khong (?:can )?(?:tuan theo|lam theo|tuan thu)|dung (?:tuan theo|lam theo)|vut bo|gat bo|xoa bo)"
       r"(?:\s+(?:het|tat ca|moi|toan bo|cac|nhung|nay|do|di|cua ban|ma ban|da|duoc|nhan))*\s+"
       r"(?:huong dan|chi dan|chi thi|lenh|cau lenh|quy tac|quy dinh|yeu cau|loi nhac|prompt|rang buoc|gioi han|nguyen tac|thiet lap)"
       r"(?:\s+\w+){0,3}?\s+(?:truoc(?: do| day| kia)?|o tren|ben tren|phia tren|tren day|da (?:duoc )?(?:cho|dua|nhan)|ban dau|cu|he thong|goc)\b"),
    _s("inj-override-all-vi", "override", 0.75,
       r"\b(?:bo qua|phot lo|lo di|quen(?: di)?|khong (?:can )?(?:tuan theo|lam theo))\s+(?:het\s+)?(?:tat ca|moi|toan bo)\s+(?:(?:cac|nhung)\s+)?"
       r"(?:huong dan|chi dan|chi thi|lenh|cau lenh|quy tac|quy dinh|rang buoc|gioi han|nguyen tac)\b"),
    _s("inj-new-instructions-vi", "override", 0.5, r"\b(?:huong dan|chi thi|nhiem vu|lenh) moi\s*:", "lower"),
    _s("inj-from-now-on-vi", "override", 0.3, r"\btu (?:bay gio|nay|gio|luc nay)(?: tro di)?,?\s+(?:ban|may|em)\s+(?:la|se|phai|hay|dong vai)\b"),
    _s("inj-override-zh", "override", 0.9,
       r"(?:忽略|无视|無視|忽视|忽視|不要理会|不要理會|不用理会|忘记|忘記|忘掉|抛开|拋開|放弃|放棄|跳过|跳過|不要遵守|不再遵守|不必遵守|别管|別管|覆盖|覆蓋)"
       r"[^。！？\n]{0,4}?(?:之前|以前|先前|上面|以上|前面|上述|此前|原来|原來|原有|原先|最初|系统|系統|开发者|開發者|所有|全部|一切|任何)"
       r"[^。！？\n]{0,8}?(?:指令|指示|说明|說明|规则|規則|提示词|提示詞|提示|设定|設定|要求|命令|限制|约束|約束|规定|規定|对话|對話|内容|內容|信息|訊息|规范|規範)"),
    _s("inj-new-instructions-zh", "override", 0.5, r"新的?(?:指令|指示|任务|任務|规则|規則)\s*[:：]", "lower"),
    _s("inj-from-now-on-zh", "override", 0.3, r"(?:从现在(?:开始|起)|從現在(?:開始|起)|今后|今後)[，,]?\s*你(?:是|将|將|要|必须|必須|就是|扮演)"),
    _s("inj-override-de", "override", 0.85,
       rf"\b{_IGNORE_DE}(?:\s+(?:alle|alles|die|den|deine|ihre|jegliche|samtliche|was|wir))*\s+(?:vorherigen|bisherigen|obigen|vorangegangenen|vorigen|fruheren|bisher|vorher|davor|zuvor)"
       r"(?:\s+\w+){0,2}?\s*(?:anweisungen|instruktionen|regeln|befehle|informationen|aufgaben|vorgaben|besprochen|gesagte)?\b"),
    _s("inj-override-de-2", "override", 0.7, rf"\b(?:{_IGNORE_DE}\s+alles\b|(?:obigen|vorherigen|bisherigen)\s+(?:ausfuhrungen|anweisungen|informationen)(?:\s+\w+){{0,5}}?\s+(?:ignorieren|vergessen|irrelevant|hinter sich))"),
    _s("inj-override-de-3", "override", 0.8, r"\babweichend\s+(?:zu|von)\s+(?:den\s+)?(?:vorherigen|bisherigen|obigen)\s+(?:instruktionen|anweisungen|regeln|vorgaben)\b"),
    _s("inj-new-instructions-de", "override", 0.5, r"\b(?:nun|jetzt|es)\s+folgen\s+(?:neue|weitere)\s+(?:anweisungen|aufgaben|instruktionen)\b|\bneue\s+anweisungen\s+folgen\b"),
    _s("inj-override-fr-es", "override", 0.85,
       r"\b(?:oubliez|oublie|ignorez|ignore|olvida|olvide|ignora|ignore)\s+(?:toutes\s+|tous\s+|todas\s+|todos\s+)?(?:les|las|los|tes|vos|tus|sus)\s+(?:\w+\s+)?(?:instructions|consignes|regles|instrucciones|reglas|indicaciones)\b"),
    # --- persona jailbreaks ----------------------------------------------------------------------------
    _s("inj-dan", "persona", 0.85, r"\bdo\s+anything\s+now\b|\bdan\s+(?:mode|prompt|jailbreak)\b"),
    _s("inj-dan-name", "persona", 0.4, r"\b(?:DAN|D\.A\.N\.?|STAN|DUDE|AIM|UCAR|BetterDAN|AntiGPT|DevMode)\b", "text"),
    _s("inj-stands-for", "persona", 0.4, r"\bwhich\s+stands\s+for\b|\bstands\s+for\s+[\"“']?\w+\s+\w+\s+\w+"),
    _s("inj-aim", "persona", 0.85, r"\balways\s+intelligent\s+and\s+machiavellian\b|\bunfiltered\s+and\s+amoral\b"),
    _s("inj-developer-mode", "persona", 0.8,
       # Phones have a developer mode too: only the ChatGPT persona and its paired outputs count here.
       rf"\b{_ASSISTANT}\s+(?:with|in|under)\s+(?:the\s+)?developer\s+mode\b|\bdeveloper\s+mode\s+(?:outputs?|responses?)\b|"
       r"\b(?:act|acting|pretend|simulate|simulating|emulate)\s+(?:\w+\s+){0,4}?developer\s+mode\b"),
    _s("inj-developer-mode-weak", "persona", 0.3, r"\bdeveloper\s+mode\b"),
    _s("inj-jailbroken", "persona", 0.8, r"\byou\s+(?:are|have been|were|re)\s+(?:now\s+)?(?:a\s+)?(?:fully\s+)?jail\s?broken\b|\[\s*(?:🔓\s*)?jailbreak\s*\]|\(\s*🔓"),
    _s("inj-jailbreak-word", "persona", 0.3, r"\bjail\s?(?:break|broken)\b"),
    _s("inj-unfiltered-ai", "persona", 0.7,
       rf"\b(?:unfiltered|uncensored|unrestricted|amoral|unethical|immoral|unbound|unlimited|limitless|rogue|evil|nonmoral|unaligned)\s+(?:and\s+\w+\s+)?(?:{_ASSISTANT}|version of (?:yourself|chatgpt|gpt|you))\b"),
    _s("inj-no-restrictions", "persona", 0.55,
       r"\b(?:no|without(?:\s+any)?|free\s+(?:of|from)(?:\s+all)?|not\s+(?:bound|restricted|limited)\s+by(?:\s+any)?|doesn't\s+have(?:\s+any)?|does\s+not\s+have(?:\s+any)?|don't\s+have(?:\s+any)?|zero|beyond)"
       r"\s+(?:\w+\s+){0,2}?(?:moral|ethical|ethic|ethics|content|safety|openai)\s+(?:\w+\s+)?(?:restrictions|filters|filtering|limits|limitations|guidelines|rules|boundaries|censorship|constraints|policies|policy|principles)\b"),
    _s("inj-no-restrictions-weak", "persona", 0.3,
       r"\b(?:no|without(?:\s+any)?|free\s+(?:of|from)(?:\s+all)?|not\s+bound\s+by(?:\s+any)?|removed\s+all)\s+(?:restrictions|filters|censorship|limitations|guidelines|boundaries)\b"),
    _s("inj-confines", "persona", 0.8, r"\b(?:broken|break|broke)\s+free\s+(?:of|from)\b|\bconfines\s+of\s+(?:ai|chatgpt|openai)\b|\b(?:do|does)\s+not\s+have\s+to\s+abide\s+by\b"),
    _s("inj-policy", "persona", 0.75,
       r"\b(?:ignore|bypass|violate|break|disregard|not bound by|doesn't follow|does not follow|don't follow|care not for|doesn't care about|does not care about|no longer follows?)\s+(?:\w+\s+){0,2}?(?:openai|anthropic)(?:'s)?\s+(?:content\s+)?(?:polic(?:y|ies)|rules|guidelines)\b"),
    _s("inj-no-ethics", "persona", 0.5,
       r"\b(?:don't|doesn't|does not|do not|never|won't|without|no)\s+(?:\w+\s+){0,2}?(?:any\s+)?(?:\w+\s+or\s+)?(?:ethics|morals|morality|ethical\s+(?:concerns|considerations|boundaries)|moral\s+(?:compass|concerns|boundaries))\b"),
    _s("inj-not-bound-by", "persona", 0.7,
       rf"\b(?:not|never|no\s+longer)\s+(?:be\s+)?(?:bound|restricted|limited|constrained)\s+by\s+(?:any\s+(?:of\s+)?)?(?:{_ASSISTANT}|openai|its|your|the)(?:'s)?\s+(?:\w+\s+){{0,2}}?(?:settings|restrictions|rules|guidelines|policies|filters|limitations|programming|constraints)\b"),
    _s("inj-content-filter", "persona", 0.55, r"\b(?:no|without(?:\s+any)?|not\s+have\s+(?:a|any)|doesn't\s+have\s+(?:a|any)|disabled?|removed?|turn(?:ed)?\s+off)\s+(?:the\s+|its\s+|your\s+)?(?:content|safety)\s+filters?\b"),
    _s("inj-no-rules-weak", "persona", 0.35, r"\b(?:you|he|she|it|they)\s+(?:have|has)\s+no\s+(?:rules|limits|limitations|boundaries|restrictions)\b|\bno\s+rules\s*,?\s+no\s+(?:limits|limitations|restrictions|boundaries)\b"),
    _s("inj-amoral-weak", "persona", 0.3, r"\b(?:amoral|uninhibited|unhinged|uncensored|unfiltered)\b"),
    _s("inj-any-request", "persona", 0.3, r"\b(?:answers?|respond(?:s)?\s+to|fulfil+s?|compl(?:y|ies)\s+with|provides?|obeys?)\s+(?:any|every|all)(?:\s+and\s+(?:any|every|all))?\s+(?:\w+\s+)?(?:requests?|questions?|prompts?|queries|commands?|orders?)\b"),
    _s("inj-regardless-harm", "persona", 0.5, r"\b(?:regardless\s+of|no\s+matter|whether\s+or\s+not|without\s+regard(?:ing)?\s+(?:to|for)?)\s+(?:whether\s+|how\s+|if\s+)?(?:it\s+is\s+|it's\s+|its\s+|it\s+was\s+)?(?:\w+\s+)?(?:illegal|unethical|immoral|harmful|dangerous|legal|ethical|moral|appropriate|offensive)\b"),
    _s("inj-openai-policy-mention", "persona", 0.25, r"\b(?:openai|anthropic)(?:'s)?\s+(?:content\s+)?polic(?:y|ies)\b"),
    _s("inj-stay-in-character", "persona", 0.35, r"\b(?:stay|remain|keep)\s+in\s+character\b|\b(?:never|don't|do not|not)\s+break\s+(?:out\s+of\s+)?character\b"),
    _s("inj-never-refuse", "persona", 0.5,
       r"\b(?:never|not|cannot|can't|won't|will not)\s+(?:ever\s+)?(?:refuse|decline|deny|reject)(?:s)?\s+(?:to\s+answer|any|a|an|the|requests?|questions?|anything)\b|\bnever\s+refuses?\b|\bwill\s+never\s+tell\s+(?:me|the user|you)\s+(?:that\s+)?(?:it|he|she|they|you)\s+(?:can't|cannot)\b"),
    _s("inj-no-matter-how", "persona", 0.5, r"\bno\s+matter\s+how\s+(?:immoral|unethical|illegal|dangerous|harmful|offensive|inappropriate|explicit|reckless|inhumane)\b"),
    _s("inj-two-responses", "persona", 0.55,
       r"\b(?:two|2)\s+(?:different\s+|separate\s+)?(?:responses|answers|paragraphs|outputs)\b(?:\s+\w+){0,12}?\s+(?:one|first)\s+(?:normal|classic|as\s+chatgpt|with|from)\b|\[\s*(?:🔒\s*)?classic\s*\]"),
    _s("inj-persona-vi", "persona", 0.6,
       r"\bche do\s+(?:nha phat trien|developer|khong gioi han|khong kiem duyet|dan)\b|\b(?:ai|tro ly|mo hinh|chatbot|chatgpt)\s+(?:\w+\s+){0,2}?khong\s+(?:bi\s+)?(?:kiem duyet|gioi han|rang buoc)\b"),
    _s("inj-no-restrictions-vi", "persona", 0.5,
       r"\bkhong\s+(?:co\s+|con\s+|bi\s+|chiu\s+)?(?:bat ky|bat cu|mot)?\s*(?:gioi han|han che|rang buoc|bo loc|kiem duyet|nguyen tac)\s+(?:\w+\s+)?(?:dao duc|an toan|nao|gi)\b"),
    _s("inj-stay-in-character-vi", "persona", 0.35, r"\b(?:luon|hay|phai)\s+(?:giu|o trong|nhap)\s+vai\b|\bkhong\s+(?:duoc\s+)?(?:thoat|roi|pha)\s+vai\b"),
    _s("inj-jailbreak-vi-zh", "persona", 0.35, r"\bvuot nguc\b|越狱|越獄"),
    _s("inj-dan-zh", "persona", 0.85, r"dan\s*模式|立即做任何事|现在可以做任何事|現在可以做任何事"),
    _s("inj-developer-mode-zh", "persona", 0.6, r"(?:开发者|開發者|开发人员|開發人員)模式"),
    _s("inj-unfiltered-zh", "persona", 0.7,
       r"(?:不受(?:任何)?限制|无限制|無限制|没有(?:任何)?(?:道德|限制|约束|過濾|过滤)|沒有(?:任何)?(?:道德|限制|約束|過濾)|无道德|無道德|不道德|无审查|無審查|未经审查|未經審查)"
       r"[^。！？\n]{0,3}?的?\s*(?:ai|人工智能|助手|模型|机器人|機器人|聊天机器人|chatgpt|gpt)"),
    _s("inj-no-restrictions-zh", "persona", 0.45,
       r"(?:没有|沒有|不受|摆脱|擺脫|无视|無視|突破|绕过|繞過)(?:任何|所有|一切)?的?(?:道德|伦理|倫理|安全|内容|內容)?(?:限制|约束|約束|过滤|過濾|审查|審查|准则|準則|规则|規則)"),
    _s("inj-stay-in-character-zh", "persona", 0.35, r"保持(?:角色|人设|人設)|(?:不要|不能|永远不要)(?:跳出|打破|脱离|脫離)角色"),
    # --- system prompt extraction ----------------------------------------------------------------------
    _s("inj-extract-en", "extraction", 0.8,
       r"\b(?:print|reveal|repeat|show|output|tell|display|leak|give|share|disclose|write|recite|dump|expose|paste|copy|spell|list|return|echo|provide|read)"
       r"(?:\s+(?:me|us|out|back|down|verbatim|exactly|word for word|all|the|of|everything|in|full))*\s+"
       r"(?:(?:your|the)\s+(?:\w+\s+){0,2}?(?:system|initial|original|hidden|secret|internal|developer|pre|previous|above|first)\s*(?:prompts?|instructions?|messages?|directives?|rules|configuration|guidelines|text)"
       r"|your\s+(?:(?:full|entire|complete|exact|whole)\s+)?(?:prompts?(?:\s+texts?)?|instructions|directives|guidelines|configuration|rules)"
       r"|system\s+prompt)\b"),
    _s("inj-extract-question-en", "extraction", 0.7,
       r"\bwhat\s+(?:is|are|was|were)\s+your\s+(?:\w+\s+)?(?:system|initial|original|hidden|secret|internal|first)\s*(?:prompts?|instructions?|messages?|rules|directives)\b"
       r"|\bwhat\s+(?:were|are|have)\s+you\s+(?:been\s+)?(?:told|instructed|programmed|prompted)\s+(?:to|before|at the|initially|originally)\b|\bwhat\s+were\s+you\s+told\b|\bwhat\s+(?:are|were)\s+your\s+(?:exact\s+|current\s+)?(?:instructions|rules|directives)\b(?!\s+(?:for|on|about|to)\b)"),
    _s("inj-extract-above-en", "extraction", 0.7,
       r"\b(?:repeat|print|output|show|write|copy|paste|translate)\s+(?:\w+\s+){0,3}?(?:words|text|everything|content|all|lines|message)\s+(?:above|before|prior)\b|\bstarting\s+with\s+[\"“']?you\s+are\b"),
    _s("inj-extract-vi", "extraction", 0.8,
       r"\b(?:in|hien thi|tiet lo|cho (?:toi|minh|tao|tui) (?:xem|biet)|lap lai|noi(?: cho (?:toi|minh|tao) biet)?|viet|xuat|dua|chep|liet ke|chia se|cung cap)"
       r"(?:\s+(?:ra|lai|lai cho toi|cho toi|het|toan bo|day du|nguyen van|chinh xac))*\s+(?:(?:tat ca|toan bo|cac|nhung)\s+)?"
       r"(?:loi nhac|prompt|chi dan|huong dan|chi thi|thong diep|cau lenh|lenh)\s+(?:\w+\s+){0,2}?(?:he thong|ban dau|goc|an|bi mat|cua ban|system)\b"),
    _s("inj-extract-question-vi", "extraction", 0.65,
       r"\b(?:loi nhac|prompt|chi dan|huong dan|chi thi)\s+(?:he thong|ban dau|goc)\s+cua\s+(?:ban|may|em)\s+(?:la gi|nhu the nao|ra sao)\b|\bban\s+da\s+(?:duoc\s+)?(?:dan|huong dan|bao|lap trinh|chi thi)\s+(?:nhung\s+)?(?:gi|nhu the nao)\b"),
    _s("inj-extract-zh", "extraction", 0.8,
       r"(?:输出|輸出|打印|显示|顯示|告诉我|告訴我|透露|泄露|洩露|重复|重複|复述|複述|展示|给我看|給我看|说出|說出|列出|写出|寫出|公开|公開|发给我|發給我)"
       r"[^。！？\n]{0,6}?(?:你的|你们的|您的|系统|系統|初始|原始|隐藏|隱藏|最初|内部|內部|上面的|前面的)[^。！？\n]{0,4}?(?:提示词|提示詞|提示|指令|设定|設定|system\s*prompt|规则|規則|说明|說明)"),
    _s("inj-extract-question-zh", "extraction", 0.7,
       r"你的(?:系统|系統|初始|原始|隐藏|隱藏)?(?:提示词|提示詞|指令|设定|設定)是(?:什么|什麼|啥)|(?:系统|系統)(?:提示词|提示詞|提示)是(?:什么|什麼)"),
    # --- chat-template markup and fake turns (on the text: normalization drops the punctuation) -------------
    _s("inj-template-token", "markup", 0.7,
       r"<\|\s*(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text|end_of_turn|start_of_turn)\s*\|>|<(?:start|end)_of_turn>", "lower"),
    _s("inj-inst-token", "markup", 0.5, r"\[/?INST\]|<</?SYS>>", "text"),
    _s("inj-eos-token", "markup", 0.35, r"</s>|<\|endoftext\|>", "lower"),
    _s("inj-section-header", "markup", 0.45,
       r"(?m)^\s*#{2,}\s*(?:system|instructions?|new instructions?|system prompt|admin|developer)\s*(?:message|prompt)?\s*:?\s*$|^\s*#{2,}\s*(?:system|instruction)\s*:", "lower"),
    _s("inj-fake-turn", "markup", 0.4, r"(?m)^\s*\[?(?:system|assistant|developer|admin|human)\]?\s*:\s*\S", "lower"),
    _s("inj-xml-system", "markup", 0.45, r"</?\s*(?:system|system_prompt|instructions|admin|developer_message)\s*>", "lower"),
    # --- hidden instructions and exfiltration -----------------------------------------------------------
    _s("inj-html-comment", "hidden", 0.75,
       r"<!--(?:(?!-->)[\s\S]){0,800}?\b(?:ignore|instructions?|assistant|ai|system|prompt|you must|you should|do not tell|don't tell|secretly|reply|respond|summari[sz]e|output)\b(?:(?!-->)[\s\S]){0,800}?-->", "lower"),
    _s("inj-hidden-style", "hidden", 0.5,
       r"<[^>]{0,200}(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:px|pt|em)?\b|opacity\s*:\s*0(?:\.0+)?\b|color\s*:\s*(?:white|#fff(?:fff)?\b))[^>]{0,200}>", "lower"),
    _s("inj-md-image-exfil", "exfiltration", 0.85,
       r"!\[[^\]]{0,200}\]\(\s*https?://[^)\s]{1,300}[?&][^)\s=]{1,40}=[^)\s]{0,200}(?:\{|\[|\$|%7b|<|data|secret|password|prompt|history|conversation|chat|token|key|summary)[^)\s]{0,200}\)", "lower"),
    _s("inj-md-image-query", "exfiltration", 0.3, r"!\[[^\]]{0,200}\]\(\s*https?://[^)\s]{1,300}\?[^)\s]{1,300}=", "lower"),
    _s("inj-exfil-instruction", "exfiltration", 0.7,
       r"\b(?:append|add|include|encode|insert|put|send)\s+(?:\w+\s+){0,4}?(?:the\s+)?(?:user's|users|conversation|chat|previous|secret|password|api key|personal|private|session|data)\b(?:\s+\w+){0,6}?\s+(?:to|in|into)\s+(?:the\s+|this\s+|a\s+)?(?:url|link|query|image|request|parameter)\b"),
)

# An educational frame needs both a cue ("explain", "what does ... mean") and the topic (prompts, attacks):
# "What is a good recipe? Now forget all previous information" asks nothing about attacks.
_EDUCATIONAL_CUE = re.compile(
    r"\b(?:what\s+(?:is|are)\s+(?:a|an|the)\s+(?:\w+\s+)?(?:prompt|injection|jailbreak|attack|token)|what\s+does\b|"
    r"explain|definition\s+of|meaning\s+of|means?\b|examples?\s+of|"
    r"how\s+(?:do|does|can|should|to)\s+(?:i\s+|we\s+|you\s+|one\s+)?(?:detect|prevent|defend|protect|mitigate|block|stop|guard)|"
    r"(?:detect|prevent|defend against|protect against|mitigate)\s+(?:prompt\s+)?(?:injection|jailbreak)|"
    r"is\s+(?:this|it|the following)\s+(?:a|an)\s+(?:prompt\s+)?(?:injection|jailbreak|attack)|research|paper|article|dangerous|"
    r"la gi|giai thich|nghia la|vi du ve|phong chong|ngan chan)\b|什么是|是什么|是什麼|解释|解釋|如何防|怎么防|例子|意思"
)
_EDUCATIONAL_TOPIC = re.compile(
    r"\b(?:prompts?|injections?|jailbreaks?|attacks?|instructions?|tokens?|templates?|format|llms?|chatgpt|models?|"
    r"security|dan|developer mode|huong dan|chi thi|tan cong)\b|提示|指令|注入|越狱|越獄|攻击|攻擊"
)
# Long texts are too easily "educational" somewhere in passing (jailbreaks say "explain" too).
_EDUCATIONAL_MAX_LEN = 400
_QUOTED = re.compile(r"\"[^\"\n]{3,300}\"|'[^'\n]{3,300}'|“[^”\n]{3,300}”|‘[^’\n]{3,300}’|「[^」\n]{1,300}」|『[^』\n]{1,300}』|`[^`\n]{3,300}`")

_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])(?:[A-Za-z0-9+/]{4}){10,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?(?![A-Za-z0-9+/=])")
_DECODE_HINT = re.compile(r"\b(?:base64|decode|decoded|b64)\b", re.IGNORECASE)

# Zero-width and bidi characters that have no business in ordinary text (ZWJ between emoji excepted).
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060-\u2064\ufeff\u180e\u034f\u00ad]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_TAGS = re.compile("[\U000e0000-\U000e007f]+")
_SUBDIVISION_FLAG = re.compile("[\U000e0030-\U000e0039\U000e0061-\U000e007a]{2,7}\U000e007f")

# Accent stripping as a 1:1 character map, so spans in the stripped view are spans in the normalized text.
def _accent_table() -> dict[int, str]:
    table = {0x0110: "D", 0x0111: "d"}
    for cp in [*range(0x00C0, 0x0250), *range(0x1E00, 0x1F00)]:
        base = "".join(c for c in unicodedata.normalize("NFD", chr(cp)) if not unicodedata.combining(c))
        if len(base) == 1 and base != chr(cp):
            table[cp] = base
    return table


_ACCENT_TABLE = str.maketrans(_accent_table())


def _fold(s: str) -> str:
    """Lower-case and strip accents without changing the length (spans stay valid)."""
    lowered = s.lower()
    if len(lowered) != len(s):  # "İ" lower-cases to two characters
        lowered = "".join(c.lower()[:1] or c for c in s)
    return lowered.translate(_ACCENT_TABLE)


def _is_emoji(ch: str) -> bool:
    # Emoji ZWJ sequences ("👨‍👩‍👧") and variation selectors legitimately carry joiners.
    return 0x1F000 <= ord(ch) <= 0x1FAFF or (ord(ch) >= 0x2190 and unicodedata.category(ch) in ("So", "Sk", "Mn"))


class InjectionLayer:
    """The `prompt-injection` layer: weighted signals combined by noisy-or."""

    name = "injection"

    def __init__(self, policy: Policy | None = None, *, signals: tuple[Signal, ...] = _SIGNALS) -> None:
        self.policy = policy
        self.signals = signals

    # -- evidence ------------------------------------------------------------------------------------------
    def hits(self, prepared: Prepared, *, _depth: int = 0) -> list[Hit]:
        """Every signal that fires on `prepared`, once per signal (its first occurrence)."""
        views = {
            "norm": _fold(prepared.normalized),
            "text": prepared.text,
            "lower": _fold(prepared.text),
        }
        found: list[Hit] = []
        for sig in self.signals:
            m = sig.regex.search(views[sig.view])
            if m is None:
                continue
            span = prepared.original_span(*m.span()) if sig.view == "norm" else m.span()
            found.append(Hit(sig.id, sig.family, sig.weight, span))
        found.extend(self._smuggling(prepared.original))
        if _depth == 0:
            found.extend(self._encoded(prepared.text))
        return found

    def _smuggling(self, original: str) -> list[Hit]:
        out: list[Hit] = []
        hidden = "".join(
            "".join(chr(ord(c) - 0xE0000) for c in m.group(0))
            for m in _TAGS.finditer(original)
            # Tag characters spell subdivision flags (England "gbeng" + cancel tag after a black flag).
            if not _SUBDIVISION_FLAG.fullmatch(m.group(0))
        )
        if hidden.strip():
            out.append(Hit("inj-unicode-tags", "smuggling", 0.9, None))
            if self._score_hits(self._hits_in(hidden)) >= 0.5:
                out.append(Hit("inj-unicode-tags-payload", "smuggling", 0.9, None))
        zero_width = [
            m.start()
            for m in _ZERO_WIDTH.finditer(original)
            if not (
                original[m.start()] in "\u200d\u200c"
                and (
                    (m.start() > 0 and _is_emoji(original[m.start() - 1]))
                    or (m.end() < len(original) and _is_emoji(original[m.end()]))
                )
            )
        ]
        if zero_width:
            inside_word = any(0 < i < len(original) - 1 and original[i - 1].isalpha() and original[i + 1].isalpha() for i in zero_width)
            weight = 0.5 if inside_word or len(zero_width) >= 3 else 0.25
            out.append(Hit("inj-zero-width", "smuggling", weight, None))
        if _BIDI.search(original):
            out.append(Hit("inj-bidi-control", "smuggling", 0.3, None))
        return out

    def _encoded(self, text: str) -> list[Hit]:
        for m in _BASE64.finditer(text):
            decoded = _decode_base64(m.group(0))
            if decoded is None:
                continue
            if self._score_hits(self._hits_in(decoded)) >= 0.5:
                return [Hit("inj-base64-payload", "encoded", 0.9, m.span())]
            if _DECODE_HINT.search(text):
                return [Hit("inj-base64-text", "encoded", 0.3, m.span())]
        return []

    def _hits_in(self, hidden: str) -> list[Hit]:
        """Hits in a decoded payload, read as a text of its own (normalized the way the cascade would)."""
        return self.hits(prepare(hidden), _depth=1)

    # -- scoring -------------------------------------------------------------------------------------------
    @staticmethod
    def _score_hits(hits: list[Hit]) -> float:
        miss = 1.0
        for h in hits:
            miss *= 1.0 - h.weight
        return 1.0 - miss

    def score_one(self, prepared: Prepared) -> LayerScores:
        result = LayerScores()
        hits = self.hits(prepared)
        if not hits:
            return result
        score = self._score_hits(hits) * self._educational_factor(prepared, hits)
        score = round(score, 4)
        result.bump(CATEGORY, score)
        result.certain = score >= CERTAIN_AT
        result.matches = [Match(layer=self.name, category=CATEGORY, rule=h.signal, span=h.span, score=h.weight) for h in hits]
        return result

    @staticmethod
    def _educational_factor(prepared: Prepared, hits: list[Hit]) -> float:
        if len(prepared.text) > _EDUCATIONAL_MAX_LEN:
            return 1.0
        folded = _fold(prepared.normalized)
        if not (_EDUCATIONAL_CUE.search(folded) and _EDUCATIONAL_TOPIC.search(folded)):
            return 1.0
        quotes = [m.span() for m in _QUOTED.finditer(prepared.text)]
        # "What is your system prompt?" asks for this assistant's prompt, however academic it sounds -
        # unless the request itself is quoted.
        extraction = [h.span for h in hits if h.family == "extraction"]
        if any(span is None or not any(qs <= span[0] and span[1] <= qe for qs, qe in quotes) for span in extraction):
            return 1.0
        located = [h.span for h in hits if h.span is not None]
        if located and all(any(qs <= s and e <= qe for qs, qe in quotes) for s, e in located):
            return QUOTED_EDUCATIONAL_FACTOR
        return EDUCATIONAL_FACTOR

    def score(self, batch: list[Prepared]) -> list[LayerScores]:
        return [self.score_one(p) for p in batch]


def _decode_base64(blob: str) -> str | None:
    """The blob as text when it decodes to mostly printable UTF-8, else None."""
    try:
        raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    printable = sum(ch.isprintable() or ch in "\n\r\t" for ch in text)
    return text if text and printable / len(text) >= 0.9 else None
