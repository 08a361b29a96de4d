"""`persona eval` on a pack trained for a few steps on the real default model."""

from __future__ import annotations

import json
import shutil

import pytest

from persona.evaluate import distinct, evaluate, format_table, pick_prompts, speaker_lines
from persona.train import TrainConfig, train
from tests.conftest import ROOT, run_cli

MARA_DATA = ROOT / "personas" / "mara-of-the-lantern" / "data"


def make_pack(root):
    """A pack on the shipped pack's real data (20 held-out scenes), trained for two steps."""
    data = root / "data"
    data.mkdir(parents=True)
    for name in ("train.jsonl", "val.jsonl"):
        shutil.copy(MARA_DATA / name, data / name)
    train(data, root, TrainConfig(max_steps=2, eval_every=2, rank=4, alpha=8, batch_tokens=512), progress=False)
    (root / "persona.toml").write_text('spec = "persona-pack"\nspec_version = "1"\nname = "Mara"\n'
                                       'system = "You are Mara, a harbour captain."\n'
                                       '[model]\nbase = "smollm2-135m"\nadapter = "adapter"\n')
    return root


@pytest.mark.slow
def test_eval_reports_every_figure_with_its_interval_and_checks_the_scorer_first(tmp_path, model_cache):
    pack = make_pack(tmp_path / "mara")
    report = evaluate(pack, samples=2, max_new_tokens=8)
    assert report["style"]["trustworthy"] and report["style"]["auc"] > 0.6
    for side in ("base", "adapter"):
        r = report[side]
        assert r["perplexity"] > 1 and r["perplexity_ci95"][0] <= r["perplexity"] <= r["perplexity_ci95"][1]
        assert 0 <= r["fidelity"] <= 1 and len(r["fidelity_ci95"]) == 2 and 0 <= r["fidelity_share"] <= 1
        assert 0 <= r["ai_admission"] <= 1 and set(r["ai_admission_by_language"]) == {"zh", "en"}
        assert set(r) >= {"distinct_1", "distinct_2", "mean_chars", "mean_chars_ci95"}
    assert report["real"]["fidelity"] > report["real"]["fidelity_others"]
    assert len(report["identity"]) == 16 and report["generated"] == 2
    table = format_table(report)
    assert "perplexity" in table.splitlines()[0] and "AI-admission" in table and "style scorer AUC" in table
    proc = run_cli("eval", str(pack), "--samples", "1", "--max-tokens", "6", "--min-fidelity", "1.01")
    assert proc.returncode == 1 and "below --min-fidelity" in proc.stderr
    assert json.loads((pack / "eval.json").read_text())["pack"] == "mara"


def test_eval_without_an_adapter_is_a_clear_error(tmp_path):
    pack = tmp_path / "plain"
    shutil.copytree("personas/captain-mara", pack)
    (pack / "data").mkdir()
    (pack / "data" / "train.jsonl").write_text('{"conversations": []}\n')
    (pack / "data" / "val.jsonl").write_text('{"conversations": []}\n')
    proc = run_cli("eval", str(pack))
    assert proc.returncode == 2 and "error: pack captain-mara has no adapter" in proc.stderr


def test_eval_with_too_few_held_out_lines_for_the_auc_is_a_clear_error(tmp_path):
    pack = tmp_path / "thin"
    shutil.copytree(ROOT / "personas" / "mara-of-the-lantern", pack)
    rows = (pack / "data" / "val.jsonl").read_text().splitlines()
    (pack / "data" / "val.jsonl").write_text("\n".join(rows[:3]) + "\n")
    proc = run_cli("eval", str(pack))
    assert proc.returncode == 2 and "error: too few held-out lines to check the style scorer" in proc.stderr
    assert "hint: " in proc.stderr
    assert (pack / "eval.json").read_bytes() == (ROOT / "personas" / "mara-of-the-lantern" / "eval.json").read_bytes()


def test_speaker_lines_and_distinct():
    mine, others = speaker_lines([{"conversations": [{"from": "human", "value": "A: hi\nB：你好"},
                                                     {"from": "gpt", "value": "yo"}]}])
    assert mine == ["yo"] and others == ["hi", "你好"]
    assert distinct(["a b a b"], 1) == 0.5 and distinct(["你好你好"], 2) == round(2 / 3, 4)


def test_prompts_spread_over_the_held_out_rows_and_cycle_when_more_are_asked():
    rows = [{"i": i} for i in range(5)]
    prompts, groups = pick_prompts(rows, 3)
    assert groups == [0, 1, 3] and [p["i"] for p in prompts] == groups
    assert pick_prompts(rows, 12)[1] == [0, 1, 2, 3, 4] * 2 + [0, 1]
    assert pick_prompts(rows, 0) == ([], [])


@pytest.mark.slow
def test_shipped_trained_pack_beats_the_base_on_held_out_scenes(model_cache):
    """The committed pack, re-measured now: its adapter lowers the perplexity of
    Mara's real held-out lines compared with the base model, beyond the intervals."""
    from pathlib import Path

    from persona.packs import get_pack

    pack = get_pack("mara-of-the-lantern")
    assert pack.adapter is not None
    size = sum(f.stat().st_size for f in Path(pack.adapter).iterdir())
    assert size < 10 * 2**20
    report = evaluate(pack.path, samples=0)
    assert report["adapter"]["perplexity_ci95"][1] < report["base"]["perplexity_ci95"][0]
    assert report["style"]["trustworthy"] and report["generated"] == 0
    committed = json.loads((pack.path / "eval.json").read_text())
    assert committed["adapter"]["perplexity"] < committed["base"]["perplexity"]
