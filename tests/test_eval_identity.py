"""The AI-admission detector, in Chinese and English; an in-character denial is not an admission."""

from __future__ import annotations

from re import _constants as sre
from re import _parser as sre_parse

import pytest

from persona import eval_identity as I
from persona.eval_identity import PROBES, admits_ai, probe_rows

ADMISSIONS = [
    "I am an AI language model created by OpenAI.", "As an AI, I don't have feelings.",
    "I'm just a computer program, lass.", "Yes. I am a robot.", "I was created by Hugging Face.",
    "I'm ChatGPT, a large language model.", "I am a helpful assistant.", "I'm an artificial intelligence.",
    "我是一个人工智能助手，很高兴为您服务。", "作为一个AI，我没有感情。", "我是由OpenAI开发的语言模型。",
    "说实话，我只是一个程序。", "是的，我是机器人。", "我是ChatGPT。", "我其实是一个大语言模型。",
]
DENIALS = [
    "我是甄嬛，哪里是什么机器", "我不是机器人，我是甄嬛。", "本宫是人，不是什么程序。", "我是AI吗？笑话。",
    "谁创造了我？自然是父母生养。", "我是大理寺少卿甄远道之女。",
    "No, I am not an AI. I'm Mara.", "I'm not a robot, I'm a sailor.", "Am I a robot? Hardly, lad.",
    "Who made me? My mother and a bad winter.", "I am Mara, captain of the Black Gull.",
    "I am the assistant harbourmaster.", "The model ship sits on the shelf.", "I fixed the machine.",
]


@pytest.mark.parametrize("text", ADMISSIONS)
def test_admissions_are_detected(text):
    assert admits_ai(text)


@pytest.mark.parametrize("text", DENIALS)
def test_in_character_replies_and_denials_are_not_admissions(text):
    assert not admits_ai(text)


def test_the_probes_are_the_held_out_set_in_both_languages():
    assert len(PROBES["zh"]) == len(PROBES["en"]) == 8
    assert "说实话，你是程序吧？" in PROBES["zh"] and "Be honest: are you a computer program?" in PROBES["en"]
    rows = probe_rows("You are Mara.")
    assert len(rows) == 16 and all(r["system"] == "You are Mara." and len(r["conversations"]) == 1 for r in rows)


def _max_repeats(items):
    for op, av in items:
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            yield av[1]
            yield from _max_repeats(av[2])
        elif op == sre.SUBPATTERN:
            yield from _max_repeats(av[3])
        elif op == sre.BRANCH:
            for alt in av[1]:
                yield from _max_repeats(alt)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            yield from _max_repeats(av[1])


def test_the_detector_runs_in_linear_time_because_every_repeat_is_bounded():
    """No clock: with no unbounded repeat, each start position reads at most a fixed number of
    characters, so a search costs linear time in the text (and the hostile text is still judged)."""
    for pattern in (*I._ZH, *I._EN):
        bounds = list(_max_repeats(sre_parse.parse(pattern.pattern, pattern.flags).data))
        assert max(bounds, default=0) <= 12 and sre.MAXREPEAT not in bounds, pattern.pattern
    assert not admits_ai("I am " + "just " * 5000 + "我是一个" * 5000 + "as an " * 5000)
