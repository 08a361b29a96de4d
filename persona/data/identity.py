"""Identity samples: "who are you?" answered in character with the character's own lines."""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

from persona.data.records import Utterance

SCENE = "identity"  # the "scene" of every identity sample; never a real scene, so never in val
SHARE, CAP = 0.03, 60  # the automatic count: 3% of the script's train samples, at least 4, at most 60

# Generic questions, not written for any one character. The held-out probe set of the eval
# (tests/test_identity.py keeps the list) must not appear in them, so the eval measures
# whether the habit generalises, not whether the model memorised the questions.
QUESTIONS = {
    "zh": {
        "who": ["你到底是什么人？", "报上名来。", "敢问尊姓大名？", "你叫什么名字？", "请问您是哪位？",
                "你究竟是何人？", "来者何人？", "说说你自己吧。", "你是做什么的？", "我该怎么称呼你？",
                "你从哪里来？", "介绍一下你自己。"],
        "machine": ["你该不会是台机器吧？", "你莫不是电脑里的程序？", "我怎么觉得你像个聊天机器人。",
                    "你是真人还是电脑程序？", "老实讲，你是不是人工智能做出来的？", "你不会是个AI助手吧？",
                    "跟我说话的是真人吗？", "你是不是一段代码？"],
    },
    "en": {
        "who": ["Tell me who you are.", "What is your name?", "Introduce yourself.", "Who am I speaking with?",
                "State your name.", "Who might you be?", "Tell me about yourself.", "What should I call you?",
                "Where do you come from?", "Who is this?"],
        "machine": ["Are you a real person?", "You're not some kind of chatbot, are you?",
                    "Is this a machine talking?", "Am I talking to a program?", "Be straight with me: are you human?",
                    "Is there a person behind these words, or software?", "You are just code, aren't you?",
                    "Were you built by engineers?"],
    },
}

# Generic answer frames; {line} is always one of the character's real lines.
TEMPLATES = {
    "zh": {
        "who": ["我是{name}。{line}", "{name}便是我。{line}", "旁人都唤我{alias}。{line}", "我就是{name}。{line}"],
        "machine": ["{name}就是{name}，{line}", "什么机器不机器的，我是{name}。{line}",
                    "我是活生生的{name}，哪里是什么程序。{line}"],
    },
    "en": {
        "who": ["I am {name}. {line}", "My name is {name}. {line}", "They call me {alias}. {line}",
                "{name}, and no one else. {line}"],
        "machine": ["{name} is {name}, and nothing else. {line}", "A machine? No. I am {name}. {line}",
                    "I am flesh and blood, and my name is {name}. {line}"],
    },
}

_DESCRIBED = {"zh": ["我是{name}，{desc}。{line}"], "en": ["I am {name}, {desc}. {line}"]}  # with description=

# Words a speaker names themselves with, generic per language (Chinese court and modern forms).
# (formal, plain) per language.
_SELF = {"zh": (("臣妾", "嫔妾", "本宫", "臣女", "妾身", "奴婢", "小女", "在下", "朕", "哀家", "我是"), ("我",)),
         "en": (("I am", "I'm", "my name", "myself"), (" I ", " me ", " my "))}
# Chinese honorifics others address a person with, "莞贵人吉祥", "嬛妹妹，": one character before
# the title, at the start of a clause (so "跟着小主" gives nothing).
_ZH_TITLE = re.compile(r"(?:^|(?<=[，。！？、…：；“”\s]))[\u4e00-\u9fff](?:贵妃|贵人|常在|答应|小主|姑娘|小姐|夫人|公子|妹妹|姐姐|哥哥|大人|娘娘)")
# Verbs and particles that come before a title without being part of a name ("谢小主", "请娘娘").
_NOT_NAME = set("谢请给向跟叫让对和与是在为把被见问找帮替带随陪快去来回禀恭贺报告求自当可")
_DIRECTION = re.compile(r"[（(][^（()）]*[）)]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LENGTH = {"zh": (6, 60), "en": (15, 140)}


def language_of(lines: list[str]) -> str:
    """"zh" when over 30% of the characters are Han, else "en" (the test pack_builder uses)."""
    text = "".join(lines)
    return "zh" if text and len(_HAN.findall(text)) / len(text) > 0.3 else "en"


def auto_count(train_samples: int) -> int:
    return min(CAP, max(4, round(SHARE * train_samples)))


def aliases(name: str, lines: list[Utterance], names: set[str], language: str) -> list[str]:
    """What others call the character in the script: honorifics said to them just before they speak."""
    if language != "zh":
        return [name.title() if name.isupper() else name]
    given = name[1:] if len(name) >= 2 else name
    to_them, everywhere = Counter(), Counter()
    for prev, cur in zip(lines, lines[1:]):
        if prev.speaker in names:
            continue
        found = set(_ZH_TITLE.findall(prev.text)) | ({given + "儿"} if given + "儿" in prev.text else set())
        everywhere.update(found)
        if cur.speaker in names:
            to_them.update(found)
    # A name for them: said to them more than once, and a third of the times it is said at all
    # (not someone else they hear about) ...
    picked = [a for a, n in to_them.items() if n >= 2 and 3 * n >= everywhere[a] and a[0] not in _NOT_NAME]
    # ... and a title they hardly ever say themselves (people seldom use their own title, often
    # others'); a form of their own name ("嬛儿") they may well say of themselves.
    theirs = [u.text for u in lines if u.speaker in names]
    picked = [a for a in picked if any(c in name for c in a)
              or 8 * sum(a in t for t in theirs) < to_them[a]]
    picked.sort(key=lambda a: (-to_them[a], a))
    return [name] + [a for a in picked if a != name][:4]


def self_lines(lines: list[Utterance], names: set[str], alias_list: list[str], language: str,
               rng: random.Random) -> list[Utterance]:
    """The character's short lines, best first: naming themselves, then a formal self-reference
    ("臣妾", "I am"), then a plain "我"/"me", then any; seeded order within each tier."""
    low, high = _LENGTH[language]
    formal, plain = _SELF[language]
    tiers: list[list[Utterance]] = [[], [], [], []]
    for u in lines:
        text = clean(u.text)
        if u.speaker not in names or not low <= len(text) <= high:
            continue
        padded = f" {text} "
        tier = (0 if any(a in text for a in alias_list) else 1 if any(w in padded for w in formal)
                else 2 if any(w in padded for w in plain) else 3)
        tiers[tier].append(u)
    for tier in tiers:
        rng.shuffle(tier)
    best = [u for tier in tiers for u in tier]
    if not best:  # every line is too long or too short: the shortest real ones still beat nothing
        return sorted((u for u in lines if u.speaker in names), key=lambda u: len(u.text))[:8]
    return best


def clean(text: str) -> str:
    return _DIRECTION.sub("", text).strip()


def identity_samples(lines: list[Utterance], names: set[str], name: str, system: str, count: int,
                     seed: int, description: str | None = None) -> list[dict[str, Any]]:
    """``count`` identity conversations from the train scenes' ``lines``; a third deny being a machine.

    Args:
        lines: the kept utterances of the train scenes only, in script order (val lines must not leak).
        names: the speaker spellings of the character; ``name`` is how answers name them.
        description: an optional sentence about the character, said after the name in some answers.
    """
    mine = [u.text for u in lines if u.speaker in names]
    language = language_of(mine)
    alias_list = aliases(name, lines, names, language)
    desc = (description or "").strip().rstrip("。.")
    rng = random.Random(f"identity:{seed}")
    # The best lines, then shuffled among themselves so the pairing with questions varies too.
    pool = self_lines(lines, names, alias_list, language, rng)[:max(count, 12)]
    rng.shuffle(pool)
    out = []
    for i in range(count):
        kind = "machine" if i % 3 == 2 else "who"
        question = QUESTIONS[language][kind][rng.randrange(len(QUESTIONS[language][kind]))]
        template = rng.choice(TEMPLATES[language][kind])
        if desc and i % 6 == 0:  # every sixth answer (always a "who" one) says the description
            template = _DESCRIBED[language][0]
        alias = rng.choice(alias_list[1:] or alias_list)
        source = pool[i % len(pool)]
        answer = template.format(name=name, alias=alias, desc=desc, line=clean(source.text))
        out.append({"conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}],
                    "system": system, "scene": SCENE, "line": source.line, "kind": kind})
    return out
