"""The GGUF file the llama backend runs: the model's own, or a re-encoding cached once.

The shipped bases are 4-bit GGUFs (SmolLM2 Q4_1, Gemma 3 Q4_K_M). llama.cpp
quantizes activations to 8 bits for 4- and 8-bit weights, and that noise
swamps a LoRA's effect: measured on the mara adapter, the effect on the
logits is 35-38% off transformers+peft's on Q4_1 or Q8_0, and 9% off on bf16.
A pack's adapter is its character, so the default re-encodes the model once
as bf16 (the same weights the hf backend's cache holds). The price, measured
on 2 cores: prompts read at ~380 tokens/s (Q4_1: ~190; Q8_0: ~360) and
decoding at ~50 tokens/s (Q4_1, Q8_0: ~65-75); bench/RESULTS.md has the
table. PERSONA_LLAMA_ENCODING picks another: ``source`` runs the file as
shipped; ``bf16``, ``q8_0`` or ``f16`` are re-encoded with the gguf package
(de-quantize, re-quantize; metadata and tensor layout untouched) into the
model cache, keyed by the source's sha256 and written atomically.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from persona.errors import ModelError
from persona.models import cache
from persona.models.registry import ModelSpec

ENCODING = "bf16"
ENCODINGS = ("source", "bf16", "q8_0", "f16")
FORMAT = 1  # bump when the re-encoding changes


def encoding() -> str:
    name = os.environ.get("PERSONA_LLAMA_ENCODING", ENCODING).lower()
    if name not in ENCODINGS:
        raise ModelError(f"PERSONA_LLAMA_ENCODING={name!r} is not known", f"use one of {', '.join(ENCODINGS)}")
    return name


def source_gguf(spec: ModelSpec) -> Path:
    files = [Path(p) for p in spec.parts] or [Path(spec.source)]
    return cache.assemble_parts(files, f"{spec.alias}.gguf") if spec.parts else files[0]


def runtime_gguf(spec: ModelSpec, progress: Callable[[str], None] | None = None, enc: str | None = None) -> Path:
    """The GGUF llama.cpp loads for this model, re-encoding it the first time."""
    if spec.kind != "gguf":
        raise ModelError(f"the llama backend runs GGUF models; {spec.ref} is a {spec.kind} model",
                         "set [model] backend = \"hf\" for Hugging Face folders and hub ids")
    source = source_gguf(spec)
    enc = enc or encoding()
    if enc == "source":
        return source
    files = [Path(p) for p in spec.parts] or [Path(spec.source)]
    key = f"{cache.file_sha256(files)}-{enc}-v{FORMAT}"
    target = cache.models_dir() / "gguf" / f"{key}.gguf"
    if target.is_file():
        return target
    title = f"re-encoding {spec.alias or source.name} for llama.cpp as {enc} (once)"
    if progress:
        progress(f"{title} …")
    t0 = time.perf_counter()
    out = cache.write_file_atomically(target, lambda tmp: reencode(source, tmp, enc))
    if progress:
        progress(f"{title}: done in {time.perf_counter() - t0:.1f} s")
    return out


def reencode(source: Path, out: Path, enc: str) -> None:
    """Write ``source`` to ``out`` with every quantized tensor stored as ``enc``."""
    import gguf
    import numpy as np

    qtype = {"bf16": gguf.GGMLQuantizationType.BF16, "f16": gguf.GGMLQuantizationType.F16,
             "q8_0": gguf.GGMLQuantizationType.Q8_0}[enc]
    keep = (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.BF16)
    reader = gguf.GGUFReader(source)
    arch = reader.get_field("general.architecture").contents()
    writer = gguf.GGUFWriter(out, arch)
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    for t in reader.tensors:
        shape = [int(x) for x in reversed(t.shape)]  # numpy order
        if t.tensor_type in keep:
            writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
            continue
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
        if qtype == gguf.GGMLQuantizationType.Q8_0 and shape[-1] % 32:
            data, dtype = values.astype(np.float16), gguf.GGMLQuantizationType.F16
        else:
            data, dtype = gguf.quants.quantize(values, qtype), qtype
        writer.add_tensor(t.name, data, raw_dtype=None if dtype == gguf.GGMLQuantizationType.F16 else dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
