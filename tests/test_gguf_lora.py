"""peft LoRA → llama.cpp GGUF LoRA: names, orientation, q/k permutation, scaling, refusals, cache."""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import gguf
import numpy as np
import pytest
from safetensors.numpy import save_file

from persona.errors import ModelError
from persona.models import cache, gguf_lora
from persona.models.registry import resolve

ROOT = Path(__file__).resolve().parent.parent
MARA = ROOT / "personas" / "mara-of-the-lantern" / "adapter"
PREFIX = "base_model.model.model.layers"


def config(**overrides) -> dict:
    return {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "bias": "none", "use_dora": False,
            "use_rslora": False, "modules_to_save": None, "rank_pattern": {}, "alpha_pattern": {},
            "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"], **overrides}


def make_adapter(folder: Path, tensors: dict[str, np.ndarray], **overrides) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps(config(**overrides)))
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    return folder


def lora_tensors(shapes: dict[str, tuple[int, int]], layers=(0, 1), r=4, seed=0, ranks=None) -> dict:
    """peft-named lora_A (r, in) / lora_B (out, r) tensors for self_attn modules {name: (out, in)}."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in layers:
        for mod, (n_out, n_in) in shapes.items():
            rank = (ranks or {}).get(mod, r)
            out[f"{PREFIX}.{i}.self_attn.{mod}.lora_A.weight"] = rng.standard_normal((rank, n_in)).astype(np.float32)
            out[f"{PREFIX}.{i}.self_attn.{mod}.lora_B.weight"] = rng.standard_normal((n_out, rank)).astype(np.float32)
    return out


def read_lora(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    reader = gguf.GGUFReader(path)
    fields = {k: reader.get_field(k).contents() for k in ("general.architecture", "general.type",
                                                          "adapter.type", "adapter.lora.alpha")}
    return fields, {t.name: np.array(t.data) for t in reader.tensors}


def tiny_base(path: Path, arch: str, hidden=32, heads=4, kv=2, blocks=2, tag="") -> Path:
    """A small GGUF base: metadata plus float32 attention weights (numpy shape (out, in))."""
    w = gguf.GGUFWriter(path, arch)
    w.add_uint32(f"{arch}.block_count", blocks)
    w.add_uint32(f"{arch}.attention.head_count", heads)
    w.add_uint32(f"{arch}.attention.head_count_kv", kv)
    if tag:
        w.add_string("general.name", tag)
    d = hidden // heads
    for i in range(blocks):
        for name, n_out in (("attn_q", heads * d), ("attn_k", kv * d), ("attn_v", kv * d), ("attn_output", hidden)):
            w.add_tensor(f"blk.{i}.{name}.weight", np.zeros((n_out, hidden), np.float32))
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(hidden, np.float32))
    w.add_tensor("token_embd.weight", np.zeros((50, hidden), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


TINY = {"q_proj": (32, 32), "k_proj": (16, 32), "v_proj": (16, 32), "o_proj": (32, 32)}
SMOL = {"q_proj": (576, 576), "k_proj": (192, 576), "v_proj": (192, 576), "o_proj": (576, 576)}


@pytest.fixture(scope="module")
def smollm2() -> Path:
    return Path(resolve("smollm2-135m").source)


@pytest.fixture(scope="module")
def smollm2_meta(smollm2) -> dict:
    reader = gguf.GGUFReader(smollm2)
    return {"blocks": int(reader.get_field("llama.block_count").contents()),
            "heads": int(reader.get_field("llama.attention.head_count").contents()),
            "kv": int(reader.get_field("llama.attention.head_count_kv").contents()),
            "shapes": {t.name: tuple(int(n) for n in t.shape) for t in reader.tensors}}


# --- the real adapter ---------------------------------------------------------------------------

def test_the_shipped_adapter_converts_for_its_base(smollm2, smollm2_meta):
    path = gguf_lora.convert_adapter(MARA, smollm2)
    fields, tensors = read_lora(path)
    assert fields == {"general.architecture": "llama", "general.type": "adapter",
                      "adapter.type": "lora", "adapter.lora.alpha": 16.0}
    n = smollm2_meta["blocks"]
    assert n == 30
    assert len(tensors) == 4 * n * 2
    for i in range(n):
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            base_in, base_out = smollm2_meta["shapes"][f"blk.{i}.{name}.weight"]  # ggml ne order
            assert tensors[f"blk.{i}.{name}.weight.lora_a"].shape == (8, base_in)
            assert tensors[f"blk.{i}.{name}.weight.lora_b"].shape == (base_out, 8)
            assert tensors[f"blk.{i}.{name}.weight.lora_a"].dtype == np.float32


def test_write_returns_its_metadata(tmp_path, smollm2):
    ad = make_adapter(tmp_path / "ad", lora_tensors(SMOL, layers=(0,)))
    meta = gguf_lora.write_gguf_lora(ad, smollm2, tmp_path / "out.gguf")
    assert meta == {"arch": "llama", "tensors": 8, "alpha": 8.0, "r": 4}


def test_llama_cpp_accepts_the_converted_adapter(smollm2):
    llama_cpp = pytest.importorskip("llama_cpp")
    path = gguf_lora.convert_adapter(MARA, smollm2)
    # Loading only: llama.cpp checks names, shapes, orientation and general/adapter types here.
    llm = llama_cpp.Llama(str(smollm2), n_ctx=64, lora_path=str(path), verbose=False)
    assert llm._lora_adapter is not None
    llm.close()


# --- permutation -------------------------------------------------------------------------------

def rope_rows(n_out: int, n_head: int) -> np.ndarray:
    """idx[k] = the GGUF row of HF row k: within each head, the first half goes to the even rows
    and the second half to the odd rows (HF's rotate-half pairs (i, i+d/2) become neighbours)."""
    d = n_out // n_head
    per_head = [*range(0, d, 2), *range(1, d, 2)]
    return np.array([h * d + j for h in range(n_head) for j in per_head])


def permuted(b: np.ndarray, n_head: int) -> np.ndarray:
    out = np.empty_like(b)
    out[rope_rows(b.shape[0], n_head)] = b
    return out


def test_the_explicit_row_order_is_the_converters_formula_and_transformers_undoes_it():
    b = np.arange(24 * 3, dtype=np.float32).reshape(24, 3)  # 3 heads of 8 rows
    formula = b.reshape(3, 2, 24 // 3 // 2, 3).swapaxes(1, 2).reshape(b.shape)
    assert np.array_equal(permuted(b, 3), formula)
    assert list(permuted(b, 3)[:8, 0] // 3) == [0, 4, 1, 5, 2, 6, 3, 7]
    # transformers' GGUF loader reverses it with reshape(n, d/2, 2).swapaxes(1, 2)
    assert np.array_equal(formula.reshape(3, 4, 2, 3).swapaxes(1, 2).reshape(b.shape), b)


def test_llama_q_and_k_lora_b_are_permuted_per_head_the_rest_unchanged(tmp_path, smollm2, smollm2_meta):
    src = lora_tensors(SMOL, layers=(0, 7))
    ad = make_adapter(tmp_path / "ad", src)
    _, out = read_lora(gguf_lora.convert_adapter(ad, smollm2))
    heads, kv = smollm2_meta["heads"], smollm2_meta["kv"]
    assert (heads, kv) == (9, 3)
    for i in (0, 7):
        hf = lambda mod, ab: src[f"{PREFIX}.{i}.self_attn.{mod}.lora_{ab}.weight"]  # noqa: E731
        assert np.array_equal(out[f"blk.{i}.attn_q.weight.lora_b"], permuted(hf("q_proj", "B"), heads))
        assert np.array_equal(out[f"blk.{i}.attn_k.weight.lora_b"], permuted(hf("k_proj", "B"), kv))
        assert not np.array_equal(out[f"blk.{i}.attn_q.weight.lora_b"], hf("q_proj", "B"))
        assert np.array_equal(out[f"blk.{i}.attn_v.weight.lora_b"], hf("v_proj", "B"))
        assert np.array_equal(out[f"blk.{i}.attn_output.weight.lora_b"], hf("o_proj", "B"))
        for mod, name in (("q_proj", "attn_q"), ("k_proj", "attn_k"), ("v_proj", "attn_v"), ("o_proj", "attn_output")):
            assert np.array_equal(out[f"blk.{i}.{name}.weight.lora_a"], hf(mod, "A"))


# --- refusals (on the real base, while its metadata is still remembered) ----------------------

def pair(module: str, n_out: int, n_in: int, r: int = 4) -> dict:
    p = f"base_model.model.{module}"
    return {p + ".lora_A.weight": np.ones((r, n_in), np.float32), p + ".lora_B.weight": np.ones((n_out, r), np.float32)}


@pytest.mark.parametrize("tensors, match", [
    (pair("lm_head", 49152, 576), "lm_head"),
    (pair("model.embed_tokens", 49152, 576), "embed_tokens"),
    ({"base_model.model.model.embed_tokens.lora_embedding_A": np.ones((4, 49152), np.float32)}, "embed_tokens"),
    (pair("model.layers.0.self_attn.qkv_proj", 576, 576), "qkv_proj"),
    (pair("model.layers.40.self_attn.q_proj", 576, 576), r"layers\.40\.self_attn\.q_proj"),
    (pair("model.layers.0.self_attn.q_proj", 1024, 1024), "does not fit"),
    (pair("model.layers.0.self_attn.k_proj", 576, 576), "does not fit"),
    ({f"{PREFIX}.0.self_attn.q_proj.lora_A.weight": np.ones((4, 576), np.float32)}, "q_proj has lora_A but no lora_B"),
    ({f"{PREFIX}.0.self_attn.q_proj.lora_A.weight": np.ones((4, 576), np.int32),
      f"{PREFIX}.0.self_attn.q_proj.lora_B.weight": np.ones((576, 4), np.int32)}, "I32, not a float"),
    ({f"{PREFIX}.0.self_attn.q_proj.lora_A.weight": np.full((4, 576), np.nan, np.float32),
      f"{PREFIX}.0.self_attn.q_proj.lora_B.weight": np.ones((576, 4), np.float32)}, "NaN"),
    (pair("model.layers.0.self_attn.q_proj", 576, 576, r=6), "rank 6 but its config says r=4"),
    ({**pair("model.layers.0.self_attn.q_proj", 576, 576), **pair("layers.0.attention.wq", 576, 576)},
     r"two adapter modules map onto the base's blk\.0\.attn_q\.weight, one being model\.layers\.0\.self_attn\.q_proj"),
], ids=["lm_head", "embed_tokens", "embedding_lora", "unknown", "no_such_layer", "hidden_size", "k_width",
        "unpaired", "int", "nan", "rank", "twice"])
def test_adapters_llama_cpp_cannot_take_are_refused_naming_the_module(tmp_path, smollm2, tensors, match):
    ad = make_adapter(tmp_path / "ad", tensors)
    with pytest.raises(ModelError, match=match) as err:
        gguf_lora.convert_adapter(ad, smollm2)
    assert err.value.hint
    assert not list((cache.models_dir() / "lora").glob(".*"))  # no half-written file left behind


# --- permutation, or none, on small bases -------------------------------------------------------

def test_a_llama_base_uses_its_own_head_counts(tmp_path):
    base = tiny_base(tmp_path / "llama.gguf", "llama", hidden=32, heads=4, kv=2)
    src = lora_tensors(TINY)
    _, out = read_lora(gguf_lora.convert_adapter(make_adapter(tmp_path / "ad", src), base))
    for mod, name, heads in (("q_proj", "attn_q", 4), ("k_proj", "attn_k", 2)):
        b = src[f"{PREFIX}.1.self_attn.{mod}.lora_B.weight"]
        assert np.array_equal(out[f"blk.1.{name}.weight.lora_b"], permuted(b, heads))


def test_gemma3_is_not_permuted(tmp_path):
    base = tiny_base(tmp_path / "gemma.gguf", "gemma3", hidden=32, heads=4, kv=2)
    src = lora_tensors(TINY)
    fields, out = read_lora(gguf_lora.convert_adapter(make_adapter(tmp_path / "ad", src), base))
    assert fields["general.architecture"] == "gemma3"
    for i in (0, 1):
        for mod, name in (("q_proj", "attn_q"), ("k_proj", "attn_k")):
            for ab in ("A", "B"):
                assert np.array_equal(out[f"blk.{i}.{name}.weight.lora_{ab.lower()}"],
                                      src[f"{PREFIX}.{i}.self_attn.{mod}.lora_{ab}.weight"])


@pytest.fixture(scope="module")
def gemma3_gguf(model_cache) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PERSONA_CACHE_DIR", str(model_cache))
        return cache.assemble_parts([Path(p) for p in resolve("gemma3-270m").parts], "gemma3-270m.gguf")


@pytest.mark.slow  # GGUFReader takes ~17 s over gemma3's 262k-token vocabulary
def test_gemma3_270m_converts_without_permutation(tmp_path, gemma3_gguf):
    src = lora_tensors({"q_proj": (1024, 640), "k_proj": (256, 640), "v_proj": (256, 640), "o_proj": (640, 1024)},
                       layers=(0, 17))
    fields, out = read_lora(gguf_lora.convert_adapter(make_adapter(tmp_path / "ad", src), gemma3_gguf))
    assert fields["general.architecture"] == "gemma3" and len(out) == 16
    assert np.array_equal(out["blk.17.attn_q.weight.lora_b"], src[f"{PREFIX}.17.self_attn.q_proj.lora_B.weight"])
    assert np.array_equal(out["blk.0.attn_k.weight.lora_b"], src[f"{PREFIX}.0.self_attn.k_proj.lora_B.weight"])


# --- scaling -----------------------------------------------------------------------------------

def effective_deltas(path: Path) -> dict[str, np.ndarray]:
    """What llama.cpp adds to each weight: alpha / rank * B @ A (rank = lora_b's second axis)."""
    fields, t = read_lora(path)
    alpha = fields["adapter.lora.alpha"]
    out = {}
    for name in t:
        if name.endswith(".lora_a"):
            stem = name[:-len(".lora_a")]
            a, b = t[name], t[stem + ".lora_b"]
            out[stem] = (alpha / b.shape[1] if alpha else 1.0) * (b.astype(np.float64) @ a)
    return out


def peft_delta(src: dict, layer: int, mod: str, scale: float) -> np.ndarray:
    p = f"{PREFIX}.{layer}.self_attn.{mod}"
    return scale * (src[p + ".lora_B.weight"].astype(np.float64) @ src[p + ".lora_A.weight"])


@pytest.mark.parametrize("arch", ["gemma3", "llama"])
def test_rslora_and_patterns_fold_into_lora_b(tmp_path, arch):
    base = tiny_base(tmp_path / "b.gguf", arch)
    unperm = (lambda m, n: m) if arch == "gemma3" else permuted
    heads = {"q_proj": 4, "k_proj": 2}
    # rslora: peft scales by alpha / sqrt(r) = 8 / 2, llama.cpp by alpha / r = 8 / 4
    src = lora_tensors(TINY, seed=1)
    deltas = effective_deltas(gguf_lora.convert_adapter(make_adapter(tmp_path / "rs", src, use_rslora=True), base))
    for mod, name in (("q_proj", "attn_q"), ("v_proj", "attn_v")):
        want = peft_delta(src, 1, mod, 8 / math.sqrt(4))
        want = unperm(want, heads[mod]) if mod in heads else want
        np.testing.assert_allclose(deltas[f"blk.1.{name}.weight"], want, rtol=1e-5, atol=1e-5)
    # rank 2 for q_proj everywhere, alpha 32 for layer 1's v_proj only, the rest r=4 alpha=8
    src = lora_tensors(TINY, seed=2, ranks={"q_proj": 2})
    ad = make_adapter(tmp_path / "pat", src, rank_pattern={"q_proj": 2},
                      alpha_pattern={"layers.1.self_attn.v_proj": 32})
    deltas = effective_deltas(gguf_lora.convert_adapter(ad, base))
    expected = {(0, "q_proj"): 8 / 2, (1, "q_proj"): 8 / 2, (0, "v_proj"): 8 / 4, (1, "v_proj"): 32 / 4,
                (0, "k_proj"): 8 / 4, (1, "o_proj"): 8 / 4}
    names = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output"}
    for (layer, mod), scale in expected.items():
        want = peft_delta(src, layer, mod, scale)
        want = unperm(want, heads[mod]) if mod in heads else want
        np.testing.assert_allclose(deltas[f"blk.{layer}.{names[mod]}.weight"], want, rtol=1e-5, atol=1e-5)
    assert read_lora(gguf_lora.convert_adapter(ad, base))[0]["adapter.lora.alpha"] == 8.0


# --- dtypes ------------------------------------------------------------------------------------

def save_bf16(tensors: dict[str, np.ndarray], path: Path) -> None:
    """A safetensors file of BF16 tensors, written by hand (numpy has no bfloat16)."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        bits = (np.ascontiguousarray(t, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [offset, offset + len(bits)]}
        blobs.append(bits)
        offset += len(bits)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def test_bf16_and_f16_adapters_convert_to_the_same_values_as_f32(tmp_path):
    base = tiny_base(tmp_path / "b.gguf", "gemma3")
    src = {k: (v.view(np.uint32) & 0xFFFF0000).view(np.float32) for k, v in lora_tensors(TINY).items()}  # exact in bf16
    f32 = read_lora(gguf_lora.convert_adapter(make_adapter(tmp_path / "f32", src), base))[1]
    bf16_dir = make_adapter(tmp_path / "bf16", src)
    save_bf16(src, bf16_dir / "adapter_model.safetensors")
    bf16 = read_lora(gguf_lora.convert_adapter(bf16_dir, base))[1]
    halves = {k: v.astype(np.float16) for k, v in src.items()}
    f16 = read_lora(gguf_lora.convert_adapter(make_adapter(tmp_path / "f16", halves), base))[1]
    assert f32.keys() == bf16.keys() == f16.keys()
    for k in f32:
        assert bf16[k].dtype == np.float32 and np.array_equal(bf16[k], f32[k])
        assert np.array_equal(f16[k], f32[k].astype(np.float16).astype(np.float32))


# --- more refusals -----------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, match", [
    ({"use_dora": True}, "use_dora"),
    ({"bias": "all"}, "bias='all'"),
    ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
    ({"peft_type": "IA3"}, "IA3"),
])
def test_configs_beyond_plain_lora_are_refused(tmp_path, overrides, match):
    base = tiny_base(tmp_path / "b.gguf", "llama")
    ad = make_adapter(tmp_path / "ad", lora_tensors(TINY), **overrides)
    with pytest.raises(ModelError, match=match):
        gguf_lora.convert_adapter(ad, base)


def test_an_unsupported_architecture_is_named(tmp_path):
    w = gguf.GGUFWriter(tmp_path / "qwen.gguf", "qwen2")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    ad = make_adapter(tmp_path / "ad", lora_tensors(TINY))
    with pytest.raises(ModelError, match="qwen2"):
        gguf_lora.convert_adapter(ad, tmp_path / "qwen.gguf")


def test_more_than_ten_thousand_tensors_is_refused_before_reading_them(tmp_path):
    base = tiny_base(tmp_path / "b.gguf", "llama")
    tensors = {f"{PREFIX}.{i}.self_attn.q_proj.lora_A.weight": np.zeros((1, 1), np.float32) for i in range(10_001)}
    with pytest.raises(ModelError, match="10001 tensors"):
        gguf_lora.convert_adapter(make_adapter(tmp_path / "ad", tensors), base)


def test_a_folder_without_the_adapter_files_is_refused(tmp_path, smollm2):
    (tmp_path / "ad").mkdir()
    (tmp_path / "ad" / "adapter_config.json").write_text(json.dumps(config()))
    (tmp_path / "ad" / "adapter_model.bin").write_bytes(b"not a pickle we would ever open")
    with pytest.raises(ModelError, match="adapter_model.safetensors"):
        gguf_lora.convert_adapter(tmp_path / "ad", smollm2)


# --- the cache ---------------------------------------------------------------------------------

def test_a_conversion_is_cached_per_adapter_and_base(tmp_path, monkeypatch):
    base_a = tiny_base(tmp_path / "a.gguf", "llama", tag="a")
    base_b = tiny_base(tmp_path / "b.gguf", "llama", tag="b")
    ad = make_adapter(tmp_path / "ad", lora_tensors(TINY))
    first = gguf_lora.convert_adapter(ad, base_a)
    assert first.parent == cache.models_dir() / "lora" and first.suffix == ".gguf"

    def refuse(*args):
        raise AssertionError("converted again")
    monkeypatch.setattr(gguf_lora, "write_gguf_lora", refuse)
    monkeypatch.setattr(gguf_lora, "_read_pairs", refuse)
    assert gguf_lora.convert_adapter(ad, base_a) == first
    monkeypatch.undo()

    other_base = gguf_lora.convert_adapter(ad, base_b)
    other_adapter = gguf_lora.convert_adapter(make_adapter(tmp_path / "ad2", lora_tensors(TINY, seed=9)), base_a)
    assert len({first, other_base, other_adapter}) == 3
    assert all(p.is_file() for p in (first, other_base, other_adapter))


def test_a_killed_conversion_leaves_nothing_and_a_leftover_is_no_hit(tmp_path, monkeypatch):
    base = tiny_base(tmp_path / "b.gguf", "llama")
    ad = make_adapter(tmp_path / "ad", lora_tensors(TINY))
    final = gguf_lora.convert_adapter(ad, base)
    leftover = final.with_name(f".{final.stem[:12]}-killed.part")
    os.replace(final, leftover)  # as a run killed before its rename would leave it

    real = gguf_lora.write_gguf_lora
    calls = []

    def interrupted(adapter_dir, base_gguf, out):
        calls.append(out)
        Path(out).write_bytes(b"GGUF half")
        raise KeyboardInterrupt
    monkeypatch.setattr(gguf_lora, "write_gguf_lora", interrupted)
    with pytest.raises(KeyboardInterrupt):
        gguf_lora.convert_adapter(ad, base)
    assert calls and calls[0] != final and calls[0].parent == final.parent
    assert not final.exists() and not calls[0].exists()

    monkeypatch.setattr(gguf_lora, "write_gguf_lora", lambda *a: (calls.append(a[2]), real(*a))[1])
    assert gguf_lora.convert_adapter(ad, base) == final
    assert len(calls) == 2 and read_lora(final)[0]["general.type"] == "adapter"


def test_progress_is_reported_only_when_converting(tmp_path):
    base = tiny_base(tmp_path / "b.gguf", "llama")
    pack = tmp_path / "lantern-pack"
    ad = make_adapter(pack / "adapter", lora_tensors(TINY, seed=42))  # content no other test converts
    said: list[str] = []
    gguf_lora.convert_adapter(ad, base, said.append)
    assert any("lantern-pack" in s for s in said)
    said.clear()
    gguf_lora.convert_adapter(ad, base, said.append)
    assert not any("converting" in s for s in said)


def test_the_module_imports_neither_torch_nor_gguf_at_import_time():
    import subprocess
    import sys

    code = ("import sys, persona.models.gguf_lora\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'gguf', 'transformers'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
