"""Peft LoRA adapters → llama.cpp's GGUF LoRA files, converted once per (adapter, base) and cached.

llama.cpp loads a LoRA as a GGUF of its own (``general.type = adapter``) whose
tensors are named after the base's: ``blk.3.attn_q.weight.lora_a`` (numpy shape
(r, in)) and ``.lora_b`` ((out, r)), the same orientation as peft's lora_A/lora_B.
Each peft module is mapped onto a base tensor with gguf's own name map and its
shape checked against the base. For the "llama" architecture the HF→GGUF
converter permuted the rows of q and k for llama.cpp's rope layout, so lora_B
of q and k gets the same row permutation. llama.cpp scales by alpha / rank;
peft's rslora and per-module rank/alpha patterns are folded into lora_b so the
delta is peft's exactly. The adapter is untrusted input: safetensors only,
never a pickle. The file is written beside its final path and renamed into
place, so a killed conversion never leaves a file that looks finished.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from persona.errors import ModelError
from persona.models import cache

FORMAT_VERSION = 1  # bump when the written file changes, so old cache entries are not reused
ARCHES = {"llama": "LLAMA", "gemma3": "GEMMA3"}  # general.architecture → gguf.MODEL_ARCH member
MAX_TENSORS = 10_000
TARGETS_HINT = "retrain with target_modules among q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
PLAIN_HINT = "llama.cpp loads plain LoRA only: retrain with use_dora=False, bias='none' and no modules_to_save"
_TENSOR = re.compile(r"base_model\.model\.(?P<module>.+)\.lora_(?P<ab>[AB])\.weight")
_FLOATS = {"F64", "F32", "F16", "BF16"}
# Config keys that, when set, make the adapter compute something a plain LoRA file cannot carry.
_REFUSED = ("use_dora", "modules_to_save", "lora_bias", "use_qalora", "alora_invocation_tokens",
            "trainable_token_indices", "layer_replication", "target_parameters")


def convert_adapter(adapter_dir: Path, base_gguf: Path, progress: Callable[[str], None] | None = None) -> Path:
    """The cached GGUF LoRA for this peft adapter on this base, converting once."""
    adapter_dir, base_gguf = Path(adapter_dir), Path(base_gguf)
    files = [adapter_dir / "adapter_config.json", adapter_dir / "adapter_model.safetensors"]
    for f in files:
        if not f.is_file():
            raise ModelError(f"adapter {adapter_dir} has no {f.name}",
                             "a peft adapter folder holds adapter_config.json and adapter_model.safetensors")
    adapter_sha = cache.file_sha256(files, progress)
    base_sha = cache.file_sha256([base_gguf], progress)
    key = hashlib.sha256(f"gguf-lora-v{FORMAT_VERSION}:{adapter_sha}:{base_sha}".encode()).hexdigest()
    folder = cache.models_dir() / "lora"
    final = folder / f"{key}.gguf"
    if final.is_file():
        return final
    if progress:
        progress(f"converting the adapter of {_label(adapter_dir)} for llama.cpp …")
    return cache.write_file_atomically(final, lambda tmp: write_gguf_lora(adapter_dir, base_gguf, tmp))


def write_gguf_lora(adapter_dir: Path, base_gguf: Path, out: Path) -> dict:
    """Convert the adapter for this base into ``out``; returns arch, tensors, alpha and r."""
    import gguf

    adapter_dir = Path(adapter_dir)
    config = _read_config(adapter_dir)
    arch, n_blocks, n_head, n_head_kv, shapes = _base_info(Path(base_gguf))
    pairs = _read_pairs(adapter_dir / "adapter_model.safetensors")
    names = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, ARCHES[arch]), n_blocks)
    alpha = float(config.get("lora_alpha", 8))
    tensors, done = [], set()
    for module, (a, b) in sorted(pairs.items()):
        target = names.get_name(f"{module}.weight", try_suffixes=(".weight",))
        if target in done:
            raise ModelError(f"two adapter modules map onto the base's {target}, one being {module}", TARGETS_HINT)
        if target is None or target not in shapes:
            raise ModelError(f"adapter module {module} has no counterpart in the base GGUF", TARGETS_HINT)
        if not target.startswith("blk.") or len(shapes[target]) != 2:
            raise ModelError(f"adapter module {module} ({target}) is not a linear layer of a transformer block; "
                             "embeddings and the output head are not supported", TARGETS_HINT)
        n_in, n_out = shapes[target]  # ggml ne order: numpy shape (out, in)
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != n_in or b.shape[0] != n_out or a.shape[0] != b.shape[1]:
            raise ModelError(f"adapter module {module} (lora_A {a.shape}, lora_B {b.shape}) does not fit "
                             f"the base's {target} ({n_out}x{n_in})", "the adapter was trained on another base model")
        rank = a.shape[0]
        if arch == "llama" and target.endswith((".attn_q.weight", ".attn_k.weight")):
            b = _permute_rows(b, n_head if ".attn_q." in target else n_head_kv, module)
        llama_scale = alpha / rank if alpha else 1.0  # what llama.cpp applies (alpha 0 means 1)
        factor = _peft_scale(config, module, rank) / llama_scale
        if factor != 1.0:
            b = (b * factor).astype(np.float32)
        tensors += [(f"{target}.lora_a", a), (f"{target}.lora_b", b)]
        done.add(target)
    writer = gguf.GGUFWriter(out, arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for name, array in tensors:
        writer.add_tensor(name, np.ascontiguousarray(array, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"arch": arch, "tensors": len(tensors), "alpha": alpha, "r": config.get("r", 8)}


def _label(adapter_dir: Path) -> str:
    """A pack's adapter lives in <pack>/adapter: name the pack, not the folder."""
    return adapter_dir.parent.name if adapter_dir.name == "adapter" else adapter_dir.name


def _permute_rows(b: np.ndarray, n_head: int, module: str) -> np.ndarray:
    """Reorder output rows per head as the HF→GGUF converter did: halves [0..d/2), [d/2..d) interleaved."""
    rows = b.shape[0]
    if not n_head or rows % (2 * n_head):
        raise ModelError(f"adapter module {module} has {rows} output rows, not a multiple of 2x{n_head} heads",
                         "the adapter was trained on another base model")
    return b.reshape(n_head, 2, rows // n_head // 2, *b.shape[1:]).swapaxes(1, 2).reshape(b.shape)


def _peft_scale(config: dict, module: str, rank: int) -> float:
    """peft's scaling for one module: alpha / r (or / sqrt(r) with rslora), patterns applied."""
    r = _pattern(config.get("rank_pattern") or {}, module, config.get("r", 8))
    alpha = _pattern(config.get("alpha_pattern") or {}, module, config.get("lora_alpha", 8))
    if r != rank:
        raise ModelError(f"adapter module {module} has rank {rank} but its config says r={r}",
                         "adapter_config.json does not belong to these weights; save the adapter again")
    return alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r


def _pattern(patterns: dict, module: str, default):
    """The value of the first pattern matching the module name, as peft's get_pattern_key matches."""
    for key, value in patterns.items():
        try:
            if re.match(rf"(.*\.)?({key})$", module):
                return value
        except re.error as e:
            raise ModelError(f"adapter config pattern {key!r} is not a valid regex: {e}", PLAIN_HINT) from None
    return default


def _read_config(adapter_dir: Path) -> dict:
    path = adapter_dir / "adapter_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read {path}: {e}", "save the adapter again with peft's save_pretrained") from None
    if not isinstance(config, dict):
        raise ModelError(f"{path} is not a JSON object", "save the adapter again with peft's save_pretrained")
    label = _label(adapter_dir)
    if config.get("peft_type") != "LORA":
        raise ModelError(f"adapter {label} is peft_type {config.get('peft_type')!r}, not LORA", PLAIN_HINT)
    if config.get("bias", "none") != "none":
        raise ModelError(f"adapter {label} trains bias={config['bias']!r}", PLAIN_HINT)
    for key in _REFUSED:
        if config.get(key):
            raise ModelError(f"adapter {label} uses {key}={config[key]!r}, which a llama.cpp LoRA cannot carry",
                             PLAIN_HINT)
    return config


def _base_info(base_gguf: Path) -> tuple:
    """(arch, block count, heads, kv heads, {tensor: ne}) of a base GGUF, read once per process."""
    st = base_gguf.stat()
    return _read_base(str(base_gguf.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_base(path: str, size: int, mtime_ns: int) -> tuple:
    import gguf

    try:
        reader = gguf.GGUFReader(path)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read base model {path} as GGUF: {e}", "check the base model file") from None

    def field(key: str):
        f = reader.get_field(key)
        return f.contents() if f is not None else None

    arch = field("general.architecture")
    if arch not in ARCHES:
        raise ModelError(f"LoRA adapters for the {arch!r} architecture are not supported",
                         f"persona converts adapters for {' and '.join(ARCHES)} bases (smollm2-135m, gemma3-270m)")
    n_head = field(f"{arch}.attention.head_count")
    n_head_kv = field(f"{arch}.attention.head_count_kv") or n_head
    shapes = {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}
    return arch, int(field(f"{arch}.block_count") or 0), int(n_head or 0), int(n_head_kv or 0), shapes


def _read_pairs(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{peft module name: (lora_A, lora_B)} as float32, refusing anything but LoRA A/B float tensors."""
    from safetensors import SafetensorError, safe_open

    found: dict[str, dict[str, np.ndarray]] = {}
    bf16 = None
    try:
        with safe_open(str(path), framework="numpy") as f:
            keys = list(f.keys())
            if len(keys) > MAX_TENSORS:
                raise ModelError(f"{path} holds {len(keys)} tensors (at most {MAX_TENSORS})",
                                 "a LoRA of a small model has a few hundred tensors; is this an adapter?")
            for name in keys:
                m = _TENSOR.fullmatch(name)
                if not m:
                    raise ModelError(f"adapter tensor {name} is not a LoRA A/B weight", PLAIN_HINT)
                dtype = f.get_slice(name).get_dtype()
                if dtype not in _FLOATS:
                    raise ModelError(f"adapter tensor {name} has dtype {dtype}, not a float", PLAIN_HINT)
                if dtype == "BF16":
                    bf16 = bf16 if bf16 is not None else _read_bf16(path)
                    array = bf16[name]
                else:
                    array = f.get_tensor(name)
                array = np.ascontiguousarray(array, dtype=np.float32)
                if not np.isfinite(array).all():
                    raise ModelError(f"adapter tensor {name} holds NaN or infinite values", "the training diverged")
                found.setdefault(m["module"], {})[m["ab"]] = array
    except (OSError, SafetensorError, ValueError, KeyError) as e:
        raise ModelError(f"cannot read {path}: {e}", "save the adapter again with safe_serialization=True") from None
    if not found:
        raise ModelError(f"{path} holds no LoRA tensors", TARGETS_HINT)
    for module, ab in found.items():
        if set(ab) != {"A", "B"}:
            have, lacks = ("A", "B") if "A" in ab else ("B", "A")
            raise ModelError(f"adapter module {module} has lora_{have} but no lora_{lacks}",
                             "the adapter file is incomplete; save it again")
    return {module: (ab["A"], ab["B"]) for module, ab in found.items()}


def _read_bf16(path: Path) -> dict[str, np.ndarray]:
    """Every BF16 tensor of a (validated) safetensors file, widened to float32: numpy has no bfloat16."""
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header, data = json.loads(fh.read(n)), fh.read()
    out = {}
    for name, info in header.items():
        if name != "__metadata__" and info["dtype"] == "BF16":
            start, end = info["data_offsets"]
            bits = np.frombuffer(data[start:end], dtype="<u2").astype(np.uint32) << 16
            out[name] = bits.view(np.float32).reshape(info["shape"])
    return out
