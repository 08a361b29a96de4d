"""What a pack's LoRA adapter folder may hold, checked before peft or llama.cpp sees it.

An adapter is untrusted input. Before anything loads it:

- every file in the folder, symlinks followed, must lie inside the pack;
- ``adapter_config.json`` (bounded in size) must match a schema: peft_type
  LORA, ``r`` and ``lora_alpha`` bounded (``r`` drives how much memory peft
  allocates before it reads a weight), and module names, including
  ``target_modules``, ``rank_pattern``/``alpha_pattern`` keys and
  ``exclude_modules``, only as plain names: peft matches strings as Python
  regular expressions against every module name, so a pattern is refused;
- ``adapter_model.safetensors``'s header is read and bounded by hand (8-byte
  length, JSON of at most 1 MiB) before the safetensors library opens it:
  float dtypes only, 1-2 dimensions, offsets that tile the file exactly, peft's
  tensor names, and lora_A/lora_B shapes that agree with each other and r.

The base model's own shapes are checked when the adapter is loaded (hf: by
peft's mismatched keys; llama: by the GGUF LoRA conversion), with a clear error.
"""

from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path
from typing import Any

from persona.errors import PackError

MAX_CONFIG_BYTES = 64 * 1024
MAX_HEADER_BYTES = 1024 * 1024
MAX_TENSORS = 10_000
MAX_RANK = 256
MAX_DIM = 1 << 20
DTYPES = {"F32": 4, "F16": 2, "BF16": 2}
PLAIN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$"
_NAME = re.compile(r"base_model\.model\.([A-Za-z0-9_.]{1,200})\.lora_([AB])(?:\.[A-Za-z0-9_-]{1,64})?\.weight")
RETRAIN = "re-save the adapter with peft's save_pretrained (safetensors), target_modules as a list of names"

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["peft_type", "r", "target_modules"],
    "properties": {
        "peft_type": {"const": "LORA"},
        "r": {"type": "integer", "minimum": 1, "maximum": MAX_RANK},
        "lora_alpha": {"type": "number", "exclusiveMinimum": 0, "maximum": 4 * MAX_RANK},
        # A list of names, or peft's one keyword; any other string is a regex to peft.
        "target_modules": {"oneOf": [
            {"type": "array", "minItems": 1, "maxItems": 64, "items": {"type": "string", "pattern": PLAIN}},
            {"const": "all-linear"}]},
        "exclude_modules": {"type": ["array", "null"], "maxItems": 64, "items": {"type": "string", "pattern": PLAIN}},
        "rank_pattern": {"type": "object", "maxProperties": 256, "propertyNames": {"pattern": PLAIN},
                         "additionalProperties": {"type": "integer", "minimum": 1, "maximum": MAX_RANK}},
        "alpha_pattern": {"type": "object", "maxProperties": 256, "propertyNames": {"pattern": PLAIN},
                          "additionalProperties": {"type": "number", "exclusiveMinimum": 0, "maximum": 4 * MAX_RANK}},
        "layers_to_transform": {"type": ["array", "integer", "null"], "maxItems": 1024,
                                "items": {"type": "integer", "minimum": 0, "maximum": 1024}},
        "layers_pattern": {"type": ["string", "array", "null"], "pattern": PLAIN,
                           "items": {"type": "string", "pattern": PLAIN}},
        "modules_to_save": {"type": ["array", "null"], "maxItems": 0},
        "base_model_name_or_path": {"type": ["string", "null"], "maxLength": 1000},
        "use_dora": {"type": "boolean"},
        "use_rslora": {"type": "boolean"},
    },
}


def check_folder(path: Path, root: Path) -> dict[str, Any]:
    """Check an adapter folder inside pack ``root``; returns its config. Raises PackError."""
    for item in path.rglob("*"):
        _inside(item, root)
    config = read_config(path / "adapter_config.json", root)
    check_weights(path / "adapter_model.safetensors", root, config)
    return config


def _inside(item: Path, root: Path) -> Path:
    real = item.resolve()
    if not real.is_relative_to(root):
        raise PackError(f"adapter file {item} points outside the pack (to {real})",
                        "copy the file into the pack instead of linking to it")
    return real


def read_config(path: Path, root: Path) -> dict[str, Any]:
    import jsonschema

    real = _inside(path, root)
    if real.stat().st_size > MAX_CONFIG_BYTES:
        raise PackError(f"{path} is over {MAX_CONFIG_BYTES // 1024} KiB", RETRAIN)
    try:
        config = json.loads(real.read_bytes())
    except (ValueError, RecursionError) as exc:
        raise PackError(f"{path} is not valid JSON ({type(exc).__name__})", RETRAIN) from None
    errors = sorted(jsonschema.Draft202012Validator(CONFIG_SCHEMA).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.path) or "(top level)"
        raise PackError(f"{path}: {where}: {err.message[:200]}", RETRAIN)
    return config


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """The safetensors header (without __metadata__) and where the data starts, bounded."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise PackError(f"{path} is not a safetensors file (too short)", RETRAIN)
        (length,) = struct.unpack("<Q", raw)
        if length > MAX_HEADER_BYTES or 8 + length > size:
            raise PackError(f"{path} is not a safetensors file (header length {length})", RETRAIN)
        blob = fh.read(length)
    try:
        header = json.loads(blob)
    except (ValueError, RecursionError):
        raise PackError(f"{path} has a damaged safetensors header", RETRAIN) from None
    if not isinstance(header, dict):
        raise PackError(f"{path} has a damaged safetensors header", RETRAIN)
    header.pop("__metadata__", None)
    return header, 8 + length


def check_weights(path: Path, root: Path, config: dict[str, Any]) -> None:
    real = _inside(path, root)
    header, start = read_header(real)
    if not header or len(header) > MAX_TENSORS:
        raise PackError(f"{path} holds {len(header)} tensors", RETRAIN)
    spans, shapes = [], {}
    for name, info in header.items():
        match = _NAME.fullmatch(name)
        if not match or not isinstance(info, dict):
            raise PackError(f"{path}: {name[:100]!r} is not a peft LoRA tensor", RETRAIN)
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in DTYPES:
            raise PackError(f"{path}: {name} has dtype {str(dtype)[:20]}; only F32, F16 and BF16 are read", RETRAIN)
        if (not isinstance(shape, list) or len(shape) != 2
                or not all(isinstance(d, int) and 0 < d <= MAX_DIM for d in shape)):
            raise PackError(f"{path}: {name} has shape {str(shape)[:60]}", RETRAIN)
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(o, int) for o in offsets)
                or offsets[1] - offsets[0] != math.prod(shape) * DTYPES[dtype] or offsets[0] < 0):
            raise PackError(f"{path}: {name} has data offsets that do not match its shape", RETRAIN)
        spans.append(tuple(offsets))
        shapes[(match.group(1), match.group(2))] = shape
    spans.sort()
    expected = 0
    for begin, end in spans:  # the tensors must tile the data exactly: no overlap, no gap, no tail
        if begin != expected:
            raise PackError(f"{path}: tensor data overlaps or leaves gaps", RETRAIN)
        expected = end
    if start + expected != real.stat().st_size:
        raise PackError(f"{path}: the file size does not match its header", RETRAIN)
    _check_pairs(path, shapes, config)


def _check_pairs(path: Path, shapes: dict[tuple[str, str], list[int]], config: dict[str, Any]) -> None:
    for (module, ab), shape in shapes.items():
        other = shapes.get((module, "B" if ab == "A" else "A"))
        if other is None:
            raise PackError(f"{path}: {module} has lora_{ab} but no lora_{'B' if ab == 'A' else 'A'}", RETRAIN)
        a, b = (shape, other) if ab == "A" else (other, shape)
        rank = a[0]
        allowed = {config["r"], *config.get("rank_pattern", {}).values()}
        if b[1] != rank or rank not in allowed:
            raise PackError(f"{path}: {module} has rank {rank} (lora_A {a}, lora_B {b}); the config says r = "
                            f"{config['r']}", RETRAIN)
