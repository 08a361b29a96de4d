"""build_dataset and stats: from Utterance lists to ShareGPT/Alpaca training data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from persona.data import build as build_mod
from persona.data.build import build_dataset
from persona.data.records import DataError, Utterance
from persona.data.stats import format_stats, stats


def say(scene: str, speaker: str, text: str, line: int = 0, kind: str = "speech") -> Utterance:
    return Utterance(scene=scene, speaker=speaker, text=text, line=line, kind=kind)


def script(scenes: int = 10, char: str = "HERO", per_scene: int = 3) -> list[Utterance]:
    """Scenes where ANNA opens, then HERO and BOB alternate; every text is unique."""
    out, n = [], 0
    for s in range(scenes):
        out.append(say(f"s{s}", "ANNA", f"anna opens scene {s}", n := n + 1))
        for k in range(per_scene):
            out.append(say(f"s{s}", char, f"hero line {s}.{k}", n := n + 1))
            out.append(say(f"s{s}", "BOB", f"bob line {s}.{k}", n := n + 1))
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def build(utts, tmp_path: Path, name: str = "out", **kw):
    kw.setdefault("min_lines", 1)
    kw.setdefault("identity", False)  # these tests check exact contents; tests/test_identity.py covers identity
    summary = build_dataset(utts, kw.pop("character", "HERO"), tmp_path / name, **kw)
    out = tmp_path / name
    return summary, read_jsonl(out / "train.jsonl"), read_jsonl(out / "val.jsonl")


ZHEN_HUAN = [
    say("第一集 御花园", "槿汐", "小主，起风了，仔细着凉。", 3),
    say("第一集 御花园", "甄嬛", "不妨事，这杏花开得正好。", 4),
    say("第一集 御花园", "甄嬛", "逆风如解意，容易莫摧残。", 5),
    say("第一集 御花园", "皇上", "是谁在那里？", 7),
    say("第一集 御花园", "甄嬛", "（跪下）", 8),
    say("第一集 御花园", "甄嬛", "奴婢是倚梅园的宫女，惊扰了贵人，请贵人恕罪。", 9),
    say("第一集 御花园", "皇上", "你读过书？", 10),
    say("第一集 御花园", "甄嬛", "略识得几个字罢了。", 11),
    say("第一集 御花园", "旁白", "月色下，杏花纷纷落在她的肩头。", 12, kind="narration"),
    say("第二集 碎玉轩", "甄嬛", "槿汐，今日可有人来过？", 20),
    say("第二集 碎玉轩", "槿汐", "回小主，华妃娘娘宫里的颂芝来过。", 21),
    say("第二集 碎玉轩", "甄嬛", "她来做什么？", 22),
    say("第二集 碎玉轩", "槿汐", "说是送些时新的料子，奴婢瞧着不像好意。", 23),
    say("第二集 碎玉轩", "甄嬛", "收下吧，面子上的功夫总要做足。", 24),
    say("第二集 碎玉轩", "流朱", "小主，沈贵人来了！", 25),
    say("第二集 碎玉轩", "沈眉庄", "嬛儿，你这里倒清静。", 26),
    say("第二集 碎玉轩", "甄嬛", "姐姐来了，快坐。", 27),
    say("第三集 养心殿", "皇上", "朕听说你近日在读《诗经》？", 40),
    say("第三集 养心殿", "甄嬛", "回皇上，臣妾闲来无事，翻看几页罢了。", 41),
    say("第三集 养心殿", "皇上", "读到哪一篇了？", 42),
    say("第三集 养心殿", "甄嬛", "回皇上，正读到《蒹葭》。", 43),
    say("第三集 养心殿", "皇上", "那便念给朕听听。", 44),
    say("第三集 养心殿", "甄嬛", "臣妾遵旨。", 45),
    say("第四集 翊坤宫", "华妃", "莞贵人好大的架子。", 60),
    say("第四集 翊坤宫", "甄嬛", "娘娘言重了，臣妾不敢。", 61),
    say("第四集 翊坤宫", "华妃", "不敢？本宫看你敢得很。", 62),
    say("第四集 翊坤宫", "甄嬛", "臣妾一向谨守本分，还请娘娘明鉴。", 63),
    say("第四集 翊坤宫", "皇上", "都退下吧，莞贵人留下。", 64),
    say("第四集 翊坤宫", "甄嬛", "臣妾遵旨。", 65),
]


# -- sample shape -------------------------------------------------------------

def test_samples_alternate_roles_start_with_human_and_end_with_the_characters_line(tmp_path):
    _, train, val = build(script(), tmp_path)
    for sample in train + val:
        roles = [t["from"] for t in sample["conversations"]]
        assert roles[0] == "human" and roles[-1] == "gpt"
        assert all(a != b for a, b in zip(roles, roles[1:]))
        assert sample["conversations"][-1]["value"].startswith("hero line")
        assert sample["system"] == "You are HERO. Stay in character."


def test_other_speakers_keep_their_names_and_consecutive_lines_merge_into_one_turn(tmp_path):
    utts = [say("a", "ANNA", "hi", 1), say("a", "BOB", "hello", 2), say("a", "HERO", "hey", 3),
            say("a", "HERO", "what's up", 4)] + script(3)
    _, train, val = build(utts, tmp_path, val_fraction=0.3)
    sample = next(s for s in train + val if s["scene"] == "a")
    assert sample["conversations"] == [
        {"from": "human", "value": "ANNA: hi\nBOB: hello"},
        {"from": "gpt", "value": "hey\nwhat's up"},
    ]
    assert sample["line"] == 3


def test_history_limits_how_many_utterances_come_before_the_characters_turn(tmp_path):
    _, train, val = build(script(per_scene=5), tmp_path, history=3)
    for sample in train + val:
        context = sample["conversations"][:-1]
        assert sum(t["value"].count("\n") + 1 for t in context) <= 3
    longest = max(train + val, key=lambda s: len(s["conversations"]))
    # Mid-scene the 3 utterances before HERO's turn are BOB, HERO, BOB.
    assert [t["from"] for t in longest["conversations"]] == ["human", "gpt", "human", "gpt"]


def test_a_character_who_opens_a_scene_gets_no_invented_opener(tmp_path):
    utts = script(4) + [say("x", "HERO", "I speak first", 1), say("x", "BOB", "yes?", 2),
                        say("x", "HERO", "now I answer", 3)]
    summary, train, val = build(utts, tmp_path, val_fraction=0.2)
    assert summary.no_context == 1
    texts = [t["value"] for s in train + val for t in s["conversations"]]
    assert "now I answer" in texts and "I speak first" not in " ".join(texts)


def test_unknown_speakers_are_kept_without_a_name_prefix(tmp_path):
    utts = script(3) + [say("x", "?", "who goes there", 1), say("x", "HERO", "a friend", 2)]
    _, train, val = build(utts, tmp_path, val_fraction=0.3)
    sample = next(s for s in train + val if s["scene"] == "x")
    assert sample["conversations"][0] == {"from": "human", "value": "who goes there"}


# -- split and side files ---------------------------------------------------

def test_no_scene_is_in_both_train_and_val(tmp_path):
    summary, train, val = build(script(20), tmp_path, val_fraction=0.2)
    train_scenes, val_scenes = {s["scene"] for s in train}, {s["scene"] for s in val}
    assert train_scenes and val_scenes and not train_scenes & val_scenes
    assert len(val_scenes) == summary.scenes_val == 4  # 20 equal scenes, 20% of lines
    assert sorted(summary.val_scenes) == sorted(val_scenes)


def test_alpaca_json_holds_the_train_samples_with_earlier_turns_as_history(tmp_path):
    _, train, _ = build(script(per_scene=4), tmp_path, system="Be HERO.")
    alpaca = json.loads((tmp_path / "out" / "alpaca.json").read_text(encoding="utf-8"))
    assert len(alpaca) == len(train)
    for row, sample in zip(alpaca, train):
        turns = [t["value"] for t in sample["conversations"]]
        assert set(row) == {"instruction", "input", "output", "history", "system"}
        assert row["output"] == turns[-1] and row["instruction"] == turns[-2] and row["input"] == ""
        assert [x for pair in row["history"] for x in pair] == turns[:-2]
        assert row["system"] == sample["system"] == "Be HERO."


def test_dataset_info_describes_sharegpt_and_alpaca_files_for_llama_factory(tmp_path):
    build(script(), tmp_path)
    out = tmp_path / "out"
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    for key, file in (("persona_train", "train.jsonl"), ("persona_val", "val.jsonl")):
        assert info[key] == {"file_name": file, "formatting": "sharegpt",
                             "columns": {"messages": "conversations", "system": "system"},
                             "tags": {"role_tag": "from", "content_tag": "value",
                                      "user_tag": "human", "assistant_tag": "gpt"}}
    alpaca = info["persona_train_alpaca"]
    assert alpaca["columns"] == {"prompt": "instruction", "query": "input", "response": "output",
                                 "system": "system", "history": "history"}
    assert "formatting" not in alpaca  # alpaca is LLaMA-Factory's default
    assert all((out / entry["file_name"]).is_file() for entry in info.values())


# -- filters ------------------------------------------------------------------

def test_each_filter_drops_its_lines_and_is_counted(tmp_path):
    utts = script(4) + [
        say("f", "BOB", "go on", 1), say("f", "HERO", "   ", 2), say("f", "HERO", "(laughs)", 3),
        say("f", "HERO", "（叹气）（起身）", 4), say("f", "HERO", "x" * 41, 5),
        say("f", "HERO", "hero line 0.0", 6),  # a repeat of the character's first line
        say("f", "BOB", "hero line 0.0", 7),  # another speaker's repeat is kept
        say("f", "HERO", "(quietly) but this is speech", 8),
    ]
    summary, train, val = build(utts, tmp_path, max_chars=40, val_fraction=0.2)
    assert summary.character_dropped == {"empty": 1, "stage_direction": 2, "too_long": 1, "duplicate": 1}
    assert summary.dropped == summary.character_dropped
    assert summary.lines_found == 4 * 3 + 6 and summary.lines_kept == 4 * 3 + 1
    everything = json.dumps(train + val, ensure_ascii=False)
    assert "(laughs)" not in everything and "x" * 41 not in everything
    assert "BOB: hero line 0.0" in everything and "(quietly) but this is speech" in everything


def test_same_seed_gives_the_same_dataset_and_another_seed_another_split(tmp_path):
    utts = script(30)
    a, *_ = build(utts, tmp_path, "a", seed=1)
    b, *_ = build(utts, tmp_path, "b", seed=1)
    c, *_ = build(utts, tmp_path, "c", seed=2)
    assert (tmp_path / "a" / "train.jsonl").read_bytes() == (tmp_path / "b" / "train.jsonl").read_bytes()
    assert a.dataset_sha256 == b.dataset_sha256 and a.val_scenes == b.val_scenes
    assert set(c.val_scenes) != set(a.val_scenes) and c.dataset_sha256 != a.dataset_sha256


# -- errors -------------------------------------------------------------------

def test_too_few_lines_says_how_many_and_lists_the_closest_speaker_names(tmp_path):
    utts = script(5, char="ROMEO (V.O.)") + script(2, char="ROMERO")
    with pytest.raises(DataError) as err:
        build_dataset(utts, "Romeo", tmp_path / "out", min_lines=20)
    assert "no lines found for 'Romeo'" in err.value.message
    assert err.value.hint.startswith("closest names: ROMEO (V.O.) (15 lines), ROMERO (6 lines)")
    assert "--min-lines" in err.value.hint
    with pytest.raises(DataError) as err:
        build_dataset(script(2), "HERO", tmp_path / "out", min_lines=20)
    assert "HERO has 6 usable lines (6 found, 0 filtered); need 20" in err.value.message
    assert not (tmp_path / "out").exists()


def test_a_character_in_a_single_scene_cannot_be_split_and_says_why(tmp_path):
    with pytest.raises(DataError) as err:
        build_dataset(script(1), "HERO", tmp_path / "out", min_lines=1)
    assert "answers someone in only scene 's0'" in err.value.message and "validation" in err.value.message
    assert "more scenes" in err.value.hint


def test_a_zero_val_fraction_is_refused_with_a_hint(tmp_path):
    with pytest.raises(DataError) as err:
        build_dataset(script(), "HERO", tmp_path / "out", min_lines=1, val_fraction=0)
    assert "--val-fraction" in err.value.message


def test_character_name_matches_speakers_case_insensitively(tmp_path):
    summary, train, _ = build(script(char="JULIET"), tmp_path, character="juliet")
    assert summary.speakers_matched == ["JULIET"] and summary.lines_kept == 30
    assert train[0]["system"] == "You are juliet. Stay in character."


def test_a_non_empty_out_dir_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(DataError) as err:
        build_dataset(script(), "HERO", out, min_lines=1)
    assert "not empty" in err.value.message and "--overwrite" in err.value.hint
    assert (out / "mine.txt").read_text() == "keep me"
    build_dataset(script(), "HERO", out, min_lines=1, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["train.jsonl", "val.jsonl", "alpaca.json", "dataset_info.json", "build_report.json"])
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp or backup folder left


def test_a_failed_write_leaves_no_half_written_dataset(tmp_path, monkeypatch):
    def boom(data):
        raise OSError("disk full")
    monkeypatch.setattr(build_mod, "_json", boom)
    with pytest.raises(OSError):
        build_dataset(script(), "HERO", tmp_path / "out", min_lines=1)
    assert list(tmp_path.iterdir()) == []


# -- a real script, and provenance ----------------------------------------------

def test_a_chinese_script_round_trips_with_names_filters_and_split(tmp_path):
    summary, train, val = build(ZHEN_HUAN, tmp_path, character="甄嬛", val_fraction=0.25, history=4)
    assert summary.lines_found == 15 and summary.lines_kept == 13
    assert summary.character_dropped["stage_direction"] == 1 and summary.character_dropped["duplicate"] == 1
    assert summary.no_context == 1  # 第二集 opens with 甄嬛 asking 槿汐
    assert summary.scenes_train + summary.scenes_val == 4
    samples = train + val
    garden = [s for s in samples if s["scene"] == "第一集 御花园"]
    assert garden[0]["conversations"] == [
        {"from": "human", "value": "槿汐: 小主，起风了，仔细着凉。"},
        {"from": "gpt", "value": "不妨事，这杏花开得正好。\n逆风如解意，容易莫摧残。"},
    ]
    assert garden[1]["conversations"][-2:] == [
        {"from": "human", "value": "皇上: 是谁在那里？"},
        {"from": "gpt", "value": "奴婢是倚梅园的宫女，惊扰了贵人，请贵人恕罪。"},
    ]
    assert all(s["system"] == "You are 甄嬛. Stay in character." for s in samples)
    raw = (tmp_path / "out" / "train.jsonl").read_text(encoding="utf-8")
    assert "甄嬛" in raw and "\\u" not in raw  # readable UTF-8, not escapes
    assert "月色下" not in raw + (tmp_path / "out" / "val.jsonl").read_text(encoding="utf-8")


def test_build_report_and_dataset_sha256_are_stable_for_the_same_input(tmp_path):
    hashes = {"zhenhuan.txt": "ab" * 32}
    a, *_ = build(ZHEN_HUAN, tmp_path, "a", character="甄嬛", source_hashes=hashes)
    build(ZHEN_HUAN, tmp_path, "b", character="甄嬛", source_hashes=hashes)
    report = (tmp_path / "a" / "build_report.json").read_bytes()
    assert report == (tmp_path / "b" / "build_report.json").read_bytes()
    data = json.loads(report)
    body = (tmp_path / "a" / "train.jsonl").read_bytes() + (tmp_path / "a" / "val.jsonl").read_bytes()
    assert data["dataset_sha256"] == hashlib.sha256(body).hexdigest() == a.dataset_sha256
    assert data["source_hashes"] == hashes and data["character"] == "甄嬛"
    assert data["parameters"]["history"] == 6 and data["samples_train"] == a.samples_train
    assert data == a.to_dict()
    assert "甄嬛" in a.format() and a.dataset_sha256 in a.format()


# -- stats --------------------------------------------------------------------

def test_stats_ranks_speakers_by_lines_and_by_characters_and_counts_what_was_skipped():
    d = stats(ZHEN_HUAN, narration=[say("x", "", "夜深了", 1, kind="narration")],
              skipped=["unparsed", {"reason": "unparsed"}, (12, "header")])
    names = [s["name"] for s in d["speakers"]]
    assert names[:2] == ["甄嬛", "皇上"] and d["speakers"][0]["lines"] == 15
    assert d["speakers_by_chars"][0] == "甄嬛"
    assert d["scenes"] == 4 and d["narration"] == 2 and d["utterances"] == 28
    assert d["skipped"] == {"unparsed": 2, "header": 1} and d["skipped_total"] == 3
    assert json.loads(json.dumps(d)) == d


def test_format_stats_prints_an_aligned_table_with_totals_and_skip_reasons():
    text = format_stats(stats(ZHEN_HUAN, skipped=["unparsed"]), top=3)
    lines = text.splitlines()
    assert lines[0].split() == ["#", "speaker", "lines", "chars", "by", "chars", "scenes"]
    assert lines[1].split()[:3] == ["1", "甄嬛", "15"]
    assert "... and 3 more speakers" in text
    assert "28 lines of speech from 6 speakers in 4 scenes; 1 narration" in text
    assert "skipped 1: unparsed 1" in text
