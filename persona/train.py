"""LoRA training of a character adapter with peft, on CPU or GPU.

A loop a reader can hold in their head: tokenize ShareGPT samples with the base
model's chat template and a loss mask on the character's tokens only, group
samples of similar length into batches (little padding), train LoRA weights
with AdamW under bf16 autocast, evaluate on the held-out scenes, keep the best
adapter, stop early when validation stops improving. Checkpoints are
safetensors + JSON (never pickle), so ``--resume`` after a kill is safe.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from persona.data.records import DataError

IGNORE = -100  # label value the loss skips


@dataclass
class TrainConfig:
    base: str = "smollm2-135m"   # model alias or path: the adapter's base
    epochs: float = 1.0          # passes over train.jsonl (unless max_steps)
    max_steps: int | None = None  # stop after this many optimizer steps
    lr: float = 2e-4             # AdamW learning rate for the LoRA weights
    rank: int = 8                # LoRA rank r
    alpha: int = 16              # LoRA scaling numerator (scale = alpha / rank)
    dropout: float = 0.05        # LoRA dropout
    max_len: int = 512           # tokens per sample; longer ones keep their end
    batch_tokens: int = 2048     # padded tokens per step (length-grouped batches)
    eval_every: int = 25         # steps between validation passes (and checkpoints)
    patience: int = 3            # validation passes without improvement before stopping
    seed: int = 0
    bf16: bool = True            # autocast on CPU: ~2x the fp32 speed measured here
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


def read_samples(path: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}", "build the dataset with `persona data build`") from None


def to_messages(sample: dict) -> list[dict[str, str]]:
    roles = {"human": "user", "gpt": "assistant", "system": "system"}
    msgs = [{"role": "system", "content": sample["system"]}] if sample.get("system") else []
    return msgs + [{"role": roles[t["from"]], "content": t["value"]} for t in sample["conversations"]
                   if t["from"] in roles]


def tokenize(tokenizer, messages: list[dict[str, str]], max_len: int) -> tuple[list[int], list[int]]:
    """Token ids and labels; labels are IGNORE except on the assistant's tokens.

    Each assistant turn's tokens are the difference between the render that
    includes it and the render of everything before it with the generation
    prompt, which holds for prefix-stable templates (ChatML, Gemma).
    """
    def ids(msgs, gen):
        text = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    input_ids: list[int] = []
    labels: list[int] = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        prefix, full = ids(messages[:i], True), ids(messages[: i + 1], False)
        labels += [IGNORE] * (len(prefix) - len(input_ids)) + full[len(prefix):]
        input_ids = full
    labels += [IGNORE] * (len(input_ids) - len(labels))
    return input_ids[-max_len:], labels[-max_len:]


def batches(items: list[tuple[list[int], list[int]]], batch_tokens: int, rng: random.Random) -> list[list[int]]:
    """Indexes grouped by length so padding stays small; batch order shuffled."""
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]))
    out, current, longest = [], [], 0
    for i in order:
        longest_next = max(longest, len(items[i][0]))
        if current and longest_next * (len(current) + 1) > batch_tokens:
            out.append(current)
            current, longest_next = [], len(items[i][0])
        current.append(i)
        longest = longest_next
    if current:
        out.append(current)
    rng.shuffle(out)
    return out


def collate(items, idx, pad_id):
    import torch

    width = max(len(items[i][0]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    labels = torch.full((len(idx), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        seq, lab = items[i]
        ids[row, : len(seq)] = torch.tensor(seq)
        labels[row, : len(lab)] = torch.tensor(lab)
        mask[row, : len(seq)] = 1
    return ids, mask, labels


def labelled_logits(model, ids, mask, labels):
    """``(logits, targets, keep)`` at the positions whose next token is labelled.

    The vocabulary projection, the biggest matrix of a small model (Gemma 3 270M:
    640 x 262k), runs on the character's tokens only, not on every position of the
    context; ``keep`` marks those positions in ``labels[:, 1:]``.
    """
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    target = labels[:, 1:]
    keep = target != IGNORE
    logits = base.get_output_embeddings()(hidden[:, :-1][keep]).float()
    cap = getattr(base.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits, target[keep], keep


def masked_loss(model, ids, mask, labels):
    """The causal-LM loss, equal to ``model(..., labels=labels).loss`` (mean cross-entropy over the
    labelled next tokens), with the output layer applied only where a label counts."""
    import torch

    logits, target, _ = labelled_logits(model, ids, mask, labels)
    return torch.nn.functional.cross_entropy(logits, target)


def _save_checkpoint(folder: Path, model, optimizer, state: dict) -> None:
    """Adapter weights and AdamW moments as safetensors, counters as JSON; atomic."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in get_peft_model_state_dict(model).items()}, tmp / "adapter.safetensors")
    moments = {}
    for i, p in enumerate(p for g in optimizer.param_groups for p in g["params"]):
        st = optimizer.state.get(p, {})
        if "exp_avg" in st:
            moments[f"{i}.exp_avg"], moments[f"{i}.exp_avg_sq"] = st["exp_avg"], st["exp_avg_sq"]
            state.setdefault("adam_steps", {})[str(i)] = float(st["step"])
    save_file(moments or {"_": __import__("torch").zeros(1)}, tmp / "optimizer.safetensors")
    (tmp / "state.json").write_text(json.dumps(state))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def _load_checkpoint(folder: Path, model, optimizer) -> dict:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(folder / "adapter.safetensors"))
    moments = load_file(folder / "optimizer.safetensors")
    state = json.loads((folder / "state.json").read_text())
    for i, p in enumerate(p for g in optimizer.param_groups for p in g["params"]):
        if f"{i}.exp_avg" in moments:
            optimizer.state[p] = {"step": torch.tensor(state["adam_steps"][str(i)]),
                                  "exp_avg": moments[f"{i}.exp_avg"], "exp_avg_sq": moments[f"{i}.exp_avg_sq"]}
    return state


def plot_losses(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if report["train_loss"]:
        ax.plot(*zip(*report["train_loss"]), label="train", alpha=0.7)
    if report["val_loss"]:
        ax.plot(*zip(*report["val_loss"]), "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (character tokens)")
    ax.set_title(f"LoRA r={report['config']['rank']} on {report['config']['base']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(data_dir: str | Path, out_dir: str | Path, config: TrainConfig, resume: bool = False,
          progress: bool = True, on_eval=None) -> dict:
    """Train an adapter from ``train.jsonl``/``val.jsonl``; writes ``adapter/``,
    ``training_report.json`` and ``loss.png`` into ``out_dir``; returns the report.

    ``on_eval(model, report)`` runs after each validation pass (bench/bench_train.py
    measures there); ``report["step_seconds"]`` is the time in training steps alone.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from persona.models import resolve
    from persona.models.hf import weights_folder

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    from persona.data.datasets import load_training_data

    train_rows, val_rows = load_training_data(data_dir)
    if not train_rows or not val_rows:
        raise DataError(f"{data_dir} has {len(train_rows)} training and {len(val_rows)} validation samples",
                        "both are needed: rebuild with `persona data build` (adjust --val-fraction)")
    ckpt = out_dir / "checkpoint"
    if resume and not (ckpt / "state.json").is_file():
        raise DataError(f"no checkpoint to resume in {out_dir}", "run without --resume to start training")
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    spec = resolve(config.base)
    from persona.progress import milestones

    # Progress goes to stderr: stdout is data (`persona build --json`).
    folder = weights_folder(spec, milestones(lambda m: print(m, file=sys.stderr, flush=True)) if progress else None)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                                             target_modules=list(config.target_modules), task_type="CAUSAL_LM"))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    train_items = [tokenize(tokenizer, to_messages(r), config.max_len) for r in train_rows]
    val_items = [tokenize(tokenizer, to_messages(r), config.max_len) for r in val_rows]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    steps_per_epoch = len(batches(train_items, config.batch_tokens, random.Random(0)))
    total = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))
    report = {"config": asdict(config), "train_samples": len(train_items), "val_samples": len(val_items),
              "steps": 0, "tokens": 0, "train_loss": [], "val_loss": [], "best_val_loss": None,
              "best_step": None, "stopped": "", "resumed_from": None, "seconds": 0.0}
    if resume:
        state = _load_checkpoint(ckpt, model, optimizer)
        report.update(state["report"], resumed_from=state["report"]["steps"])
        report["config"] = asdict(config)  # this run's settings (a resumed run may stop sooner)
    autocast = torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=config.bf16)

    def val_loss() -> float:
        model.eval()
        total_loss, count = 0.0, 0
        with torch.no_grad(), autocast:
            for idx in batches(val_items, config.batch_tokens, random.Random(0)):
                ids, mask, labels = collate(val_items, idx, pad)
                n = int((labels[:, 1:] != IGNORE).sum())
                total_loss += float(masked_loss(model, ids, mask, labels)) * n
                count += n
        model.train()
        return total_loss / max(count, 1)

    model.train()
    bar = tqdm(total=total, initial=report["steps"], disable=not progress, unit="step", dynamic_ncols=True)
    started, tokens_at_start, bad_evals = time.perf_counter(), report["tokens"], 0
    epoch = report["steps"] // steps_per_epoch
    while report["steps"] < total and not report["stopped"]:
        # The same seed gives the same batch order per epoch, so a resumed run
        # continues exactly where the killed one was.
        plan = batches(train_items, config.batch_tokens, random.Random(config.seed * 1000 + epoch))
        for idx in plan[report["steps"] - epoch * steps_per_epoch:]:
            step_start = time.perf_counter()
            ids, mask, labels = collate(train_items, idx, pad)
            with autocast:
                loss = masked_loss(model, ids, mask, labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            report["step_seconds"] = report.get("step_seconds", 0.0) + time.perf_counter() - step_start
            report["steps"] += 1
            report["tokens"] += int(mask.sum())
            report["train_loss"].append((report["steps"], round(loss.item(), 4)))
            speed = (report["tokens"] - tokens_at_start) / max(time.perf_counter() - started, 1e-9)
            bar.set_postfix(loss=f"{loss.item():.3f}", tok_s=f"{speed:.0f}")
            bar.update(1)
            if report["steps"] % config.eval_every == 0 or report["steps"] >= total:
                v = val_loss()
                report["val_loss"].append((report["steps"], round(v, 4)))
                if on_eval is not None:
                    on_eval(model, report)
                if report["best_val_loss"] is None or v < report["best_val_loss"]:
                    report["best_val_loss"], report["best_step"], bad_evals = round(v, 4), report["steps"], 0
                    model.save_pretrained(out_dir / "adapter", safe_serialization=True)
                else:
                    bad_evals += 1
                report["seconds"] = round(report.get("seconds", 0.0) + time.perf_counter() - started, 2)
                started, tokens_at_start = time.perf_counter(), report["tokens"]
                _save_checkpoint(ckpt, model, optimizer, {"report": report})
                if bad_evals >= config.patience:
                    report["stopped"] = f"early stop: no validation improvement in {config.patience} evaluations"
                    break
            if report["steps"] >= total:
                break
        epoch += 1
    bar.close()
    report["stopped"] = report["stopped"] or "done"
    report["tokens_per_s"] = round(report["tokens"] / max(report["seconds"], 1e-9), 1)
    _finish_adapter(out_dir / "adapter", spec.alias or config.base)
    (out_dir / "training_report.json").write_text(json.dumps(report, indent=1))
    plot_losses(report, out_dir / "loss.png")
    return report


def _finish_adapter(folder: Path, base: str) -> None:
    """Record the registry name as the adapter's base, so packs can check it."""
    path = folder / "adapter_config.json"
    cfg = json.loads(path.read_text())
    cfg["base_model_name_or_path"] = base
    path.write_text(json.dumps(cfg, indent=2))
