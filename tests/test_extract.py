"""persona.data.extract: scripts, plays, screenplays, novels and chat datasets to utterances."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from persona.data.extract import FORMATS, extract
from persona.data.records import DataError
from persona.data.textio import read_text

FIXTURES = Path(__file__).parent / "data" / "scripts"
SHARED = Path(__file__).parents[2] / "shared" / "data" / "scripts"
ZHENHUAN = SHARED / "zhenhuan_ep11-20.txt"
SHAKESPEARE = SHARED / "tinyshakespeare.txt"


def by_speaker(extraction) -> Counter:
    return Counter(u.speaker for u in extraction.utterances)


# --- the two real scripts -------------------------------------------------------

def test_zhenhuan_script_counts_match_an_independent_grep():
    x = extract(ZHENHUAN)
    assert (x.format, x.detected, x.encoding) == ("zh-script", True, "utf-8-sig")
    # Verified with, for each NAME (the file has no inline-only lines such as 甄嬛：（点头）):
    #   grep -cE '^NAME(（[^）]*）)?[：:∶；，]' ../shared/data/scripts/zhenhuan_ep11-20.txt
    # which counts NAME：, NAME（action）：, and the stray NAME；/NAME，lines
    # (e.g. line 1853 "甄嬛；还不快去？", line 2728 "允礼，去去去"), read by hand.
    counts = by_speaker(x)
    assert counts["甄嬛"] == 533
    assert counts["皇帝"] == 319
    assert counts["华妃"] == 239
    assert counts["允礼"] == 67
    assert counts["苏培盛"] == 72
    # grep -cE '^（.*）$' ../shared/data/scripts/zhenhuan_ep11-20.txt -> 207 stage-direction lines
    assert len(x.narration) == 207
    # The only line dropped is line 1205, "第265秒", a typo for the scene header 第265幕.
    assert [n for n, _ in x.skipped] == [1205]


def test_zhenhuan_speaker_action_and_scenes_from_headers():
    x = extract(ZHENHUAN)
    first = x.utterances[0]  # line 4, under 第十一集 / 第203幕（续）
    assert (first.scene, first.speaker, first.text, first.line) == ("第十一集 第203幕", "甄嬛", "兔子急了也会咬人的。", 4)
    thunder = next(u for u in x.utterances if u.line == 20)  # 甄嬛（闻得雷声，床上坐起）：槿汐？
    assert (thunder.speaker, thunder.text, thunder.extra["action"]) == ("甄嬛", "槿汐？", "闻得雷声，床上坐起")
    assert thunder.scene == "第十一集 第205幕"
    # ；after a known speaker separates; ；inside the words does not.
    line583 = next(u for u in x.utterances if u.line == 583)
    assert line583.speaker == "皇后" and line583.text.startswith("华妃，别失了分寸。")


def test_tinyshakespeare_counts_match_grep_of_cue_lines():
    x = extract(SHAKESPEARE)
    assert (x.format, x.detected, x.encoding) == ("stageplay", True, "utf-8")
    # Verified with: grep -c '^NAME:$' ../shared/data/scripts/tinyshakespeare.txt, minus the cues
    # followed straight by a blank line (no speech), counted with
    #   grep -A1 '^NAME:$' ../shared/data/scripts/tinyshakespeare.txt | grep -c '^$'
    # ROMEO 163-3, JULIET 125-1, GLOUCESTER 229-18, MENENIUS 162-1, First Citizen 43-0.
    counts = by_speaker(x)
    assert counts["ROMEO"] == 160
    assert counts["JULIET"] == 124
    assert counts["GLOUCESTER"] == 211
    assert counts["MENENIUS"] == 161
    assert counts["First Citizen"] == 43
    # awk 'BEGIN{RS=""} END{print NR}' gives 7222 blank-separated blocks, every one starting
    # with a cue; 125 of them are a cue alone, reported as skipped.
    assert len(x.utterances) == 7097
    assert len(x.skipped) == 125 and all("no speech" in why for _, why in x.skipped)


def test_tinyshakespeare_multiline_speech_is_joined_with_spaces():
    x = extract(SHAKESPEARE)
    speech = next(u for u in x.utterances if u.line == 19)  # the cue at line 19; the speech is lines 20-21
    assert speech.text == "Let us kill him, and we'll have corn at our own price. Is't a verdict?"


def test_headerless_play_is_cut_into_bounded_scenes_in_order():
    x = extract(SHAKESPEARE)
    sizes = Counter(u.scene for u in x.utterances)
    assert 50 < len(sizes) < 1000 and max(sizes.values()) <= 60
    # Scenes are contiguous runs, so a split by scene keeps exchanges whole.
    order = [u.scene for u in x.utterances]
    runs = [s for i, s in enumerate(order) if i == 0 or order[i - 1] != s]
    assert len(runs) == len(sizes)


# --- zh-script fixture: every separator, actions, stage directions, （续） -----------

def test_zh_script_separators_actions_and_continued_scene():
    x = extract(FIXTURES / "zh_script.txt")
    assert (x.format, x.encoding) == ("zh-script", "utf-8-sig")  # the fixture starts with a BOM
    said = [(u.line, u.speaker, u.text) for u in x.utterances]
    assert said == [
        (5, "甄嬛", "槿汐？"),  # 甄嬛（闻得雷声，床上坐起）：
        (6, "槿汐", "哎。小主，怎么不睡了？"),  # ：
        (7, "甄嬛", "我有些害怕。"),  # half-width :
        (8, "槿汐", "那些鬼神之说都是世人以讹传讹的；小主不要放在心上。"),  # ∶, and ；inside the words
        (9, "甄嬛", "我不是害怕鬼神之说。你去把灯点上。"),  # ；as separator after a known name
        (15, "皇帝", "朕今日乏了，走吧。"),
        (18, "甄嬛", "槿汐，睡吧。"),
    ]
    assert x.utterances[0].extra == {"action": "闻得雷声，床上坐起"}
    assert x.utterances[4].extra == {"inline": ["起身"]}
    assert [u.scene for u in x.utterances] == ["第一集 第1幕"] * 5 + ["第一集 第2幕", "第一集 第1幕"]
    assert [(u.line, u.text) for u in x.narration] == [(4, "碎玉轩，夜"), (10, "点头"), (14, "御花园")]
    assert all(u.kind == "narration" for u in x.narration)
    assert x.skipped == [(11, "no speaker separator (：) and not a header or （stage direction）")]


def test_gbk_encoded_script_is_detected_and_decoded(tmp_path):
    text = (FIXTURES / "zh_script.txt").read_text(encoding="utf-8-sig")
    path = tmp_path / "gbk.txt"
    path.write_bytes(text.encode("gb18030"))
    assert read_text(path) == (text, "gb18030")
    x = extract(path)
    assert (x.format, x.encoding, len(x.utterances)) == ("zh-script", "gb18030", 7)


def test_utf8_without_bom_and_crlf_newlines(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes("第1幕\r\n甄嬛：你好。\r\n".encode())
    x = extract(path)
    assert x.encoding == "utf-8"
    assert [(u.scene, u.text) for u in x.utterances] == [("第1幕", "你好。")]


# --- other formats --------------------------------------------------------------

def test_stageplay_act_and_scene_headers_start_scenes():
    x = extract(FIXTURES / "play.txt")
    assert [(u.scene, u.speaker) for u in x.utterances] == [
        ("ACT I SCENE I", "SAMPSON"), ("ACT I SCENE I", "GREGORY"),
        ("ACT I SCENE II", "CAPULET"), ("ACT I SCENE II", "PARIS")]
    assert x.utterances[2].text == "But Montague is bound as well as I, In penalty alike."
    assert "Enter CAPULET and PARIS" in [u.text for u in x.narration]


def test_fountain_headings_cues_extensions_and_parentheticals():
    x = extract(FIXTURES / "screenplay.fountain")
    assert x.format == "fountain"
    assert [(u.scene, u.speaker, u.text) for u in x.utterances] == [
        ("INT. LIGHTHOUSE - NIGHT", "MARA", "Is anyone up here?"),
        ("INT. LIGHTHOUSE - NIGHT", "TOM", "Keep climbing. Don't look down."),
        ("INT. LIGHTHOUSE - NIGHT", "MARA", "You said that last time. And I looked down."),
        ("THE GALLERY", "TOM", "Then look at me instead."),  # forced .HEADING
    ]
    assert x.utterances[1].extra == {"extension": ["V.O."]}
    assert x.utterances[2].extra == {"parenthetical": ["beat"]}
    assert x.utterances[3].extra == {"extension": ["CONT'D"], "parenthetical": ["softly"]}
    assert [u.text for u in x.narration] == [
        "Rain hammers the glass. MARA climbs the spiral stairs, a lantern in hand.", "Wind. The lamp turns slowly."]


def test_chinese_prose_attribution_before_after_and_alternation():
    x = extract(FIXTURES / "novel_zh.txt")
    assert x.format == "prose"
    assert [(u.speaker, u.text, u.confidence) for u in x.utterances] == [
        ("宝玉", "妹妹今日怎么来得这样早？", 0.9),  # 宝玉笑道：“…”
        ("黛玉", "我睡不着，便来了。", 0.9),  # “…”黛玉说。
        ("宝玉", "那正好，我们下棋。", 0.6),  # no attribution: alternation
        ("黛玉", "好。", 0.6),
        ("宝玉", "你先走吧。", 0.6),  # 她低声说 is a pronoun: still only a guess
    ]
    assert [u.text for u in x.narration] == ["那天夜里下着雨，院子里一个人也没有。"]


def test_english_prose_said_before_and_after():
    x = extract(FIXTURES / "novel_en.txt")
    assert [(u.speaker, u.text, u.confidence) for u in x.utterances] == [
        ("Anna", "Where is the train?", 0.9), ("Tom", "It left an hour ago.", 0.9),
        ("Anna", "Then we walk", 0.6), ("Tom", "Walk? In this?", 0.6), ("Anna", "In this.", 0.6)]


def test_unattributed_quote_has_unknown_speaker(tmp_path):
    path = tmp_path / "lone.txt"
    path.write_text("The door opened.\n\n\"Who's there?\"\n", encoding="utf-8")
    x = extract(path, "prose")
    assert [(u.speaker, u.confidence) for u in x.utterances] == [("?", 0.0)]


def test_sharegpt_roles_names_and_one_scene_per_conversation():
    x = extract(FIXTURES / "chats.sharegpt.json")
    assert x.format == "sharegpt"
    assert [(u.scene, u.speaker, u.text) for u in x.utterances] == [
        ("c1", "user", "Who are you?"), ("c1", "Zhen Huan", "I am Zhen Huan of the Suiyu Palace."),
        ("conversation 2", "user", "Hello"), ("conversation 2", "assistant", "Hi.")]
    assert [u.line for u in x.utterances] == [2, 2, 7, 7]
    assert [(u.text, u.extra) for u in x.narration] == [("You are Zhen Huan.", {"role": "system"})]


def test_alpaca_records_become_user_and_assistant_turns():
    x = extract(FIXTURES / "instructions.alpaca.jsonl")
    assert x.format == "alpaca"
    assert [(u.scene, u.speaker, u.text) for u in x.utterances] == [
        ("record 1", "user", "Greet the emperor."), ("record 1", "assistant", "Your Majesty, ten thousand blessings."),
        ("record 2", "user", "Translate\n你好"), ("record 2", "assistant", "Hello")]


@pytest.mark.parametrize("name, fmt", [
    ("zh_script.txt", "zh-script"), ("play.txt", "stageplay"), ("screenplay.fountain", "fountain"),
    ("novel_zh.txt", "prose"), ("novel_en.txt", "prose"), ("chats.sharegpt.json", "sharegpt"),
    ("instructions.alpaca.jsonl", "alpaca"), ("inline_play.txt", "stageplay"), ("transcript_slugs.txt", "stageplay"),
    ("stageplay_cues.txt", "stageplay"), ("zh_brackets.txt", "zh-script"), ("zh_corner_quotes.txt", "zh-script")])
def test_auto_detection_picks_the_right_format(name, fmt):
    x = extract(FIXTURES / name)
    assert (x.format, x.detected) == (fmt, True)
    assert x.scores[fmt] == max(x.scores.values())
    assert extract(FIXTURES / name, fmt).detected is False


# --- bad inputs -------------------------------------------------------------------

def test_empty_file_is_an_error_with_a_hint(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("  \n\n", encoding="utf-8")
    with pytest.raises(DataError, match="is empty") as err:
        extract(path)
    assert err.value.hint


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "file.docx"
    path.write_bytes(b"PK\x03\x04\x00\x00binary\x00\xff\xfe" * 50)
    with pytest.raises(DataError, match="binary") as err:
        extract(path)
    assert "plain-text" in err.value.hint


def test_unknown_format_name_lists_the_known_ones():
    with pytest.raises(DataError, match="unknown format 'screenplay'") as err:
        extract(FIXTURES / "play.txt", "screenplay")
    assert all(f in err.value.hint for f in FORMATS)


def test_no_utterances_names_the_format_tried_and_suggests_another():
    with pytest.raises(DataError, match="no utterances found with format prose") as err:
        extract(FIXTURES / "prose_no_quotes.txt")
    assert "--format" in err.value.hint
    with pytest.raises(DataError, match="format zh-script \\(chosen\\)"):
        extract(FIXTURES / "play.txt", "zh-script")


def test_too_large_file_is_refused(tmp_path, monkeypatch):
    import persona.data.textio as textio

    monkeypatch.setattr(textio, "MAX_BYTES", 100)
    path = tmp_path / "big.txt"
    path.write_text("甄嬛：你好。\n" * 50, encoding="utf-8")
    with pytest.raises(DataError, match="limit") as err:
        extract(path)
    assert "split" in err.value.hint


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        extract(tmp_path / "nope.txt")


# --- the work per file is bounded (issue 10, class 5) -----------------------------------

@pytest.mark.parametrize("fmt", ["auto", "fountain", "prose"])
def test_a_line_over_the_limit_is_refused_naming_it(tmp_path, fmt):
    from persona.data.textio import MAX_LINE_CHARS

    path = tmp_path / "one-line.txt"
    path.write_text("BOB:\nHello.\n\n" + "x" * (MAX_LINE_CHARS + 1) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"line 4 is {MAX_LINE_CHARS + 1:,} characters") as err:
        extract(path, fmt)
    assert "break the text into lines" in err.value.hint


def test_a_long_json_line_is_not_held_to_the_line_limit(tmp_path):
    from persona.data.textio import MAX_LINE_CHARS

    path = tmp_path / "chats.json"
    long_turn = "word " * (MAX_LINE_CHARS // 4)
    path.write_text(f'[{{"conversations": [{{"from": "human", "value": "{long_turn}"}}, '
                    '{"from": "gpt", "value": "Aye."}]}]', encoding="utf-8")
    x = extract(path)
    assert x.format == "sharegpt" and [u.text for u in x.utterances][-1] == "Aye."


@pytest.mark.parametrize("fmt", ["auto", "sharegpt"])
def test_deeply_nested_json_is_a_data_error_not_a_crash(tmp_path, fmt):
    path = tmp_path / "deep.json"
    path.write_text("[" * 50_000 + "]" * 50_000, encoding="utf-8")
    with pytest.raises(DataError, match="nested too deeply" if fmt == "sharegpt" else "no utterances"):
        extract(path, fmt)


def test_data_extract_of_a_file_over_the_line_limit_is_error_hint_exit_2(tmp_path):
    from persona.data.textio import MAX_LINE_CHARS
    from tests.conftest import run_cli

    path = tmp_path / "export.txt"
    path.write_text("“Aye,” said Mara. " * (MAX_LINE_CHARS // 10), encoding="utf-8")
    proc = run_cli("data", "extract", str(path), "-o", str(tmp_path / "out.jsonl"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert [line.split(":")[0] for line in proc.stderr.splitlines() if line.startswith(("error:", "hint:"))] \
        == ["error", "hint"]
    assert "line 1 is" in proc.stderr and not (tmp_path / "out.jsonl").exists()
