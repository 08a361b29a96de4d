"""`persona eval` on a pack trained for a few steps on the real default model."""

from __future__ import annotations

import json
import shutil

import pytest

from persona.evaluate import distinct, evaluate, format_table, speaker_lines
from persona.train import TrainConfig, train
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

MARA = ["Aye, the tide turns at dawn.", "Rum for the lad, water for the fool.", "The Gull never lost a race.",
        "Mind your step on my dock.", "Black sails mean trouble, friend.", "I lost two fingers to a rope.",
        "The navy chased us for ten years.", "Sit, drink, and keep your voice down."]
OTHERS = ["SAILOR: Is the harbour open tonight?", "CLERK: The ledger does not balance, madam.",
          "SAILOR: We sighted a ship at dawn.", "CLERK: The tax is due on Friday.",
          "SAILOR: My boots are full of water.", "CLERK: Please sign the form in triplicate.",
          "SAILOR: Where is the captain?", "CLERK: I need a receipt for the rum."]


def make_pack(root):
    data = root / "data"
    data.mkdir(parents=True)
    rows = [{"system": "You are Mara.", "conversations": [{"from": "human", "value": o}, {"from": "gpt", "value": m}],
             "scene": str(i)} for i, (o, m) in enumerate(zip(OTHERS, MARA))]
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:6]))
    (data / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[6:]))
    train(data, root, TrainConfig(max_steps=2, eval_every=2, rank=4, alpha=8, batch_tokens=512), progress=False)
    (root / "persona.toml").write_text('spec = "persona-pack"\nspec_version = "1"\nname = "Mara"\n'
                                       '[model]\nbase = "smollm2-135m"\nadapter = "adapter"\n')
    return root


def test_eval_reports_perplexity_fidelity_and_diversity(tmp_path, model_cache):
    import os

    os.environ["PERSONA_CACHE_DIR"] = str(model_cache)
    pack = make_pack(tmp_path / "mara")
    report = evaluate(pack, samples=2, max_new_tokens=12)
    for side in ("base", "adapter"):
        assert report[side]["perplexity"] > 1 and 0 <= report[side]["fidelity"] <= 1
        assert set(report[side]) >= {"distinct_1", "distinct_2", "mean_chars"}
    assert report["real"]["fidelity"] is not None
    assert "perplexity" in format_table(report).splitlines()[0]
    proc = run_cli("eval", str(pack), "--samples", "1", "--min-fidelity", "1.01")
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


def test_speaker_lines_and_distinct():
    mine, others = speaker_lines([{"conversations": [{"from": "human", "value": "A: hi\nB：你好"},
                                                     {"from": "gpt", "value": "yo"}]}])
    assert mine == ["yo"] and others == ["hi", "你好"]
    assert distinct(["a b a b"], 1) == 0.5 and distinct(["你好你好"], 2) == round(2 / 3, 4)


def test_shipped_trained_pack_beats_the_base_on_held_out_scenes(model_cache):
    """The committed pack, re-measured now: its adapter lowers the perplexity of
    Mara's real held-out lines compared with the base model."""
    import os
    from pathlib import Path

    from persona.packs import get_pack

    os.environ["PERSONA_CACHE_DIR"] = str(model_cache)
    pack = get_pack("mara-of-the-lantern")
    assert pack.adapter is not None
    size = sum(f.stat().st_size for f in Path(pack.adapter).iterdir())
    assert size < 10 * 2**20
    report = evaluate(pack.path, samples=0)
    assert report["adapter"]["perplexity"] < report["base"]["perplexity"]
    committed = json.loads((pack.path / "eval.json").read_text())
    assert committed["adapter"]["perplexity"] < committed["base"]["perplexity"]
