"""`persona scale vllm` and the check that persona's adapters are ones vLLM loads (vllm/config/lora.py's
MaxLoRARanks, vllm/lora/peft_helper.py's refusals, the Llama/Gemma 3 LoRA targets)."""

from __future__ import annotations

import json
from dataclasses import asdict
from types import SimpleNamespace

import pytest

from persona.errors import ModelError, PackError
from persona.scale import VLLM_RANKS, plans, render, round_rank, vllm_compatible
from tests.conftest import ROOT, run_cli

MARA = ROOT / "personas" / "mara-of-the-lantern" / "adapter"


def test_the_shipped_trained_adapter_is_one_vllm_loads():
    config = json.loads((MARA / "adapter_config.json").read_text())
    assert vllm_compatible(config, [p.name for p in MARA.iterdir()]) == []


def test_train_py_default_lora_config_is_one_vllm_loads():
    peft = pytest.importorskip("peft")
    from persona.train import TrainConfig

    cfg = TrainConfig()  # built as train.py builds it, saved as peft saves it
    saved = peft.LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                            target_modules=list(cfg.target_modules), task_type="CAUSAL_LM").to_dict()
    saved["target_modules"] = sorted(saved["target_modules"])  # a set in memory, a list in the JSON file
    assert vllm_compatible(json.loads(json.dumps(saved, default=str))) == []
    assert round_rank(cfg.rank) == cfg.rank and asdict(cfg)["rank"] in VLLM_RANKS


def test_what_vllm_refuses_is_named():
    config = json.loads((MARA / "adapter_config.json").read_text())
    bad = {**config, "use_dora": True, "modules_to_save": ["lm_head"], "bias": "all", "r": 1024,
           "target_modules": ["q_proj", "embed_tokens"]}
    problems = " | ".join(vllm_compatible(bad, ["adapter_config.json", "adapter_model.bin"]))
    for words in ("DoRA", "modules_to_save", "bias", "r = 1024", "embed_tokens", "adapter_model.safetensors"):
        assert words in problems


def test_max_lora_rank_rounds_up_to_a_rank_vllm_accepts():
    assert [round_rank(r) for r in (1, 2, 8, 9, 24, 64, 300, 512)] == [1, 8, 8, 16, 32, 64, 320, 512]
    with pytest.raises(ModelError, match="above vLLM's largest"):
        round_rank(513)


def _adapter(folder, rank: int):
    folder.mkdir(parents=True)
    config = json.loads((MARA / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "r": rank}))
    (folder / "adapter_model.safetensors").write_bytes(b"")
    return folder


def test_many_packs_on_one_base_get_one_server_with_a_lora_each(tmp_path):
    packs = {
        "ann": SimpleNamespace(id="ann", base="smollm2-135m", adapter=_adapter(tmp_path / "a", 8)),
        "bob": SimpleNamespace(id="bob", base="smollm2-135m", adapter=_adapter(tmp_path / "b", 24)),
        "cid": SimpleNamespace(id="cid", base="smollm2-135m", adapter=None),
        "dee": SimpleNamespace(id="dee", base="smollm2-135m", adapter=_adapter(tmp_path / "d", 2048)),
    }
    [plan] = plans(packs, "smollm2-135m")
    args = plan.command()
    assert args[:3] == ["vllm", "serve", "HuggingFaceTB/SmolLM2-135M-Instruct"]
    lora = args.index("--lora-modules")
    assert args[lora + 1:lora + 3] == [f"ann={tmp_path / 'a'}", f"bob={tmp_path / 'b'}"]
    assert args[args.index("--max-loras") + 1] == "2" and args[args.index("--max-lora-rank") + 1] == "32"
    assert "--enable-lora" in args and args[args.index("--served-model-name") + 1] == "smollm2-135m"
    assert plan.plain == ["cid"] and "r = 2048" in plan.problems["dee"][0]
    assert "left out: dee" in render(plan)


def test_a_gguf_only_base_says_what_to_pass_instead(tmp_path):
    packs = {"gus": SimpleNamespace(id="gus", base=str(tmp_path / "model.gguf"), adapter=None)}
    [plan] = plans(packs)
    with pytest.raises(ModelError, match="GGUF file only") as err:
        plan.command()
    assert "--model" in err.value.hint
    [given] = plans(packs, model="org/original")
    assert given.command()[2] == "org/original"


def test_an_unknown_base_is_an_error_naming_the_bases_in_use():
    with pytest.raises(PackError, match="no pack uses base 'nope'") as err:
        plans({"x": SimpleNamespace(id="x", base="smollm2-135m", adapter=None)}, "nope")
    assert "smollm2-135m" in err.value.hint


def test_persona_scale_vllm_prints_the_server_line_and_persona_settings():
    proc = run_cli("scale", "vllm", "--base", "smollm2-135m")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "vllm serve HuggingFaceTB/SmolLM2-135M-Instruct" in out
    assert f"--lora-modules mara-of-the-lantern={MARA}" in out and "--max-lora-rank 8" in out
    assert "export PERSONA_BACKEND=openai PERSONA_OPENAI_BASE_URL=http://127.0.0.1:8000/v1" in out
    assert 'backend = "openai"' in out
    data = {group["base"]: group for group in json.loads(run_cli("scale", "vllm", "--json").stdout)}
    assert set(data) == {"smollm2-135m", "gemma3-270m"}  # one server a base: 甄嬛 is on the multilingual one
    smol = data["smollm2-135m"]
    assert smol["loras"] == {"mara-of-the-lantern": str(MARA)} and smol["max_lora_rank"] == 8
    assert set(smol["plain"]) == {"captain-mara", "professor-thistle"}
    assert list(data["gemma3-270m"]["loras"]) == ["zhen-huan"] and data["gemma3-270m"]["model"] == "google/gemma-3-270m"


def test_persona_scale_vllm_on_a_gguf_only_base_is_error_and_hint(persona_home, tmp_path):
    from tests.conftest import MINIMAL, write_pack

    gguf = tmp_path / "tiny.gguf"
    write_pack(persona_home / "personas" / "gus", MINIMAL + f'id = "gus"\n[model]\nbase = "{gguf}"\n')
    proc = run_cli("scale", "vllm", "--base", str(gguf))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error: base" in proc.stderr and "GGUF file only" in proc.stderr and "hint: pass --model" in proc.stderr
    everything = run_cli("scale", "vllm")  # the other bases still get their line
    assert everything.returncode == 0 and "vllm serve HuggingFaceTB/SmolLM2-135M-Instruct" in everything.stdout
    assert f"--base {gguf} --model" in everything.stdout


def test_more_packs_than_gpu_slots_wait_in_cpu_memory(tmp_path):
    from persona.scale import MAX_GPU_LORAS

    n = MAX_GPU_LORAS + 4
    packs = {f"p{i:02}": SimpleNamespace(id=f"p{i:02}", base="smollm2-135m", adapter=_adapter(tmp_path / f"a{i}", 16))
             for i in range(n)}
    args = plans(packs)[0].command()
    assert args[args.index("--max-loras") + 1] == str(MAX_GPU_LORAS)
    assert args[args.index("--max-cpu-loras") + 1] == str(n) and args.count("--lora-modules") == 1
