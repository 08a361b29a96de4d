"""Pack adapters on the shared real base: load once, switch, never reload the base."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from persona.engine import Engine
from persona.errors import ModelError
from persona.models import load_backend, resolve
from persona.models.base import GenerationParams, Stats
from persona.packs import get_pack, load_pack
from tests.conftest import MINIMAL, run_cli, write_pack

pytestmark = pytest.mark.slow


def make_adapter(out: Path, seed: int, base_name: str = "HuggingFaceTB/SmolLM2-135M-Instruct",
                 rank: int = 4) -> Path:
    """A real peft LoRA adapter with random (non-zero) weights, saved as safetensors."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from persona.models.hf import weights_folder

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(weights_folder(resolve("smollm2-135m")), dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(model, config)
    peft_model.save_pretrained(out, safe_serialization=True)
    cfg_path = out / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = base_name
    cfg_path.write_text(json.dumps(cfg))
    return out


def adapter_pack(folder: Path, name: str, seed: int, **kw) -> Path:
    write_pack(folder, MINIMAL.replace("Test Char", name) + '[model]\nbase = "smollm2-135m"\nadapter = "adapter"\n')
    make_adapter(folder / "adapter", seed, **kw)
    return folder


@pytest.fixture(scope="module")
def adapter_packs(tmp_path_factory, model_cache):
    import os

    os.environ["PERSONA_CACHE_DIR"] = str(model_cache)
    root = tmp_path_factory.mktemp("adapter-packs")
    return adapter_pack(root / "pack-a", "Alpha", 1), adapter_pack(root / "pack-b", "Beta", 2)


@pytest.mark.parametrize("kind", ["llama", "hf"])
def test_switching_packs_swaps_adapters_on_one_base(adapter_packs, pm, kind):
    """The same base object throughout: an adapter switch never reloads the model."""
    a, b = (load_pack(p) for p in adapter_packs)
    plain = get_pack("captain-mara")
    engine = Engine(pm=pm, backend=kind)
    backend = load_backend("smollm2-135m", backend=kind)
    base_model = backend.model
    seen = []
    for pack in (a, b, plain, a):
        chat = engine.new_chat(pack)
        result = engine.turn(chat, "Hello!", max_new_tokens=4, seed=0)
        assert result.messages[-1].metadata["model"]["adapter"] == (pack.id if pack.adapter else None)
        seen.append(backend.active_adapter)
        assert load_backend(pack.base, backend=kind) is backend and backend.model is base_model
    assert seen == ["pack-a", "pack-b", None, "pack-a"]
    assert set(backend.adapters) == {"pack-a", "pack-b"}


def test_adapter_changes_what_the_model_says(adapter_packs):
    import torch

    backend = load_backend("smollm2-135m", backend="hf")
    a = load_pack(adapter_packs[0])
    ids = backend.tokenizer("The sea is", return_tensors="pt")

    def logits(adapter):
        backend.use_adapter(adapter and a.id, adapter and str(a.adapter))
        with torch.inference_mode():
            return backend.model(**ids).logits[0, -1].float()

    with_adapter, without = logits(True), logits(None)
    assert not torch.allclose(with_adapter, without, atol=1e-3)
    assert torch.allclose(logits(None), without)


@pytest.mark.parametrize("kind", ["llama", "hf"])
def test_adapter_trained_on_another_known_base_is_refused(tmp_path, pm, kind):
    folder = adapter_pack(tmp_path / "wrong-base", "Wrong", 3, base_name="google/gemma-3-270m")
    engine = Engine(pm=pm, backend=kind)
    with pytest.raises(ModelError, match="was trained on 'google/gemma-3-270m'"):
        engine.turn(engine.new_chat(load_pack(folder)), "hi", max_new_tokens=2)
    proc = run_cli("ask", str(folder), "hi")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error: adapter" in proc.stderr and "hint: set [model] base" in proc.stderr


@pytest.mark.parametrize("kind", ["llama", "hf"])
def test_adapter_with_shapes_of_another_model_is_refused(tmp_path, kind):
    """An adapter whose recorded base is unknown is checked by tensor shapes."""
    from safetensors.torch import load_file, save_file

    folder = adapter_pack(tmp_path / "bad-shapes", "Shapes", 4, base_name="/home/someone/models/other")
    weights = folder / "adapter" / "adapter_model.safetensors"
    tensors = {k: v[:, :-8].contiguous() if "lora_A" in k else v for k, v in load_file(weights).items()}
    save_file(tensors, weights)
    backend = load_backend("smollm2-135m", backend=kind)
    with pytest.raises(ModelError, match="does not fit"):
        backend.use_adapter("bad-shapes", str(folder / "adapter"))
    assert "bad-shapes" not in backend.adapters
    stats = Stats()  # the base still works after the refusal
    backend.use_adapter(None, None)
    out = "".join(backend.stream([{"role": "user", "content": "hi"}], GenerationParams(max_new_tokens=3, seed=0),
                                 threading.Event(), stats))
    assert stats.new_tokens > 0 and isinstance(out, str)
