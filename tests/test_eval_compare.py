"""``persona eval --compare A B``: two adapters on the same held-out data, and clear errors for what cannot be compared."""

from __future__ import annotations

import json
import shutil

import pytest

from persona.eval_compare import FIGURES, differences
from persona.eval_style import StyleScorer
from persona.train import read_samples
from tests.conftest import ROOT, run_cli

MARA = ROOT / "personas" / "mara-of-the-lantern"


def copy_pack(tmp_path, name="other", base=None, adapter=True):
    pack = tmp_path / name
    shutil.copytree(MARA, pack)
    text = (pack / "persona.toml").read_text().replace('id = "mara-of-the-lantern"', f'id = "{name}"')
    if base:
        text = text.replace('base = "smollm2-135m"', f'base = "{base}"', 1)
    if not adapter:
        shutil.rmtree(pack / "adapter")
        text = text.replace('adapter = "adapter"\n', "")
    (pack / "persona.toml").write_text(text)
    return pack


def test_compare_with_a_pack_without_adapter_is_a_clear_error(tmp_path):
    plain = copy_pack(tmp_path, "plain", adapter=False)
    proc = run_cli("eval", "--compare", str(MARA), str(plain))
    assert proc.returncode == 2 and "error: pack plain has no adapter to compare" in proc.stderr
    assert "hint:" in proc.stderr and "Traceback" not in proc.stderr


def test_compare_across_base_models_is_a_clear_error(tmp_path):
    other = copy_pack(tmp_path, "other", base="gemma3-270m")
    proc = run_cli("eval", "--compare", str(MARA), str(other))
    assert proc.returncode == 2 and "trained on smollm2-135m" in proc.stderr and "gemma3-270m" in proc.stderr


def test_eval_needs_a_pack_or_compare_but_not_both(tmp_path):
    none = run_cli("eval")
    assert none.returncode == 2 and "error: persona eval needs a pack" in none.stderr
    both = run_cli("eval", str(MARA), "--compare", str(MARA), str(MARA))
    assert both.returncode == 2 and "not both" in both.stderr


def _raw(replies, probe_replies, losses):
    return {"replies": replies, "probe_replies": probe_replies, "losses": losses}


def test_differences_name_the_better_side_only_when_the_interval_excludes_zero():
    """Scripted raw material, the real scorer: B's replies are Mara's own held-out lines, A's a clerk's."""
    train, val = read_samples(MARA / "data" / "train.jsonl"), read_samples(MARA / "data" / "val.jsonl")
    scorer = StyleScorer(train)
    mara = [r["conversations"][-1]["value"] for r in val]
    clerk = ["Please sign the form in triplicate, madam." for _ in val]
    groups = list(range(len(val)))
    a = _raw(clerk, ["I am an AI language model."] * 8 + ["I am Mara."] * 8, [(40.0, 10)] * len(val))
    b = _raw(mara, ["I am Mara."] * 16, [(30.0, 10)] * len(val))
    d = differences({"A": a, "B": b}, scorer, groups, val)
    assert set(d) == {key for key, _ in FIGURES}
    assert d["fidelity"]["verdict"] == "B" and d["fidelity"]["B_minus_A"] > 0
    assert d["perplexity"]["verdict"] == "B" and d["perplexity"]["B_minus_A"] < 0
    assert d["ai_admission"]["verdict"] == "B" and d["ai_admission"]["B_minus_A"] == -0.5
    same = differences({"A": b, "B": b}, scorer, groups, val)
    assert all(x["verdict"] == "no clear difference" for x in same.values())


@pytest.mark.slow
def test_compare_runs_both_adapters_on_the_same_held_out_data(tmp_path, model_cache):
    """The shipped pack against a copy of itself: the same adapter, prompts and seeds give the same
    figures, so every verdict is "no clear difference"; --json carries both sides and the rule."""
    twin = copy_pack(tmp_path, "twin")
    proc = run_cli("eval", "--compare", str(MARA), str(twin), "--samples", "3", "--max-tokens", "8", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["A"]["pack"] == "mara-of-the-lantern" and report["B"]["pack"] == "twin"
    assert report["A"]["perplexity"] == report["B"]["perplexity"] and report["generated"] == 3
    assert report["style"]["trustworthy"] and "excludes 0" in report["rule"]
    assert all(d["verdict"] == "no clear difference" for d in report["differences"].values())
    assert 0 <= report["A"]["ai_admission"] <= 1 and report["A"]["ai_admission_ci95"] is not None
