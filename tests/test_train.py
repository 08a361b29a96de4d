"""LoRA training on the real default model: a few steps end to end, a loadable adapter, resume."""

from __future__ import annotations

import json
import threading

import pytest

from persona.data.records import DataError
from persona.train import IGNORE, TrainConfig, tokenize, train

pytestmark = pytest.mark.slow

LINES = [("Who goes there?", "Captain Mara, and you're standing on my dock."),
         ("Any news?", "Black sails at dawn. Nobody came ashore. I don't like it."),
         ("What do you drink?", "Rum, when the tide's with me. Water, when it isn't."),
         ("Tell me about the Gull.", "Fastest ship on the coast. The navy never caught her."),
         ("Are you afraid?", "Of the sea? Never. Of the harbour master's wife? Always.")]


def write_dataset(folder):
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"system": "You are Captain Mara.", "conversations": [{"from": "human", "value": q},
                                                                  {"from": "gpt", "value": a}]}
            for q, a in LINES]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:4] * 3))
    (folder / "val.jsonl").write_text(json.dumps(rows[4]) + "\n")
    return folder


@pytest.fixture(scope="module")
def tokenizer(model_cache):
    import os

    os.environ["PERSONA_CACHE_DIR"] = str(model_cache)
    from transformers import AutoTokenizer

    from persona.models import resolve
    from persona.models.hf import weights_folder

    return AutoTokenizer.from_pretrained(weights_folder(resolve("smollm2-135m")))


def test_loss_mask_covers_only_the_characters_tokens(tokenizer):
    msgs = [{"role": "system", "content": "You are Mara."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Ahoy."}, {"role": "user", "content": "Bye"},
            {"role": "assistant", "content": "Fair winds."}]
    ids, labels = tokenize(tokenizer, msgs, 512)
    learned = tokenizer.decode([t for t, l in zip(ids, labels) if l != IGNORE])
    assert "Ahoy." in learned and "Fair winds." in learned
    assert "Hi" not in learned and "Bye" not in learned and "You are Mara" not in learned


def test_a_few_steps_make_a_loadable_adapter_with_report_and_plot(tmp_path, model_cache):
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "pack"
    report = train(data, out, TrainConfig(max_steps=3, eval_every=2, rank=4, alpha=8, batch_tokens=512),
                   progress=False)
    assert report["steps"] == 3 and report["val_loss"] and report["best_val_loss"] is not None
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((out / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"] == "smollm2-135m"
    assert (out / "loss.png").stat().st_size > 1000
    assert json.loads((out / "training_report.json").read_text())["steps"] == 3

    from persona.models import load_backend
    from persona.models.base import GenerationParams, Stats

    backend = load_backend("smollm2-135m")
    backend.use_adapter("trained-test", str(out / "adapter"))
    stats = Stats()
    text = "".join(backend.stream([{"role": "user", "content": "Who goes there?"}],
                                  GenerationParams(max_new_tokens=5, seed=0), threading.Event(), stats))
    backend.use_adapter(None, None)
    assert stats.new_tokens > 0 and isinstance(text, str)


def test_resume_continues_from_the_checkpoint(tmp_path, model_cache):
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "pack"
    cfg = dict(eval_every=2, rank=4, alpha=8, batch_tokens=512)
    train(data, out, TrainConfig(max_steps=2, **cfg), progress=False)
    report = train(data, out, TrainConfig(max_steps=4, **cfg), resume=True, progress=False)
    assert report["resumed_from"] == 2 and report["steps"] == 4
    assert [s for s, _ in report["train_loss"]] == [1, 2, 3, 4]


def test_missing_validation_data_is_a_clear_error(tmp_path):
    data = write_dataset(tmp_path / "data")
    (data / "val.jsonl").write_text("")
    with pytest.raises(DataError, match="0 validation samples"):
        train(data, tmp_path / "out", TrainConfig(max_steps=1), progress=False)
    with pytest.raises(DataError, match="no checkpoint to resume"):
        (data / "val.jsonl").write_text((data / "train.jsonl").read_text().splitlines()[0] + "\n")
        train(data, tmp_path / "out2", TrainConfig(max_steps=1), resume=True, progress=False)


def test_train_cli_bad_input_is_one_clear_error(tmp_path):
    from tests.conftest import run_cli

    proc = run_cli("train", str(tmp_path / "missing"), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error: cannot read" in proc.stderr and "hint: build the dataset with `persona data build`" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("base", ["smollm2-135m", "gemma3-270m"])
def test_masked_loss_equals_the_models_own_loss_on_a_padded_batch(model_cache, tmp_path, base):
    """The output layer at labelled positions only computes the same loss as transformers' full one."""
    import os
    import random

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from persona.models import resolve
    from persona.models.hf import weights_folder
    from persona.train import batches, collate, masked_loss, to_messages

    os.environ["PERSONA_CACHE_DIR"] = str(model_cache)
    folder = weights_folder(resolve(base))
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                             task_type="CAUSAL_LM"))
    rows = [json.loads(line) for line in (write_dataset(tmp_path / "ds") / "train.jsonl")
            .read_text().splitlines()]
    items = [tokenize(tok, to_messages(r), 512) for r in rows[:4]]
    idx = batches(items, 10_000, random.Random(0))[0]
    assert len({len(items[i][0]) for i in idx}) > 1  # rows of different lengths: padding is exercised
    ids, mask, labels = collate(items, idx, tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
    model.eval()
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        fast = masked_loss(model, ids, mask, labels)
    assert abs(float(full) - float(fast)) < 1e-4 * max(1.0, float(full))
