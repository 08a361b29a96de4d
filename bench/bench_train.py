"""Training speed: persona's trainer against the tutorial recipe, on the same data in the same run.

The tutorial recipe (the Chat-嬛嬛 / self-llm LoRA tutorials): Hugging Face ``Trainer``,
every sample padded to ``max_length`` 384, fp32, batch 8, LoRA r 8 / alpha 32 / dropout
0.1 on q, k, v, o, gate, up and down, learning rate 1e-4. persona: ``persona.train.train``
with its defaults (length-grouped batches of 2048 tokens, bf16 autocast, the output layer
only at labelled positions, LoRA r 8 / alpha 16 on q, k, v, o, learning rate 2e-4).

Data: JULIET's lines from tinyshakespeare (``persona data build --history 2``), the first
TRAIN samples to train on and VAL held out; base: the default model, smollm2-135m.
Measured: real (not padding) tokens per second of training-step time, and the training time
until the validation loss first reaches a target. One evaluator judges both (mean
cross-entropy on the held-out lines' tokens, fp32, eval mode; its time is not counted);
the target is the higher of the two runs' best validation losses, so both reach it.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCRIPT = ROOT.parent / "shared" / "data" / "scripts" / "tinyshakespeare.txt"
TRAIN, VAL = int(os.environ.get("BENCH_TRAIN_SAMPLES", 96)), int(os.environ.get("BENCH_VAL_SAMPLES", 32))
MAX_LENGTH, BATCH = 384, 8


def dataset(folder: Path) -> tuple[list[dict], list[dict]]:
    from persona.data.build import build_dataset
    from persona.data.extract import extract
    from persona.train import read_samples

    build_dataset(extract(SCRIPT).utterances, "JULIET", folder, history=2, identity=False)
    train, val = read_samples(folder / "train.jsonl")[:TRAIN], read_samples(folder / "val.jsonl")[:VAL]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    (folder / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in val))
    return train, val


class Judge:
    """The one validation loss both runs are measured by."""

    def __init__(self, tokenizer, val_rows):
        from persona.train import to_messages, tokenize

        self.items = [tokenize(tokenizer, to_messages(r), MAX_LENGTH) for r in val_rows]
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def __call__(self, model) -> float:
        import torch

        from persona.train import IGNORE, batches, collate, masked_loss

        was_training = model.training
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for idx in batches(self.items, 4096, random.Random(0)):
                ids, mask, labels = collate(self.items, idx, self.pad)
                n = int((labels[:, 1:] != IGNORE).sum())
                total += float(masked_loss(model, ids, mask, labels)) * n
                count += n
        model.train(was_training)
        return total / count


def run_persona(folder: Path, judge_for) -> dict:
    from persona.train import TrainConfig, train

    curve = []

    def on_eval(model, report):
        curve.append((report["step_seconds"], judge_for(model)))

    config = TrainConfig(epochs=1.0, eval_every=1, patience=10_000)
    report = train(folder, folder / "out", config, progress=False, on_eval=on_eval)
    return {"tokens": report["tokens"], "seconds": report["step_seconds"], "curve": curve, "steps": report["steps"]}


def run_tutorial(folder: Path, train_rows, judge_for) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments

    from persona.models import resolve
    from persona.models.hf import weights_folder
    from persona.train import IGNORE, to_messages, tokenize

    weights = weights_folder(resolve("smollm2-135m"))
    tok = AutoTokenizer.from_pretrained(weights)
    model = AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=32, lora_dropout=0.1, task_type="CAUSAL_LM",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                             "gate_proj", "up_proj", "down_proj"]))
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    samples, real = [], 0
    for row in train_rows:
        ids, labels = tokenize(tok, to_messages(row), MAX_LENGTH)
        real += len(ids)
        gap = MAX_LENGTH - len(ids)  # padding="max_length"
        samples.append({"input_ids": ids + [pad] * gap, "attention_mask": [1] * len(ids) + [0] * gap,
                        "labels": labels + [IGNORE] * gap})
    clock = {"seconds": 0.0, "start": 0.0}
    curve = []

    class Measure(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            clock["start"] = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            clock["seconds"] += time.perf_counter() - clock["start"]
            curve.append((clock["seconds"], judge_for(model)))

    args = TrainingArguments(output_dir=str(folder / "hf"), per_device_train_batch_size=BATCH, learning_rate=1e-4,
                             num_train_epochs=1, logging_steps=10_000, save_strategy="no", report_to=[],
                             use_cpu=True, disable_tqdm=True, seed=0, dataloader_num_workers=0)
    Trainer(model=model, args=args, train_dataset=samples, callbacks=[Measure()]).train()
    return {"tokens": real, "seconds": clock["seconds"], "curve": curve, "steps": len(curve)}


def time_to(curve, target) -> float | None:
    return next((s for s, v in curve if v <= target + 1e-9), None)


def main() -> None:
    import torch
    from transformers import AutoTokenizer

    from persona.models import resolve
    from persona.models.hf import weights_folder

    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ds"
        train_rows, val_rows = dataset(folder)
        judge = Judge(AutoTokenizer.from_pretrained(weights_folder(resolve("smollm2-135m"))), val_rows)
        torch.manual_seed(0)
        tutorial = run_tutorial(Path(tmp), train_rows, judge)
        ours = run_persona(folder, judge)
    target = max(min(v for _, v in r["curve"]) for r in (tutorial, ours))
    print("## Training speed: persona's trainer against the tutorial recipe\n")
    print(f"`bench/bench_train.py`. {len(train_rows)} training and {len(val_rows)} held-out samples of JULIET "
          "(tinyshakespeare, 2 lines of context), one epoch, smollm2-135m, CPU. The tutorial recipe: HF `Trainer`, "
          f"padding to {MAX_LENGTH}, fp32, batch {BATCH}, LoRA r8/a32 on all linear layers, lr 1e-4. persona: "
          "`persona.train` defaults (length-grouped 2048-token batches, bf16 autocast, output layer at "
          "labelled positions, LoRA r8/a16 on q/k/v/o, lr 2e-4). Times are training-step time only; one "
          "fp32 evaluator scores both on the held-out lines after every step.\n")
    print(f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S%z')}")
    print(f"- python {platform.python_version()}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"1-min load average at start: {load:.2f}\n")
    print(f"| setup | steps | real tokens | step time | tokens/s | best val loss | time to val loss {target:.3f} |")
    print("|---|---|---|---|---|---|---|")
    rows = {"tutorial recipe": tutorial, "persona": ours}
    for name, r in rows.items():
        reach = time_to(r["curve"], target)
        print(f"| {name} | {r['steps']} | {r['tokens']} | {r['seconds']:.1f} s | {r['tokens'] / r['seconds']:.0f} | "
              f"{min(v for _, v in r['curve']):.3f} | {reach:.1f} s |")
    speed = (ours["tokens"] / ours["seconds"]) / (tutorial["tokens"] / tutorial["seconds"])
    reach_ratio = time_to(tutorial["curve"], target) / time_to(ours["curve"], target)
    print(f"\npersona: {speed:.1f}x the tutorial recipe's tokens/s, and {reach_ratio:.1f}x as fast to validation "
          f"loss {target:.3f}.")


if __name__ == "__main__":
    main()
