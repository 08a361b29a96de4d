"""The script → dataset → pack pipeline as a user runs it from the shell."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SHARED_DATA, run_cli

ZHENHUAN = str(SHARED_DATA / "scripts" / "zhenhuan_ep11-20.txt")
SHAKESPEARE = str(SHARED_DATA / "scripts" / "tinyshakespeare.txt")


def test_extract_stats_and_build_on_the_real_chinese_script(tmp_path):
    out = tmp_path / "dialogues.jsonl"
    proc = run_cli("data", "extract", ZHENHUAN, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "format: zh-script (detected), encoding: utf-8-sig" in proc.stdout
    assert (tmp_path / "dialogues.narration.jsonl").stat().st_size > 0
    stats = json.loads(run_cli("data", "stats", str(out), "--json").stdout)
    top = stats["speakers"][0]
    assert top["name"] == "甄嬛" and top["lines"] == 533
    proc = run_cli("data", "build", str(out), "--character", "甄嬛", "-o", str(tmp_path / "ds"))
    assert proc.returncode == 0, proc.stderr
    for name in ("train.jsonl", "val.jsonl", "alpaca.json", "dataset_info.json", "build_report.json"):
        assert (tmp_path / "ds" / name).is_file()
    train_scenes = {json.loads(l)["scene"] for l in (tmp_path / "ds" / "train.jsonl").read_text().splitlines()}
    val_scenes = {json.loads(l)["scene"] for l in (tmp_path / "ds" / "val.jsonl").read_text().splitlines()}
    assert train_scenes and val_scenes and not train_scenes & val_scenes


def test_too_few_lines_suggests_the_closest_speakers(tmp_path):
    proc = run_cli("data", "build", SHAKESPEARE, "--character", "Julie", "-o", str(tmp_path / "ds"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "JULIET" in proc.stderr and "hint:" in proc.stderr
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02binary\x00" * 50])
def test_empty_or_binary_input_is_refused(tmp_path, content):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    proc = run_cli("data", "extract", str(bad), "-o", str(tmp_path / "d.jsonl"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and "hint: " in proc.stderr
    assert not (tmp_path / "d.jsonl").exists()


@pytest.mark.slow
def test_build_makes_a_pack_that_chats_with_its_adapter(tmp_path):
    pack = tmp_path / "juliet"
    proc = run_cli("build", SHAKESPEARE, "--character", "juliet", "-o", str(pack),
                   "--max-steps", "1", "--eval-samples", "1")
    assert proc.returncode == 0, proc.stderr
    for name in ("persona.toml", "system.md", "adapter/adapter_model.safetensors", "eval.json",
                 "training_report.json", "loss.png", "data/val.jsonl"):
        assert (pack / name).exists(), name
    assert not (pack / "checkpoint").exists()
    assert run_cli("validate", str(pack)).stdout.startswith("ok: juliet (Juliet)")
    shown = json.loads(run_cli("show", str(pack), "--json").stdout)
    assert shown["adapter"] is True and shown["provenance"]["source"] == "tinyshakespeare.txt"
    assert shown["provenance"]["eval_results"]["adapter"]["perplexity"] > 1
    assert len(shown["provenance"]["dataset_sha256"]) == 64 and shown["provenance"]["hyperparameters"]["max_steps"] == 1
    assert shown["greetings"] and "Juliet" in shown["system"]
    record = json.loads(run_cli("ask", str(pack), "Good morrow!", "--json", "--max-tokens", "8").stdout)
    assert record["messages"][-1]["metadata"]["model"]["adapter"] == "juliet"
    again = run_cli("build", SHAKESPEARE, "--character", "juliet", "-o", str(pack), "--max-steps", "1")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_unknown_format_is_one_clear_error(tmp_path):
    from persona.cli import data as cli_data
    from persona.data import extract

    assert cli_data.FORMATS == extract.FORMATS  # the CLI's help lists what extract accepts
    proc = run_cli("data", "extract", ZHENHUAN, "--format", "screenplay", "-o", str(tmp_path / "d.jsonl"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error: unknown format 'screenplay'" in proc.stderr and "hint: use one of: auto, zh-script" in proc.stderr
    assert not (tmp_path / "d.jsonl").exists()


def test_several_scripts_extract_in_order_with_each_files_scenes_kept_apart():
    from pathlib import Path

    from persona.pack_builder import _common_title, extract_all

    files = [Path(ZHENHUAN.replace("ep11-20", "ep01-10")), Path(ZHENHUAN)]
    both = extract_all(files, "auto")
    first, second = (extract_all([f], "auto") for f in files)
    assert len(both.utterances) == len(first.utterances) + len(second.utterances)
    assert [u.text for u in both.utterances] == [u.text for u in first.utterances + second.utterances]
    assert both.utterances[0].scene.startswith("zhenhuan_ep01-10.txt: ")
    assert both.utterances[-1].scene == "zhenhuan_ep11-20.txt: " + second.utterances[-1].scene
    assert _common_title(["zhenhuan_ep01-10", "zhenhuan_ep11-20"]) == "zhenhuan"


def test_writer_takes_one_novel(tmp_path):
    proc = run_cli("build", ZHENHUAN, SHAKESPEARE, "--writer", "-o", str(tmp_path / "w"))
    assert proc.returncode == 2 and "error: --writer takes one novel, not 2 files" in proc.stderr
