"""Scripts in the layouts people have (issue 14.4): inline-colon plays and transcripts, scene headers in
their usual spellings, Chinese 【】/「」 scripts, and ``--explain``, on fixtures written for these tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona.data.extract import detect, extract
from persona.data.records import DataError
from tests.conftest import run_cli

FIXTURES = Path(__file__).parent / "data" / "scripts"


def said(x) -> list[tuple]:
    return [(u.line, u.scene, u.speaker, u.text) for u in x.utterances]


# --- English: NAME: text on one line ------------------------------------------------------

def test_inline_play_reads_one_speech_a_line_with_asides_business_and_scenes():
    x = extract(FIXTURES / "inline_play.txt")
    assert (x.format, x.layout, x.detected) == ("stageplay", "inline", True)
    assert said(x) == [
        (8, "SCENE 1", "MARLOWE", "Let it sit, Finch."),
        (9, "SCENE 1", "FINCH", "It has been sitting since the bell."),
        (10, "SCENE 1", "MARLOWE", "Then it can sit a while longer."),
        (11, "SCENE 1", "FINCH", "You said that about the nets, and the nets are still in the water."),  # 2 lines
        (14, "SCENE 1", "MARLOWE", "The nets are not going anywhere."),
        (18, "SCENE 2", "ODA", "Is that the Marlowe boat?"),
        (19, "SCENE 2", "FINCH", "It is. Don't wave or he'll come over."),
        (22, "SCENE 2", "ODA", "Too late, he has seen us."),
    ]
    assert x.utterances[2].extra == {"action": "quietly"}  # MARLOWE (quietly):
    assert x.utterances[3].extra == {"inline": ["coiling the rope"]}  # (…) inside the speech
    assert x.utterances[6].extra == {"inline": ["she waves anyway"]}  # […] inside the speech
    assert [(u.line, u.text) for u in x.narration] == [
        (1, "THE LOW TIDE"), (2, "A play in two scenes."),
        (6, "The deck of a fishing boat at night. A coil of wet rope."), (13, "A gull cries somewhere overhead."),
        (16, "The harbour wall, before dawn"), (20, "laughing")]
    assert x.narration[-1].extra == {"speaker": "ODA"}  # "ODA:" then "(laughing)": business, no words
    assert x.skipped == []


def test_inline_play_was_read_as_name_alone_on_a_line_and_lost_its_speeches_before():
    # The old reading, still there under --format: the cue-alone parser takes a block as one speech.
    from persona.data.formats import parse_stageplay

    old = parse_stageplay((FIXTURES / "inline_play.txt").read_text(encoding="utf-8"))
    assert len(old.utterances) < 5
    assert len(extract(FIXTURES / "inline_play.txt", "stageplay").utterances) == 8  # --format stageplay: inline too


def test_transcript_with_slug_lines_in_both_dashes_and_a_bracketed_scene():
    x = extract(FIXTURES / "transcript_slugs.txt")
    assert (x.format, x.layout) == ("stageplay", "inline")
    scenes = [u.scene for u in x.utterances]
    assert scenes == ["INT. DECK – NIGHT"] * 3 + ["EXT. HARBOUR WALL - DAY"] * 2 + ["Mrs. Pell's net shed"] * 3 \
        + ["INT. DECK – NIGHT (2)"] * 2  # the deck again, later: its own scene, so no exchange spans the two
    assert [u.speaker for u in x.utterances].count("Mrs. Pell") == 2
    assert [u.text for u in x.narration] == ["Mrs. Pell's net shed. Ropes hang from every beam, and it smells of tar."]
    assert x.scores["stageplay"] > x.scores["fountain"] > 0  # slug lines alone do not make it Fountain


def test_the_layout_is_decided_by_the_whole_file_not_its_opening():
    x = extract(FIXTURES / "inline_play_prologue.txt", explain=True)
    assert (x.format, x.layout) == ("stageplay", "inline")
    # The opening is a cue alone with four lines of speech under it; the eight speeches after it win.
    alone, inline = (next(c for c in x.candidates if c.layout == k) for k in ("cue-alone", "inline"))
    assert alone.evidence["cues_alone"] == 1 and alone.evidence["speech_lines"] == 4
    assert inline.evidence["inline_cues"] == 8 and inline.score > alone.score
    assert said(x)[0][:3] == (1, "", "PROLOGUE")  # read whole, before any scene header
    assert x.utterances[0].text.startswith("Before the play, a word") and x.utterances[0].text.endswith("smell of fish.")
    assert len(x.utterances) == 9 and {u.scene for u in x.utterances[1:]} == {"SCENE 1"}


def test_cue_alone_play_keeps_its_layout_with_scene_2_headers_and_asides():
    x = extract(FIXTURES / "stageplay_cues.txt")
    assert (x.format, x.layout) == ("stageplay", "cue-alone")
    assert said(x) == [
        (3, "SCENE 1", "MARLOWE", "Let it sit, Finch."),
        (6, "SCENE 1", "FINCH", "It has been sitting since the bell, and the bell was an hour ago."),
        (10, "SCENE 1", "MARLOWE", "Then it can sit a while longer."),
        (15, "SCENE 2", "ODA", "Is that the Marlowe boat?"),
        (18, "SCENE 2", "FINCH", "It is.")]
    assert x.utterances[2].extra == {"action": "quietly"}
    assert [u.text for u in x.narration] == ["The harbour wall"]


@pytest.mark.parametrize("header, scene", [
    ("SCENE 2.", "SCENE 2"), ("Scene 2", "SCENE 2"), ("ACT 1, SCENE 2", "ACT 1 SCENE 2"),
    ("ACT II. SCENE III.", "ACT II SCENE III"), ("INT. DECK – NIGHT", "INT. DECK – NIGHT"),
    ("INT. DECK - NIGHT", "INT. DECK - NIGHT"), ("EXT. DOCK — DAWN", "EXT. DOCK — DAWN"),
    ("INT./EXT. CAR - MOVING", "INT./EXT. CAR - MOVING"), ("[Scene: The dock, at dawn.]", "The dock")])
@pytest.mark.parametrize("layout", ["inline", "cue-alone"])
def test_scene_headers_in_their_usual_spellings_name_the_scene(tmp_path, header, scene, layout):
    lines = ["MARLOWE: Hold the line.", "FINCH: Holding it."] if layout == "inline" else \
        ["MARLOWE:", "Hold the line.", "", "FINCH:", "Holding it."]
    path = tmp_path / "play.txt"
    path.write_text(f"{header}\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    x = extract(path)
    assert (x.format, x.layout) == ("stageplay", layout)
    assert [(u.scene, u.speaker, u.text) for u in x.utterances] == [
        (scene, "MARLOWE", "Hold the line."), (scene, "FINCH", "Holding it.")]


# --- Chinese: 【角色】, 「」, 第N场, △ ------------------------------------------------------

def test_zh_script_with_bracketed_speakers_screenplay_scenes_and_action_lines():
    x = extract(FIXTURES / "zh_brackets.txt")
    assert (x.format, x.encoding) == ("zh-script", "utf-8-sig")
    assert said(x) == [
        (6, "第一集 第1场", "甄嬛", "槿汐？"), (7, "第一集 第1场", "槿汐", "小主，奴婢在。"),
        (8, "第一集 第1场", "甄嬛", "把灯点上吧。"), (9, "第一集 第1场", "槿汐", "是。"),
        (13, "第一集 1-2", "皇帝", "朕今日乏了。"), (14, "第一集 1-2", "苏培盛", "皇上，前面就是碎玉轩了。")]
    assert x.utterances[2].extra == {"action": "低声"} and x.utterances[3].extra == {"inline": ["点灯"]}
    assert [(u.line, u.text, u.extra) for u in x.narration] == [
        (3, "碎玉轩 夜 内", {}), (4, "甄嬛、槿汐", {"speaker": "人物"}), (5, "雷声。甄嬛从床上坐起。", {}),
        (11, "御花园 日 外", {}), (12, "皇帝独自走着。", {})]
    assert [n for n, _ in x.skipped] == [15]  # 【另起一页】: a note in brackets, as the 甄嬛传 script has them


def test_zh_script_with_corner_quotes_drops_the_quotes_not_the_words():
    x = extract(FIXTURES / "zh_corner_quotes.txt")
    assert x.format == "zh-script" and x.scores["zh-script"] > x.scores["prose"]
    assert said(x) == [
        (5, "第二集 第一幕", "皇帝", "你来了。"), (6, "第二集 第一幕", "甄嬛", "臣妾给皇上请安。"),
        (7, "第二集 第一幕", "皇帝", "起来吧，地上凉。"),
        (9, "第二集 第一幕", "甄嬛", "皇上说『凉』，臣妾便不觉得凉了。"),  # quotes inside the speech stay
        (12, "第二集 第二场", "华妃", "本宫倒要看看，她能得意几日。"), (13, "第二集 第二场", "颂芝", "娘娘息怒。")]
    assert x.utterances[3].extra == {"inline": ["起身"]}
    assert [u.text for u in x.narration] == ["养心殿", "皇帝扶起甄嬛"]


def test_a_novel_with_corner_quotes_is_still_prose(tmp_path):
    path = tmp_path / "novel.txt"
    path.write_text("那天夜里下着雨。\n宝玉笑道：「妹妹来得早。」\n黛玉道：「睡不着。」\n院子里一个人也没有。\n",
                    encoding="utf-8")
    x = extract(path)
    assert x.format == "prose" and [u.speaker for u in x.utterances] == ["宝玉", "黛玉"]


# --- the same utterances in two layouts extract the same ----------------------------------

EN_NAMES = ["MARLOWE", "FINCH", "ODA", "Mrs. Pell", "First Guard"]
word = st.text("abcdefghijklmnopqrstuvwxyz'", min_size=1, max_size=7).filter(lambda w: w[0] != "'")
sentence = st.tuples(st.lists(word, min_size=1, max_size=9), st.sampled_from(".!?,;")).map(
    lambda t: " ".join(t[0]).capitalize() + t[1]).filter(
    lambda s: s.split()[0].rstrip(".!?,;") not in {"Enter", "Exit", "Exeunt", "Manet"})
speech = st.tuples(st.sampled_from(EN_NAMES), sentence, st.sampled_from(["", "aside", "to Finch"]),
                   st.booleans())  # speaker, text, aside, wrap the text over two lines
en_script = st.tuples(st.lists(st.lists(speech, min_size=1, max_size=5), min_size=1, max_size=4), st.booleans())


def _wrapped(text: str, wrap: bool) -> list[str]:
    words = text.split()
    return [" ".join(words[:len(words) // 2]), " ".join(words[len(words) // 2:])] if wrap and len(words) > 1 \
        else [text]


def render_en(scenes, headers: bool, layout: str) -> str:
    out = []
    for k, speeches in enumerate(scenes, 1):
        if headers:
            out += [f"SCENE {k}.", ""]
        for name, text, aside, wrap in speeches:
            cue = f"{name} ({aside}):" if aside else f"{name}:"
            lines = _wrapped(text, wrap)
            if layout == "inline":
                out += [f"{cue} {lines[0]}", *lines[1:]]
            else:
                out += [cue, *lines, ""]
        out.append("")
    return "\n".join(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=en_script)
def test_an_english_script_in_either_layout_extracts_to_the_same_utterances(tmp_path, script):
    scenes, headers = script
    got = {}
    for layout in ("cue-alone", "inline"):
        path = tmp_path / f"{layout}.txt"
        path.write_text(render_en(scenes, headers, layout), encoding="utf-8")
        x = extract(path)
        assert (x.format, x.layout) == ("stageplay", layout)
        got[layout] = [(u.speaker, u.text, u.scene, u.extra.get("action", "")) for u in x.utterances]
    assert got["cue-alone"] == got["inline"]
    assert [(s, t, a) for s, t, _, a in got["inline"]] == [
        (name, text, aside) for speeches in scenes for name, text, aside, _ in speeches]
    if headers:
        assert [scene for *_, scene, _ in got["inline"]] == [
            f"SCENE {k}" for k, speeches in enumerate(scenes, 1) for _ in speeches]


ZH_NAMES = ["甄嬛", "皇帝", "华妃", "槿汐", "苏培盛"]
zh_text = st.tuples(st.text("臣妾告退皇上万福金安本宫知晓了你们都下去吧今日天凉", min_size=1, max_size=12),
                    st.sampled_from("。！？…")).map("".join)
zh_script = st.lists(st.lists(st.tuples(st.sampled_from(ZH_NAMES), zh_text), min_size=1, max_size=5),
                     min_size=1, max_size=4)
ZH_LAYOUTS = {"colon": "{name}：{text}", "brackets": "【{name}】{text}", "corner": "{name}：「{text}」"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenes=zh_script, heading=st.sampled_from(["第{k}场", "第{k}幕", "第{k}场 养心殿 日 内", "【第{k}场】"]))
def test_a_chinese_script_in_any_of_its_layouts_extracts_to_the_same_utterances(tmp_path, scenes, heading):
    got = {}
    for layout, line in ZH_LAYOUTS.items():
        text = "第一集\n" + "".join(heading.format(k=k) + "\n" + "".join(line.format(name=n, text=t) + "\n"
                                                                      for n, t in speeches)
                                    for k, speeches in enumerate(scenes, 1))
        path = tmp_path / f"{layout}.txt"
        path.write_text(text, encoding="utf-8")
        x = extract(path)
        assert x.format == "zh-script"
        got[layout] = [(u.speaker, u.text, u.scene) for u in x.utterances]
    assert got["colon"] == got["brackets"] == got["corner"]
    assert got["colon"] == [(n, t, f"第一集 {heading.format(k=k).strip('【】').split()[0]}")
                            for k, speeches in enumerate(scenes, 1) for n, t in speeches]


# --- --explain, --json, and bad input ---------------------------------------------------------

def test_explain_prints_every_formats_evidence_and_score_with_the_winner_first(tmp_path):
    proc = run_cli("data", "extract", str(FIXTURES / "inline_play.txt"), "-o", str(tmp_path / "d.jsonl"), "--explain")
    assert proc.returncode == 0 and proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0] == "format: stageplay (detected), layout: inline (NAME: text on one line), encoding: utf-8"
    assert lines[1].startswith("why (format, score, evidence")
    why = lines[2:lines.index(next(line for line in lines if line.endswith("d.jsonl")))]
    assert len(why) == 7  # every format, stageplay once a layout
    assert why[0].startswith("→ stageplay (inline)") and "0.82" in why[0] and "8 NAME: text lines by 3 names" in why[0]
    assert any(line.lstrip().startswith("stageplay (cue-alone)") and "1 NAME: cue alone on its line" in line for line in why)
    assert {line.split()[0] if not line.startswith("→") else "stageplay" for line in why} >= {
        "zh-script", "stageplay", "fountain", "prose", "sharegpt", "alpaca"}
    assert "8 utterances" in proc.stdout


def test_json_carries_the_detection_evidence_as_a_field(tmp_path):
    proc = run_cli("data", "extract", str(FIXTURES / "zh_brackets.txt"), "-o", str(tmp_path / "d.jsonl"), "--json")
    summary = json.loads(proc.stdout)
    assert (summary["format"], summary["layout"], summary["utterances"]) == ("zh-script", "", 6)
    zh = next(c for c in summary["detection"] if c["format"] == "zh-script")
    assert zh["evidence"] == {"lines": 13, "script_lines": 12} and zh["score"] == round(12 / 13, 4)
    assert [c["layout"] for c in summary["detection"] if c["format"] == "stageplay"] == ["cue-alone", "inline"]
    # A format chosen by hand has no detection, unless --explain asks for it.
    chosen = json.loads(run_cli("data", "extract", str(FIXTURES / "zh_brackets.txt"), "--format", "zh-script",
                                "-o", str(tmp_path / "d.jsonl"), "--json").stdout)
    assert "detection" not in chosen
    chosen = json.loads(run_cli("data", "extract", str(FIXTURES / "zh_brackets.txt"), "--format", "zh-script",
                                "--explain", "-o", str(tmp_path / "d.jsonl"), "--json").stdout)
    assert len(chosen["detection"]) == 7


def test_detect_scores_stay_one_per_format():
    scores = detect((FIXTURES / "inline_play.txt").read_text(encoding="utf-8"))
    assert set(scores) == {"zh-script", "stageplay", "fountain", "prose", "sharegpt", "alpaca"}
    assert scores["stageplay"] == 0.8235  # the better of its two layouts: 14 of 17 lines


@pytest.mark.parametrize("text", [
    "SCENE 1.\n\nSCENE 2.\n\nINT. DECK – NIGHT\n",  # headers and nothing said
    "MARLOWE:\n\nFINCH:\n",  # cues with no speech
    "[Lights up.]\n(A long pause.)\n",  # only directions
])
def test_a_script_with_no_speech_is_an_error_with_a_hint_not_a_traceback(tmp_path, text):
    path = tmp_path / "empty-play.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match="no utterances found") as err:
        extract(path)
    assert "--explain" in err.value.hint
    proc = run_cli("data", "extract", str(path), "-o", str(tmp_path / "d.jsonl"), "--explain")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == ""
    assert [line.split(":")[0] for line in proc.stderr.splitlines()] == ["error", "hint"]


def test_the_error_says_why_the_file_was_read_as_it_was(tmp_path):
    path = tmp_path / "cast.txt"
    path.write_text("MARLOWE:\n\nFINCH:\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"read as stageplay because 2 of 2 non-blank lines: 2 NAME: cues alone on their line"):
        extract(path)
