"""``persona build NOVEL --writer``: chunk → teacher summaries (a scripted HTTP teacher) → train → eval → a writer pack."""

from __future__ import annotations

import json

import pytest

from persona.data.chunk import chunk_file
from persona.data.synth import INSTRUCTION
from tests.conftest import SHARED_DATA, run_cli
from tests.teacher import Teacher

NOVEL = SHARED_DATA / "novels" / "xiyouji_baihua.txt"


@pytest.fixture(scope="module")
def novel(tmp_path_factory):
    if not NOVEL.exists():
        pytest.skip("../shared/data is not here")
    path = tmp_path_factory.mktemp("novel") / "xiyouji.txt"
    path.write_text(NOVEL.read_text(encoding="utf-8")[:3000], encoding="utf-8")
    return path


def writer(novel, out, teacher, *extra):
    return run_cli("build", str(novel), "--writer", "-o", str(out), "--size", "300",
                   "--teacher", teacher.url, "--model", "scripted", *extra)


def test_build_needs_character_or_writer_but_not_both(tmp_path, novel):
    proc = run_cli("build", str(novel), "-o", str(tmp_path / "p"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error: persona build needs --character (or --writer" in proc.stderr and "hint:" in proc.stderr
    proc = run_cli("build", str(novel), "--writer", "--character", "孙悟空", "-o", str(tmp_path / "p"))
    assert proc.returncode == 2 and "not a character's lines" in proc.stderr
    proc = run_cli("build", str(novel), "--writer", "--chunks", "1", "-o", str(tmp_path / "p"))
    assert proc.returncode == 2 and "nothing to hold out" in proc.stderr
    proc = run_cli("build", str(novel), "--writer", "-o", str(tmp_path / "no" / "p"))
    assert proc.returncode == 2 and f"the folder {tmp_path / 'no'} does not exist" in proc.stderr
    assert not (tmp_path / "p").exists() and not (tmp_path / "no").exists()


def test_a_teacher_that_answers_nothing_usable_stops_the_build_before_training(tmp_path, novel):
    chunks, _ = chunk_file(novel, 300)
    with Teacher(chunks, bad={c.index: "empty" for c in chunks}) as teacher:
        proc = writer(novel, tmp_path / "pack", teacher)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"the teacher summarised 0 of {len(chunks)} chunks usably" in proc.stderr
    assert "hint: use a stronger teacher" in proc.stderr
    assert "[3/4]" not in proc.stderr  # no training started
    assert not (tmp_path / "pack").exists() and not list(tmp_path.glob(".pack-build-*"))


@pytest.mark.slow
def test_writer_build_trains_on_summaries_evaluates_and_makes_a_pack_that_writes(tmp_path, novel):
    chunks, _ = chunk_file(novel, 300)
    pack = tmp_path / "xiyouji-writer"
    with Teacher(chunks, bad={1: "format"}) as teacher:
        proc = writer(novel, pack, teacher, "--max-steps", "2", "--max-len", "384", "--eval-samples", "1",
                      "--eval-tokens", "16", "--json")
        asked = teacher.answers
        # The same novel built again asks the teacher nothing: its answers are cached by chunk.
        again = writer(novel, tmp_path / "again", teacher, "--max-steps", "1", "--max-len", "256",
                       "--eval-samples", "1", "--eval-tokens", "4")
        assert again.returncode == 0, again.stderr
        assert teacher.answers == asked
    assert proc.returncode == 0, proc.stderr
    assert asked == len(chunks) + 1  # chunk 1's bad answer was asked again, strictly
    for step in ("[1/4] chunking", "[2/4] asking", "[3/4] training a LoRA adapter on gemma3-270m", "[4/4] evaluating"):
        assert step in proc.stderr
    for name in ("persona.toml", "system.md", "adapter/adapter_model.safetensors", "eval.json", "loss.png",
                 "data/alpaca.json", "data/train.jsonl", "data/val.jsonl", "data/synth_report.json"):
        assert (pack / name).exists(), name
    assert not (pack / "checkpoint").exists()
    alpaca = json.loads((pack / "data" / "alpaca.json").read_text(encoding="utf-8"))
    assert len(alpaca) == len(chunks)
    assert {r["output"] for r in alpaca} == {c.text for c in chunks}  # every paragraph, word for word
    assert alpaca[0]["instruction"] == INSTRUCTION["zh"] and alpaca[0]["input"].startswith("第0段的情节")

    report = json.loads(proc.stdout)
    assert report["kind"] == "writer" and report["generated"] == 1
    for side in ("base", "adapter"):
        assert report[side]["perplexity"] > 1 and "fidelity" not in report[side]
        assert report[side]["mean_chars"] > 0 and 0 <= report[side]["distinct_2"] <= 1
    assert report["real"]["mean_chars"] > 100 and report["examples"][0]["premise"].startswith("第")

    assert run_cli("validate", str(pack)).returncode == 0
    proc = run_cli("eval", str(pack), "--min-fidelity", "0.5")
    assert proc.returncode == 2 and "error: a writer pack has no fidelity score" in proc.stderr
    shown = json.loads(run_cli("show", str(pack), "--json").stdout)
    prov = shown["provenance"]
    assert prov["kind"] == "writer" and prov["teacher"] == teacher.url and prov["teacher_model"] == "scripted"
    assert prov["summaries"] == len(chunks) and prov["skipped"] == 0 and len(prov["prompt_sha256"]) == 64
    assert prov["hyperparameters"]["max_len"] == 384 and prov["eval_results"]["adapter"]["perplexity"] > 1
    assert shown["system"].strip() == INSTRUCTION["zh"] and "xiyouji" in shown["greetings"][0]
    assert shown["language"] == "zh" and shown["base"] == "gemma3-270m"
    record = json.loads(run_cli("ask", str(pack), "孙悟空大闹天宫。", "--json", "--max-tokens", "8").stdout)
    assert record["messages"][-1]["metadata"]["model"]["adapter"] == "xiyouji-writer"
    assert record["messages"][-1]["content"].strip()

