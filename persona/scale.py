"""Scale-out to vLLM: the `vllm serve` line for the packs on a base, and whether an adapter will load there."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from persona.errors import ModelError, PackError
from persona.models.registry import ALIASES

# vLLM's LoRAConfig.max_lora_rank is a closed set (vllm/config/lora.py, MaxLoRARanks); 24 or 48 is refused.
VLLM_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
# The projections vLLM's Llama and Gemma 3 models take LoRA on (their packed_modules_mapping folds
# q/k/v into qkv_proj and gate/up into gate_up_proj); both persona bases are one of the two.
VLLM_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DEFAULT_PORT = 8000
MAX_MODEL_LEN = 8192  # SmolLM2's window; persona's [model] n_ctx is set to the same
# Adapters active in one batch: each slot costs GPU memory at --max-lora-rank, so more packs than
# this wait in CPU memory (--max-cpu-loras) and are swapped in per batch.
MAX_GPU_LORAS = 16


def round_rank(rank: int) -> int:
    """The smallest rank vLLM accepts as --max-lora-rank that holds ``rank``; ModelError above 512."""
    for allowed in VLLM_RANKS:
        if rank <= allowed:
            return allowed
    raise ModelError(f"LoRA rank {rank} is above vLLM's largest --max-lora-rank ({VLLM_RANKS[-1]})",
                     f"retrain with persona train --rank {VLLM_RANKS[-1]} or less")


def vllm_compatible(config: dict[str, Any], files: list[str] | None = None) -> list[str]:
    """What in a peft ``adapter_config.json`` vLLM refuses (vllm/lora/peft_helper.py); empty if none.

    Args:
        files: the adapter folder's file names, to check the weights are peft's safetensors.
    """
    problems = []
    if config.get("peft_type", "LORA") != "LORA":
        problems.append(f"peft_type is {config.get('peft_type')!r}; vLLM loads LoRA adapters only")
    rank = config.get("r")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        problems.append(f"r is {rank!r}; vLLM needs a whole-number LoRA rank")
    elif rank > VLLM_RANKS[-1]:
        problems.append(f"r = {rank} is above vLLM's largest --max-lora-rank ({VLLM_RANKS[-1]})")
    if "lora_alpha" not in config:
        problems.append("lora_alpha is missing")
    targets = config.get("target_modules")
    if isinstance(targets, list):
        unknown = sorted(set(targets) - set(VLLM_TARGETS))
        if unknown:
            problems.append(f"target_modules {unknown} are not LoRA targets vLLM supports ({', '.join(VLLM_TARGETS)})")
    elif not isinstance(targets, str):  # a string is a regex vLLM matches against its own module names
        problems.append("target_modules is missing")
    if config.get("modules_to_save"):
        problems.append(f"modules_to_save = {config['modules_to_save']}: vLLM only supports none")
    if config.get("use_dora"):
        problems.append("use_dora: vLLM does not support DoRA")
    if config.get("bias", "none") != "none":
        problems.append(f"bias = {config['bias']!r}: vLLM loads LoRA without bias only")
    for key in ("rank_pattern", "alpha_pattern"):  # per-layer ranks: vLLM reads r and lora_alpha alone
        if config.get(key):
            problems.append(f"{key} is set; vLLM applies r and lora_alpha to every layer")
    if files is not None and "adapter_model.safetensors" not in files:
        problems.append("no adapter_model.safetensors (save the adapter with peft's save_pretrained)")
    return problems


@dataclass
class Plan:
    """One vLLM server for the packs on one base."""

    base: str
    model: str | None                                       # what vllm serve loads; None: a GGUF only
    port: int
    loras: dict[str, str] = field(default_factory=dict)     # pack id → adapter folder
    plain: list[str] = field(default_factory=list)          # packs on the bare base
    rank: int = 0
    problems: dict[str, list[str]] = field(default_factory=dict)  # pack id → why its adapter is left out
    notes: list[str] = field(default_factory=list)

    def command(self) -> list[str]:
        if self.model is None:
            raise ModelError(f"base {self.base!r} is a GGUF file only; vLLM serves LoRA adapters on "
                             "Hugging Face weights", "pass --model with the Hugging Face id or folder "
                             "the GGUF was made from")
        args = ["vllm", "serve", self.model, "--served-model-name", self.base, "--port", str(self.port),
                "--max-model-len", str(MAX_MODEL_LEN)]
        if self.loras:
            args += ["--enable-lora", "--lora-modules",
                     *(f"{name}={path}" for name, path in self.loras.items()),
                     "--max-loras", str(min(len(self.loras), MAX_GPU_LORAS)),
                     "--max-lora-rank", str(round_rank(self.rank))]
            if len(self.loras) > MAX_GPU_LORAS:
                args += ["--max-cpu-loras", str(len(self.loras))]
        return args

    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"base": self.base, "model": self.model, "loras": self.loras, "plain": self.plain,
                               "problems": self.problems, "notes": self.notes, "base_url": self.base_url()}
        out["command"] = self.command() if self.model else None
        out["max_lora_rank"] = round_rank(self.rank) if self.loras else None
        out["model_block"] = {"backend": "openai", "base_url": self.base_url(), "n_ctx": MAX_MODEL_LEN}
        out["env"] = {"PERSONA_BACKEND": "openai", "PERSONA_OPENAI_BASE_URL": self.base_url()}
        return out


def serve_source(base: str) -> tuple[str | None, list[str]]:
    """What vllm serve loads for a pack's base (hub id or folder; None for a bare GGUF), and notes."""
    if base in ALIASES:
        alias = ALIASES[base]
        if not alias.hub_ids:
            return None, []
        notes = [f"{base}'s shipped weights are a 4-bit GGUF; vLLM loads {alias.hub_ids[0]} in bf16 "
                 "(persona trains on the GGUF's bf16 de-quantization, so replies differ a little)"]
        if alias.chat_template:
            notes.append(f"{alias.hub_ids[0]} has no chat template of its own: save persona's "
                         f"(persona.models.registry, {base}) to a file and add --chat-template FILE")
        return alias.hub_ids[0], notes
    if base.endswith(".gguf"):
        return None, []
    path = Path(base).expanduser()
    return (str(path.resolve()) if path.is_dir() else base), []


def plans(packs: dict[str, Any], base: str | None = None, model: str | None = None) -> list[Plan]:
    """One Plan per base in use (only ``base`` if given); ``model`` replaces what vLLM loads."""
    bases = sorted({p.base for p in packs.values()})
    if base is not None:
        if base not in bases:
            raise PackError(f"no pack uses base {base!r}",
                            f"bases in use: {', '.join(bases) or 'none'}; `persona list` shows each pack's")
        bases = [base]
    out = []
    for i, name in enumerate(bases):
        source, notes = serve_source(name)
        plan = Plan(name, model or source, DEFAULT_PORT + i, notes=[] if model else notes)
        for pack in sorted((p for p in packs.values() if p.base == name), key=lambda p: p.id):
            if pack.adapter is None:
                plan.plain.append(pack.id)
                continue
            try:
                config = json.loads((Path(pack.adapter) / "adapter_config.json").read_text())
                files = [f.name for f in Path(pack.adapter).iterdir()]
            except (OSError, ValueError) as exc:
                plan.problems[pack.id] = [f"unreadable adapter_config.json ({exc})"]
                continue
            problems = vllm_compatible(config, files)
            if problems:
                plan.problems[pack.id] = problems
                continue
            plan.loras[pack.id] = str(Path(pack.adapter).resolve())
            plan.rank = max(plan.rank, config["r"])
        out.append(plan)
    return out


def render(plan: Plan) -> str:
    """The plan as a person reads it: the command, then how to point persona at it."""
    lines = [f"# base {plan.base}: packs {', '.join([*plan.loras, *plan.plain]) or 'none'}"]
    lines += [f"# note: {n}" for n in plan.notes]
    for pack, problems in plan.problems.items():
        lines += [f"# left out: {pack}: {p}" for p in problems]
    rows: list[list[str]] = []
    for arg in plan.command():  # one option and its values a line
        if arg.startswith("--") or not rows:
            rows.append([])
        rows[-1].append(shlex.quote(arg))
    lines.append(" \\\n    ".join(" ".join(row) for row in rows))
    lines += ["", "# point persona at it: every pack at once",
              f"export PERSONA_BACKEND=openai PERSONA_OPENAI_BASE_URL={plan.base_url()}",
              "# or one pack, in its persona.toml",
              "[model]", 'backend = "openai"', f'base_url = "{plan.base_url()}"', f"n_ctx = {MAX_MODEL_LEN}",
              f"# the model each pack asks for: its id if it has an adapter, else {plan.base!r}"]
    return "\n".join(lines)
