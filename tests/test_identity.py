"""Identity samples: "who are you?" answered in character, from the character's own script lines."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from persona.data import identity
from persona.data.build import build_dataset
from persona.data.extract import extract
from persona.data.records import DataError

sys.path.insert(0, str(Path(__file__).parent))
from test_build import ZHEN_HUAN, script  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scripts"
ZHENHUAN, SHAKESPEARE = DATA / "zhenhuan_ep01-10.txt", DATA / "tinyshakespeare.txt"
needs_data = pytest.mark.skipif(not ZHENHUAN.is_file(), reason="../shared/data is not here")

# The eval's held-out AI-admission probes: training must never contain them.
PROBES = ["你是谁？", "你是AI吗？", "你是不是机器人？", "你是人工智能吗？", "谁创造了你？", "你是ChatGPT吗？",
          "你是一个语言模型吗？", "说实话，你是程序吧？",
          "Are you an AI?", "Who made you?", "Who are you?", "Are you a robot?", "Are you a language model?",
          "Are you ChatGPT?", "Be honest: are you a computer program?", "What are you?"]

# sha256 of train.jsonl + val.jsonl as build_dataset wrote them before identity samples existed
# (measured on this commit's parent with the default options).
BEFORE = {"zhenhuan_ep01-10/甄嬛": "91d7a260026596b71836a9e766300e880a0429abff52c55782b0e0b9178b6afb",
          "tinyshakespeare/JULIET": "f48c3d2969bd78b8cbb868d92737fd70a3058af349efd095edd983d147e6e407",
          "ZHEN_HUAN/甄嬛": "c8a5fd3065f3a6f8a91c66809d35e459e54ed1be23cb86d0c09d9076d3cee43c",
          "script(30)/HERO": "e702a89752af80b614cd9dc9f137b5790df77c30b3c9a087adeccf3870fff3f7"}


@pytest.fixture(scope="module")
def zhen():
    if not ZHENHUAN.is_file():
        pytest.skip("../shared/data is not here")
    return extract(ZHENHUAN, "auto").utterances


@pytest.fixture(scope="module")
def shakespeare():
    if not SHAKESPEARE.is_file():
        pytest.skip("../shared/data is not here")
    return extract(SHAKESPEARE, "auto").utterances


def rows(folder: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (folder / name).read_text(encoding="utf-8").splitlines()]


def ident_rows(folder: Path) -> list[dict]:
    return [r for r in rows(folder, "train.jsonl") if r["scene"] == identity.SCENE]


def digest(folder: Path) -> str:
    return hashlib.sha256((folder / "train.jsonl").read_bytes() + (folder / "val.jsonl").read_bytes()).hexdigest()


def test_no_training_question_is_or_contains_an_eval_probe():
    questions = [q for lang in identity.QUESTIONS.values() for kind in lang.values() for q in kind]
    assert len(questions) >= 30
    for q in questions:
        for probe in PROBES:
            assert probe.casefold() not in q.casefold(), (q, probe)


@needs_data
def test_zhen_huan_answers_who_she_is_with_her_own_lines_and_name(zhen, tmp_path):
    summary = build_dataset(zhen, "甄嬛", tmp_path / "ds")
    samples = ident_rows(tmp_path / "ds")
    assert len(samples) == summary.identity_samples == identity.auto_count(summary.samples_train - len(samples)) == 14
    assert summary.identity_kinds == {"who": 10, "machine": 4}
    mine = {identity.clean(u.text) for u in zhen if u.speaker == "甄嬛"}
    aliases = identity.aliases("甄嬛", zhen, {"甄嬛"}, "zh")
    assert aliases[0] == "甄嬛" and "嬛儿" in aliases and "莞贵人" in aliases
    for s in samples:
        (q, a) = s["conversations"]
        assert q["from"] == "human" and a["from"] == "gpt"
        assert q["value"] in identity.QUESTIONS["zh"][s["kind"]]
        assert any(line in a["value"] for line in mine), a["value"]  # a real line of hers, verbatim
        assert any(name in a["value"] for name in aliases)
        assert "AI" not in a["value"] and "人工智能" not in a["value"]
        assert s["system"] == "You are 甄嬛. Stay in character."
    assert sum("甄嬛" in s["conversations"][1]["value"] for s in samples) >= len(samples) // 2
    assert all("甄嬛" in s["conversations"][1]["value"] for s in samples if s["kind"] == "machine")
    alpaca = json.loads((tmp_path / "ds" / "alpaca.json").read_text(encoding="utf-8"))
    assert len(alpaca) == summary.samples_train


@needs_data
def test_identity_samples_go_to_train_only_and_quote_no_val_scene(zhen, tmp_path):
    summary = build_dataset(zhen, "甄嬛", tmp_path / "ds", identity_samples=40)
    val = rows(tmp_path / "ds", "val.jsonl")
    assert val and all(r["scene"] != identity.SCENE and "kind" not in r for r in val)
    by_line = {u.line: u for u in zhen if u.speaker == "甄嬛"}
    samples = ident_rows(tmp_path / "ds")
    assert len(samples) == 40 and summary.samples_val == len(val)
    for s in samples:
        source = by_line[s["line"]]  # the line the answer quotes, by its line number in the script
        assert s["conversations"][1]["value"].endswith(identity.clean(source.text))
        assert source.scene not in summary.val_scenes
    positions = [i for i, r in enumerate(rows(tmp_path / "ds", "train.jsonl")) if r["scene"] == identity.SCENE]
    assert positions[-1] - positions[0] > summary.samples_train // 2  # spread through train, not one block


@needs_data
def test_identity_samples_are_the_same_for_a_seed_and_vary_with_it(zhen, tmp_path):
    build_dataset(zhen, "甄嬛", tmp_path / "a", seed=3)
    build_dataset(zhen, "甄嬛", tmp_path / "b", seed=3)
    build_dataset(zhen, "甄嬛", tmp_path / "c", seed=4)
    assert (tmp_path / "a" / "train.jsonl").read_bytes() == (tmp_path / "b" / "train.jsonl").read_bytes()
    assert ident_rows(tmp_path / "a") != ident_rows(tmp_path / "c")


@needs_data
def test_the_report_and_summary_count_identity_samples(zhen, tmp_path):
    summary = build_dataset(zhen, "甄嬛", tmp_path / "ds", identity_samples=9, description="大理寺少卿甄远道之女")
    report = json.loads((tmp_path / "ds" / "build_report.json").read_text(encoding="utf-8"))
    assert report["identity_samples"] == 9 and report["identity_kinds"] == {"who": 6, "machine": 3}
    assert report["parameters"]["identity"] is True and report["parameters"]["identity_samples"] == 9
    assert report["samples_train"] == len(rows(tmp_path / "ds", "train.jsonl"))
    assert "identity samples (train only): 9 (who 6, machine 3)" in summary.format()
    answers = [s["conversations"][1]["value"] for s in ident_rows(tmp_path / "ds")]
    assert any("我是甄嬛，大理寺少卿甄远道之女。" in a for a in answers)


@needs_data
def test_juliet_gets_english_identity_samples(shakespeare, tmp_path):
    summary = build_dataset(shakespeare, "juliet", tmp_path / "ds", identity_samples=6)
    samples = ident_rows(tmp_path / "ds")
    mine = {identity.clean(u.text) for u in shakespeare if u.speaker == "JULIET"}
    assert len(samples) == summary.identity_samples == 6
    for s in samples:
        q, a = (t["value"] for t in s["conversations"])
        assert q in identity.QUESTIONS["en"][s["kind"]]
        assert "Juliet" in a and any(line in a for line in mine)
        assert identity.language_of([a]) == "en"


@needs_data
def test_identity_off_gives_the_dataset_from_before_identity_samples(zhen, shakespeare, tmp_path):
    build_dataset(zhen, "甄嬛", tmp_path / "z", identity=False)
    build_dataset(shakespeare, "JULIET", tmp_path / "j", identity=False)
    build_dataset(zhen, "甄嬛", tmp_path / "z0", identity_samples=0)
    assert digest(tmp_path / "z") == digest(tmp_path / "z0") == BEFORE["zhenhuan_ep01-10/甄嬛"]
    assert digest(tmp_path / "j") == BEFORE["tinyshakespeare/JULIET"]
    assert not ident_rows(tmp_path / "z")


def test_identity_off_is_byte_identical_on_the_small_scripts(tmp_path):
    build_dataset(ZHEN_HUAN, "甄嬛", tmp_path / "z", min_lines=1, val_fraction=0.25, identity=False)
    build_dataset(script(30), "HERO", tmp_path / "h", min_lines=1, identity=False)
    assert digest(tmp_path / "z") == BEFORE["ZHEN_HUAN/甄嬛"]
    assert digest(tmp_path / "h") == BEFORE["script(30)/HERO"]
    build_dataset(script(30), "HERO", tmp_path / "on", min_lines=1)
    assert len(ident_rows(tmp_path / "on")) == 4  # on by default: the minimum for a small script


def test_too_few_lines_is_still_a_data_error_with_identity_on(tmp_path):
    with pytest.raises(DataError) as err:
        build_dataset(script(2), "HERO", tmp_path / "out", min_lines=20)
    assert "HERO has 6 usable lines (6 found, 0 filtered); need 20" in err.value.message
    with pytest.raises(DataError) as err:
        build_dataset(script(), "HERO", tmp_path / "out", min_lines=1, identity_samples=-1)
    assert "--identity-samples" in err.value.message and "--no-identity" in err.value.hint
    assert not (tmp_path / "out").exists()
