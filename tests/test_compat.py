"""The library pairs persona relies on still work together (fast, so `make lock` catches a broken pair).

transformers 5.24 refused every peft release there was ("The version of PEFT you
are using is not compatible"), and every adapter path broke. These tests take
the same calls the engine and the trainer make, on a tiny randomly initialised
Llama, so they run in seconds without the real model (test_adapters.py and
test_train.py cover the real one).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32)
    return LlamaForCausalLM(config).eval()


def test_peft_trains_and_saves_a_lora_that_transformers_loads_and_switches(tiny_model, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    peft_model = get_peft_model(tiny_model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                      init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter", safe_serialization=True)
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()

    base = LlamaForCausalLM(tiny_model.config).eval()
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        plain = base(ids).logits
        base.load_adapter(str(tmp_path / "adapter"), adapter_name="pack")  # the engine's call
        base.set_adapter("pack")
        adapted = base(ids).logits
        base.disable_adapters()
        off = base(ids).logits
    assert not torch.allclose(plain, adapted)  # non-zero LoRA weights change the output
    assert torch.allclose(plain, off)          # and switching them off restores the base



def test_repetition_penalty_looks_at_a_window_of_the_last_tokens_only():
    from persona.models.base import GenerationParams
    from persona.models.hf import penalty_processors

    ids = torch.tensor([[5, 6, 7, 8]])
    scores = torch.ones(1, 10)
    (windowed,) = penalty_processors(GenerationParams(repetition_penalty=2.0, repetition_penalty_range=2))
    out = windowed(ids, scores.clone())
    assert out[0, 7] == out[0, 8] == 0.5        # inside the window: penalised
    assert out[0, 5] == out[0, 6] == 1.0        # the character sheet further back: untouched
    (whole,) = penalty_processors(GenerationParams(repetition_penalty=2.0, repetition_penalty_range=0))
    assert (whole(ids, scores.clone())[0, 5:9] == 0.5).all()
    assert penalty_processors(GenerationParams(repetition_penalty=1.0)) == []


def test_a_broken_transformers_peft_pair_is_named_not_blamed_on_the_adapter(tmp_path):
    """transformers 5.24 refused peft 0.21 inside load_adapter; that is the install's fault."""
    from persona.errors import ModelError
    from persona.models import resolve
    from persona.models.hf import HFBackend

    class RefusingModel:
        def load_adapter(self, *args, **kwargs):
            raise ValueError("The version of PEFT you are using is not compatible, please use a version >= 0.22.0")

        def delete_adapter(self, name):
            raise ValueError(name)  # nothing was injected

    (tmp_path / "adapter_config.json").write_text('{"base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct"}')
    backend = HFBackend(resolve("smollm2-135m"))
    backend.model = RefusingModel()
    with pytest.raises(ModelError) as err:
        backend.use_adapter("pack", tmp_path)
    assert "transformers and peft do not work together" in err.value.message
    assert "make setup" in err.value.hint and "does not fit" not in err.value.message
    assert backend.adapters == {}
