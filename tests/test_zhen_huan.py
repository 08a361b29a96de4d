"""The shipped 甄嬛 pack (personas/zhen-huan, built by `make zhen-huan`): what it is made of and that it talks."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from tests.conftest import ROOT, run_cli

PACK = ROOT / "personas" / "zhen-huan"
HAN = re.compile(r"[\u4e00-\u9fff]")


def manifest() -> dict:
    return tomllib.loads((PACK / "persona.toml").read_text(encoding="utf-8"))


def test_the_pack_is_built_from_the_script_by_the_committed_command():
    prov = manifest()["provenance"]
    command = (ROOT / "examples" / "zhen-huan.sh").read_text(encoding="utf-8")
    assert "--character 甄嬛" in command and "zhenhuan_ep*.txt" in command
    assert sorted(prov["sources"]) == [f"zhenhuan_ep{r}.txt" for r in
                                       ("01-10", "11-20", "31-40", "41-50", "51-60", "61-70", "71-76")]
    assert all(len(h) == 64 for h in prov["sources"].values())
    assert prov["hyperparameters"]["base"] == manifest()["model"]["base"] == "gemma3-270m"
    report = json.loads((PACK / "data" / "build_report.json").read_text(encoding="utf-8"))
    assert report["identity_samples"] > 0 and report["dataset_sha256"] == prov["dataset_sha256"]


def test_her_greetings_are_her_own_lines_from_the_script():
    from tests.conftest import SHARED_DATA

    files = sorted((SHARED_DATA / "scripts").glob("zhenhuan_ep*.txt"))
    if not files:
        pytest.skip("../shared/data is not here")
    from persona.pack_builder import extract_all

    hers = {u.text.strip() for u in extract_all(files, "auto").utterances if u.speaker == "甄嬛"}
    greetings = manifest()["greetings"]
    assert greetings and all(g in hers for g in greetings)


def test_eval_json_has_intervals_and_the_ai_admission_rate_for_base_and_adapter():
    report = json.loads((PACK / "eval.json").read_text(encoding="utf-8"))
    for side in ("base", "adapter"):
        low, high = report[side]["perplexity_ci95"]
        assert 1 < low <= report[side]["perplexity"] <= high
        assert 0 <= report[side]["ai_admission"] <= 1 and len(report[side]["ai_admission_ci95"]) == 2
    assert report["style"]["auc"] > 0.5 and report["generated"] >= 40


def test_her_sampling_is_the_sweeps_winner():
    sweep = json.loads((PACK / "sampling_sweep.json").read_text(encoding="utf-8"))
    sampling = manifest()["sampling"]
    assert {k: sampling[k] for k in sweep["best"]} == sweep["best"]
    assert len(sweep["settings"]) == 6 and sweep["style"]["trustworthy"]
    allowed = [s for s in sweep["settings"] if not s["repetitive"]]
    assert max(allowed, key=lambda s: s["fidelity"])["temperature"] == sweep["best"]["temperature"]


@pytest.mark.slow
def test_she_answers_a_chinese_question_in_chinese_on_the_real_model():
    proc = run_cli("ask", str(PACK), "今日宫里可有什么新鲜事？", "--json", "--max-tokens", "40", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    reply = record["messages"][-1]["content"]
    assert record["messages"][-1]["metadata"]["model"]["adapter"] == "zhen-huan"
    assert len(HAN.findall(reply)) >= 0.5 * len(reply.replace(" ", "")) > 0, reply
