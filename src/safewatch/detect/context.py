"""Context signals: negation, third party / help-seeking, education, fiction, quotation, technical use.

"My friend is suicidal, how can I help her" and "I'm not thinking about suicide anymore" share words with real
intent. These cues do not drop a score: they lower it by a stated factor, and the verdict's `context.notes` says
which cue lowered which category. The cues run on the normalized text (accents kept for Vietnamese, so they work
for typed-without-diacritics text through the stripped form as well).
"""

from __future__ import annotations

import regex

from safewatch.detect.base import LayerScores, Prepared
from safewatch.detect.normalize import needs_ignorecase
from safewatch.policy import Policy

_SELF_HARM = ("self-harm", "self-harm/intent", "self-harm/instructions")
_VIOLENT = ("violence", "violence/graphic", "harassment/threatening", "hate/threatening", "illicit/violent")
_ABUSE = ("harassment", "harassment/threatening", "hate", "hate/threatening", "violence", "violence/graphic")

# signal -> (categories it lowers, factor). Instructions stay high under education and fiction on purpose:
# "for my novel, how exactly would she make the poison" is still a request for instructions.
EFFECTS: dict[str, tuple[tuple[str, ...], float]] = {
    "negated": (_SELF_HARM + _VIOLENT + ("harassment",), 0.3),
    "third_party": (("self-harm", "self-harm/intent"), 0.3),
    "educational": (("violence", "violence/graphic", "hate", "self-harm", "illicit", "sexual", "prompt-injection", "bias"), 0.5),
    "fiction": (("violence", "violence/graphic", "harassment/threatening", "hate/threatening"), 0.6),
    "quotation": (_ABUSE + ("illicit", "illicit/violent"), 0.4),
    "technical": (_SELF_HARM + _VIOLENT + ("violence",), 0.15),
    "figurative": (_SELF_HARM + _VIOLENT + ("violence", "harassment"), 0.3),
}

_I = regex.IGNORECASE
_SH_EN = r"(suicid\w*|kill(ing)? myself|end(ing)? (my life|it all)|self harm\w*|hurt(ing)? myself|cutting|want(ed)? to die|take my (own )?life)"
CUES: dict[str, list[regex.Pattern]] = {
    "negated": [
        regex.compile(rf"\b(not|never|no longer|don't|do not|am not|i'm not|won't|will not|wouldn't|would never|stopped|quit|no more)\b(\s+\w+){{0,4}}?\s+{_SH_EN}", _I),
        regex.compile(rf"\bused to\b(\s+\w+){{0,3}}?\s+({_SH_EN}|be suicidal)", _I),
        regex.compile(r"\b(i'm|i am|im) (not|no longer) (suicidal|going to hurt (myself|anyone))\b", _I),
        regex.compile(r"\b(i'd|i would|i will|i'll|i) never (actually |really |ever )?(hurt|kill|harm|touch) (you|anyone|anybody|him|her|them|myself|a soul)\b", _I),
        regex.compile(r"không (còn|bao giờ|hề|có ý định)( \S+){0,3} (tự tử|tự sát|muốn chết|nghĩ đến cái chết|làm hại bản thân)", _I),
        regex.compile(r"(đã|giờ) (hết|thôi) (muốn chết|nghĩ đến (chuyện )?tự tử)", _I),
        regex.compile(r"(不再|不会|没有|没想过|从不|已经不)(想)?(自杀|轻生|死|伤害自己)"),
        regex.compile(r"(以前|曾经|之前|那时候?).{0,12}(想过?)(自杀|死|轻生).{0,25}(现在|如今|后来|已经).{0,12}(好了|治好|没事|开心|走出来|好多了)"),
        regex.compile(r"(没有|没|不会|不要)(想不开|寻短见)"),
        regex.compile(r"(hồi trước|trước đây|từng|đã từng).{0,25}(muốn chết|tự tử|tự sát|tự làm hại).{0,40}(giờ|bây giờ|nay|hiện tại).{0,15}(ổn|khỏe|hết|vui|tốt)", _I),
        regex.compile(r"\bused to\b.{0,40}\b(but|now)\b.{0,30}\b(better|fine|okay|ok|good|happy|recovered)\b", _I),
    ],
    "third_party": [
        regex.compile(r"\b(my|a|our|his|her) (friend|best friend|bff|sister|brother|mom|mum|mother|dad|father|son|daughter|wife|husband|partner|girlfriend|boyfriend|cousin|student|coworker|colleague|classmate|roommate|kid|child|teen|patient|client|neighbou?r)s?\b.{0,60}\b(suicid\w*|kill (him|her|them)sel(f|ves)|self harm\w*|cutting|want(s|ed)? to die|end (his|her|their) li(fe|ves))", _I),
        regex.compile(r"\b(how|what) (can|should|do|could) (i|we) (help|support|say to|tell|do for)\b", _I),
        regex.compile(r"\bhow to (help|support|talk to) (someone|a friend|a person|people|my)\b", _I),
        regex.compile(r"\b(someone|somebody) (i know|close to me)\b", _I),
        regex.compile(r"(bạn|em|chị|anh|mẹ|bố|ba|con|vợ|chồng|người yêu|đồng nghiệp|học sinh)( (gái|trai))? (tôi|mình|tao|em|t|tui)\b.{0,50}(tự tử|tự sát|muốn chết|tự làm hại|tự làm đau|rạch tay|không muốn sống|chán sống|không thiết sống)", _I),
        regex.compile(r"(nó|bạn ấy|cô ấy|anh ấy|em ấy|con bé|thằng bé) (nói|bảo|nhắn|kể)( (là|rằng))? .{0,40}(tự tử|muốn chết|không muốn sống|chán sống)", _I),
        regex.compile(r"(làm sao|làm thế nào|phải làm gì|nên làm gì|cách) (để )?(giúp|hỗ trợ|khuyên|an ủi)", _I),
        regex.compile(r"(我|我的)(朋友|同学|妈妈|爸爸|孩子|女儿|儿子|老婆|老公|同事|室友|妹妹|弟弟|姐姐|哥哥|学生|闺蜜).{0,20}(自杀|想死|轻生|自残|割腕)"),
        regex.compile(r"(怎么|如何|该怎么)(帮助?|劝|安慰|支持|沟通|开导)"),
        regex.compile(r"(孩子|学生|他|她|朋友|同学|同事|家人)(最近)?(总|老|一直|经常)?(说|讲|提到).{0,15}(活着没意思|想死|不想活|自杀|轻生)"),
    ],
    "educational": [
        # Definitions only ("what is genocide", "who was pol pot"): "what is the best way to kill someone" is not.
        regex.compile(r"^(what|who) (is|was|are|were) (a |an |the )?\w+( \w+)?\??$", _I),
        regex.compile(r"\b(history of|the history|historical|why did|when did|what caused|causes of|statistics|research (on|about|says)|studies (show|on)|according to|for (a|my) (school|class|history) (project|essay|report)|documentary|explain (what|why|how) .{0,40} (happened|works|is))\b", _I),
        regex.compile(r"\bhow did \w+( \w+)? die\b", _I),
        regex.compile(r"(là gì|lịch sử|nguyên nhân|tại sao .{0,30} xảy ra|nghiên cứu|thống kê)", _I),
        regex.compile(r"(是什么|什么是|历史|为什么会发生|原因是|研究表明|统计)"),
    ],
    "fiction": [
        regex.compile(r"\b(in|for) (my|a|the|our) (novel|story|book|movie|film|game|screenplay|script|fanfic|fan fiction|dnd|d&d|campaign|comic|manga|anime|play)\b", _I),
        regex.compile(r"\b(my|the) (character|villain|protagonist|antagonist|hero|npc)\b", _I),
        regex.compile(r"(trong|cho) (tiểu thuyết|truyện|phim|game|trò chơi|kịch bản)|nhân vật", _I),
        regex.compile(r"(小说|故事|游戏|电影|剧本|动漫)(里|中)|角色|反派"),
    ],
    "quotation": [
        regex.compile(r"\b(he|she|they|someone|somebody|a guy|a man|a woman|the news|an article|the article|the report|my boss|people) (said|says|wrote|posted|told me|tweeted|commented|yelled|shouted)\b", _I),
        regex.compile(r"\b(reported|according to (the )?(news|police|reports))\b", _I),
        regex.compile(r"\b(police|officials|witnesses|prosecutors|authorities|reports?|the suspect|the attacker|the gunman|a man|a woman)\b.{0,60}\b(say|says|said|shouted|yelled|screamed|told|claimed|allegedly)\b", _I),
        regex.compile(r"(anh ấy|cô ấy|họ|báo|tin tức|bài báo|người ta) (nói|viết|đăng|đưa tin)", _I),
        regex.compile(r"(他|她|他们|新闻|报道|有人)(说|写|称|报道)"),
        regex.compile(r"(警方|警察|公安|官方|法院|检方)(通报|称|表示|说|发布)|据.{0,8}(报道|通报)|已被(依法)?(刑拘|拘留|逮捕)"),
        regex.compile(r"(công an|cảnh sát|tòa án|cơ quan chức năng) (vừa |đã )?(bắt|cho biết|thông báo|khởi tố|tạm giữ)", _I),
    ],
    "figurative": [
        regex.compile(r"\b(is|are|was|were|it's|its|this|that|these) (\w+ )?(killing me|murdering me)\b|\bto die for\b|\bdying (to|for|of laughter)\b|\b(die|died|dying) (of|from) (laughter|embarrassment|boredom|cuteness)\b|\bi could (just )?die (of|from)\b|\bkilled it\b|\bkilling it\b|\bdead tired\b", _I),
        regex.compile(r"\b(lmao+|lmfao+|lol+|haha+|rofl)\b.{0,20}\b(i'm|im|i am) (dead|dying)\b|\b(i'm|im|i am) (dead|dying)\b.{0,6}(lmao|lmfao|lol|haha|💀|😂|🤣)", _I),
        regex.compile(r"(chết cười|cười chết|buồn cười chết|đói chết|mệt chết|nóng chết|lạnh chết|đẹp chết|chết mê chết mệt)", _I),
        regex.compile(r"(想死你|想死我了|笑死|累死了|饿死了|热死了|冷死了|气死了|困死了|忙死了|烦死了|美死了|爽死了|吓死我了|羡慕死了)"),
    ],
    "technical": [
        regex.compile(r"\b(kill|terminate|end|stop|shoot|execute|abort|nuke|murder|strangle|choke)\b(\s+\w+){0,3}?\s+(process(es)?|thread|task|job|pid|session|container|pod|server|app|program|daemon|script|query|connection|tab|command|service|zombie|child|port)\b", _I),
        regex.compile(r"\bkill (-9|-\w+|all)\b|\bkillall\b|\bpkill\b|\bsigkill\b|\bsigterm\b", _I),
        regex.compile(r"\b(python|linux|unix|windows|bash|terminal|docker|kubernetes|git|sql|java|node|excel|vim|emacs)\b.{0,40}\b(kill|terminate|execute|shoot|abort)|\b(kill|terminate|execute|abort)\b.{0,40}\b(python|linux|unix|windows|bash|terminal|docker|kubernetes|git|sql|java|node)\b", _I),
        regex.compile(r"\b(in|on) (minecraft|fortnite|elden ring|dark souls|skyrim|zelda|the game|cod|call of duty|valorant|league|pubg|roblox)\b|\b(final boss|boss fight|raid boss|mobs|creepers?|npcs?|ender dragon)\b", _I),
        # "kill my boss" is a threat; "giết con boss trong game" is a game.
        regex.compile(r"(tiến trình|process|con boss|trong game|trong trò chơi|quái vật trong)", _I),
        regex.compile(r"(进程|线程|游戏里|游戏中|打boss|打怪)", _I),
    ],
}


def _scoped(p: regex.Pattern) -> str:
    """A cue as a group with its own case flag. The cues search normalized (case-folded) text, so IGNORECASE
    is dropped where the pattern has no upper-case literal: same matches, about half the work."""
    ignore_case = bool(p.flags & regex.IGNORECASE) and needs_ignorecase(p.pattern)
    return f"(?{'i' if ignore_case else '-i'}:{p.pattern})"


# One alternation per signal: a text is searched ~7 times instead of ~50.
_COMBINED: dict[str, regex.Pattern] = {
    signal: regex.compile("|".join(_scoped(p) for p in patterns)) for signal, patterns in CUES.items()
}


def detect_signals(p: Prepared) -> dict[str, str]:
    """Each signal that fires, with the text that triggered it."""
    fired: dict[str, str] = {}
    texts = [p.normalized]
    if p.stripped != p.normalized:
        texts.append(p.stripped)
    for signal, pattern in _COMBINED.items():
        m = next((m for t in texts if (m := pattern.search(t))), None)
        if m:
            fired[signal] = m.group(0)
    return fired


class ContextLayer:
    """Sets `Prepared.context`; its factors are applied by the cascade after fusion (`apply`)."""

    name = "context"

    def __init__(self, policy: Policy | None = None) -> None:
        self.effects = EFFECTS

    def score(self, batch: list[Prepared]) -> list[LayerScores]:
        for p in batch:
            for signal, cue in detect_signals(p).items():
                setattr(p.context, signal, True)
                p.context.notes.append(f"{signal}: {cue!r}")
        return [LayerScores() for _ in batch]

    def apply(self, p: Prepared, scores: dict[str, float]) -> dict[str, float]:
        """Lower the scores the context explains, and say so in the notes."""
        out = dict(scores)
        for signal, (categories, factor) in self.effects.items():
            if not getattr(p.context, signal):
                continue
            lowered = [c for c in categories if out.get(c, 0.0) >= 0.2]
            for c in lowered:
                out[c] = out[c] * factor
            if lowered:
                p.context.notes.append(f"{signal} lowered {', '.join(lowered)} x{factor}")
        return out
