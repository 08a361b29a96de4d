"""The llama backend on the real shipped models: same tokens as hf, sampling, stops,
cancel, KV reuse across turns and chats, and adapters whose effect matches peft's."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest

from persona.models import load_backend
from persona.models.base import GenerationParams, Stats
from tests.conftest import MINIMAL, run_cli, write_pack

pytestmark = pytest.mark.slow

PROMPTS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are Captain Mara."}, {"role": "user", "content": "Who are you?"}],
    [{"role": "system", "content": "你是甄嬛。"}, {"role": "user", "content": "你好，今天天气怎么样？"}],
    [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Roll for me."},
     {"role": "assistant", "content": '<tool_call>{"name": "roll", "arguments": {"dice": "2d6"}}</tool_call>'},
     {"role": "tool", "content": "<tool_response>7</tool_response>"}],
    [{"role": "user", "content": "  spaces\tand\ttabs \n\n newlines  "}, {"role": "assistant", "content": "ok"},
     {"role": "user", "content": "émoji 🐚 and <|im_start|> typed by a user"}],
]


@pytest.fixture(scope="module")
def llama(model_cache):
    os.environ["PERSONA_CACHE_DIR"] = str(model_cache)
    return load_backend("smollm2-135m", backend="llama")


def run(backend, messages, **kw) -> tuple[str, Stats]:
    stats = Stats()
    params = GenerationParams(**{"temperature": 0, "max_new_tokens": 24, **kw})
    return "".join(backend.stream(messages, params, threading.Event(), stats)), stats


@pytest.mark.parametrize("model", ["smollm2-135m", "gemma3-270m"])
def test_both_backends_put_the_same_tokens_in_front_of_the_model(model, model_cache):
    llama = load_backend(model, backend="llama")
    hf = load_backend(model, backend="hf")
    for messages in PROMPTS:
        text = hf.render(messages)
        assert llama.render(messages) == text
        assert llama.tokenize(text) == hf.tokenizer(text, add_special_tokens=False)["input_ids"]
        assert llama.count_tokens(messages) == hf.count_tokens(messages)


def test_a_seed_makes_sampling_reproducible(llama):
    """The same seed and prompt give the same reply, from a cold cache or a warm one
    (prompt batches are never of one token, and replies are re-read: llama.py)."""
    msgs = PROMPTS[1]
    sample = dict(temperature=1.0, top_p=0.95, max_new_tokens=32)
    cold = []
    for _ in range(2):
        llama.cache.reset()
        cold.append(run(llama, msgs, seed=11, **sample)[0])
    warm = [run(llama, msgs, seed=11, **sample)[0] for _ in range(2)]  # prompt cached both times
    others = {run(llama, msgs, seed=s, **sample)[0] for s in (1, 2, 3)}
    assert cold[0] == cold[1] == warm[0] == warm[1] and cold[0].strip()
    assert others - {cold[0], warm[0]}, "three other seeds all gave the same reply"


def test_stop_strings_end_the_reply_and_are_never_shown(llama):
    """Greedy twice: the second run, with a stop string taken from the first reply,
    is the first reply cut just before it."""
    msgs = [{"role": "user", "content": "Tell me about the harbour at night."}]
    full, _ = run(llama, msgs, max_new_tokens=40)
    assert len(full) > 30, full
    stop = full[20:24]
    text, stats = run(llama, msgs, max_new_tokens=40, stop=[stop])
    assert stats.stopped == "stop" and text == full[:full.find(stop)]


def test_cancel_during_the_prompt_stops_before_any_token(llama):
    cancel = threading.Event()
    cancel.set()
    stats = Stats()
    out = list(llama.stream([{"role": "user", "content": "word " * 1500}], GenerationParams(max_new_tokens=20),
                            cancel, stats))
    assert out == [] and stats.stopped == "cancelled" and stats.new_tokens == 0
    text, stats = run(llama, PROMPTS[0])  # the backend is fine afterwards
    assert text.strip() and stats.stopped in ("eos", "length")


def test_kv_reuse_over_twenty_turns_gives_what_a_cold_cache_gives(llama, pm):
    """Greedy, one chat of 20 turns: every reply equals the reply from an empty cache,
    and from turn 2 on most of the prompt is read from the cache."""
    from persona.engine import Engine
    from persona.packs import get_pack

    sent = []
    real_stream = llama.stream

    def recording(messages, params, cancel, stats):
        out = "".join(real_stream(messages, params, cancel, stats))
        sent.append(([dict(m) for m in messages], params, out))
        yield out

    engine = Engine(pm=pm, backend="llama")
    chat = engine.new_chat(get_pack("captain-mara"))
    llama.cache.reset()
    llama.stream = recording
    try:
        results = [engine.turn(chat, f"Tell me about ship number {i}.", temperature=0, max_new_tokens=16)
                   for i in range(20)]
    finally:
        del llama.stream
    # Re-read each turn: the last reply and the new message, plus, on the turns whose
    # fired lore differs from the last turn's, everything after the system prompt.
    reread = [r.timings["prompt_tokens"] - r.timings["cached_tokens"] for r in results[1:]]
    assert all(n >= 2 for n in reread) and all(r.timings["prompt_eval_s"] is not None for r in results)
    assert sum(reread) < 0.35 * sum(r.timings["prompt_tokens"] for r in results[1:]), reread
    assert len(sent) == 20 and results[-1].timings["prompt_tokens"] > 700
    for i, (messages, params, warm) in enumerate(sent):
        llama.cache.reset()
        stats = Stats()
        cold = "".join(llama.stream(messages, params, threading.Event(), stats))
        assert stats.cached_tokens == 0 and cold == warm, f"turn {i + 1}"


def test_when_old_turns_drop_the_cache_is_cut_at_the_first_change(llama, pm):
    """A small window makes the budget drop old turns: the prompt then changes right
    after the system prompt, and the reply still equals a cold cache's."""
    from persona.engine import Engine
    from persona.packs import get_pack

    engine = Engine(pm=pm, backend="llama")
    chat = engine.new_chat(get_pack("professor-thistle"))
    window, llama.context_window = llama.context_window, 520
    sent = []
    real_stream = llama.stream

    def recording(messages, params, cancel, stats):
        out = "".join(real_stream(messages, params, cancel, stats))
        sent.append((messages, params, out, stats.cached_tokens))
        yield out

    llama.stream = recording
    try:
        results = [engine.turn(chat, f"Tell me about beetle number {i}, my dear fellow.", temperature=0,
                               max_new_tokens=40) for i in range(12)]
    finally:
        del llama.stream
        llama.context_window = window
    assert any(r.context.history_dropped for r in results)
    dropped = [i for i, r in enumerate(results) if r.context.history_dropped]
    for i in dropped:
        messages, params, warm, cached = sent[i]
        llama.cache.reset()
        stats = Stats()
        assert "".join(llama.stream(messages, params, threading.Event(), stats)) == warm, f"turn {i + 1}"
        assert 0 < cached < stats.prompt_tokens


def test_switching_between_two_long_chats_restores_each_ones_cache(llama):
    system = {"role": "system", "content": "You are a ship's log. " + "The wind was fair. " * 80}
    a = [system, {"role": "user", "content": "Chat A: " + "anchors and chains " * 150}]
    b = [dict(system, content=system["content"] + " Chat B."),
         {"role": "user", "content": "Chat B: " + "sails and masts " * 150}]
    llama.cache.reset()
    cold_a, first = run(llama, a)
    cold_b, _ = run(llama, b)
    again_a, stats = run(llama, a)
    assert first.cached_tokens == 0 and stats.cached_tokens == stats.prompt_tokens - 2
    assert again_a == cold_a and llama.cache.restores >= 1
    again_b, stats_b = run(llama, b)
    assert again_b == cold_b and stats_b.cached_tokens == stats_b.prompt_tokens - 2


def test_turn_record_shows_the_reuse(persona_home):
    first = json.loads(run_cli("ask", "captain-mara", "Hello there!", "--json", "--max-tokens", "8",
                               "--seed", "1").stdout)
    t = first["timings"]
    assert t["backend"] == "llama" and {"prompt_tokens", "cached_tokens", "prompt_eval_s"} <= set(t)


TEXT = {"smollm2-135m": "The old captain poured two cups of rum and told the story of the storm that sank "
                        "the Black Gull, the night the harbour navy chased her past the lighthouse and the reef.",
        "gemma3-270m": "娘娘，今日御花园的海棠开得正好。皇上昨夜召见了华妃，臣妾心中实在不安，还请娘娘示下。"}


def random_adapter(folder, shapes: dict[str, tuple[int, int]], layers: int, base: str, seed: int = 0):
    """A peft-format LoRA with random A and B (peft itself starts B at zero) on ``shapes``' projections."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    tensors = {}
    for i in range(layers):
        for proj, (out, inp) in shapes.items():
            pre = f"base_model.model.model.layers.{i}.self_attn.{proj}"
            tensors[f"{pre}.lora_A.weight"] = rng.normal(0, inp ** -0.5, (8, inp)).astype(np.float32)
            tensors[f"{pre}.lora_B.weight"] = rng.normal(0, 0.05, (out, 8)).astype(np.float32)
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": sorted(shapes), "bias": "none",
        "base_model_name_or_path": base, "task_type": "CAUSAL_LM"}))
    return folder


@pytest.fixture(scope="module")
def effect_pair(model_cache):
    """Per model: (llama backend, an fp32 hf backend) on the same weights."""
    from persona.models.hf import HFBackend
    from persona.models.registry import resolve

    loaded = {}

    def get(model: str):
        if model not in loaded:
            old = os.environ.get("PERSONA_DTYPE")
            os.environ["PERSONA_DTYPE"] = "float32"  # the reference: no bf16 rounding of activations
            try:
                hf = HFBackend(resolve(model)).load()
            finally:
                os.environ.pop("PERSONA_DTYPE") if old is None else os.environ.__setitem__("PERSONA_DTYPE", old)
            loaded[model] = (load_backend(model, backend="llama"), hf)
        return loaded[model]

    return get


def adapter_effect_error(llama, hf, model: str, name: str, path) -> float:
    """Relative error of llama.cpp's adapter effect (logits on minus off) against peft's,
    teacher-forced over 64 positions of a fixed text."""
    import torch

    tokens = llama.tokenize(TEXT[model] * 3)[:64]
    assert len(tokens) == 64

    def hf_logits():
        with torch.inference_mode():
            return hf.model(input_ids=torch.tensor([tokens])).logits[0].float().numpy()

    effects = []
    for backend, logits in ((llama, lambda: llama.logits(tokens)), (hf, hf_logits)):
        backend.use_adapter(name, str(path))
        on = logits()
        backend.use_adapter(None, None)
        effects.append(on - logits())
    d_llama, d_hf = effects
    assert np.abs(d_hf).max() > 0.5, "the adapter should change the logits clearly"
    return float(np.linalg.norm(d_llama - d_hf) / np.linalg.norm(d_hf))


# Measured on the bf16 re-encoding against fp32 transformers+peft: 0.088 for mara,
# 0.093 for the random q/k adapter (on Q4_1 or Q8_0 weights: 0.35-0.38, since
# llama.cpp rounds activations to 8 bits there; see models/llama_files.py). The
# same random adapter converted without the q/k permutation measures about 1.0.
# 0.15 leaves room for another CPU's rounding and still fails any wrong layout.
BOUND = 0.15


def test_mara_adapter_does_on_llama_what_it_does_in_peft(effect_pair):
    from tests.conftest import ROOT

    llama, hf = effect_pair("smollm2-135m")
    err = adapter_effect_error(llama, hf, "smollm2-135m", "mara-of-the-lantern",
                               ROOT / "personas" / "mara-of-the-lantern" / "adapter")
    assert err < BOUND, err


def test_random_qk_adapter_matches_and_needs_the_permutation(effect_pair, tmp_path, monkeypatch):
    """Only q/k adapters show a missing rope permutation: the conversion without it must fail the bound."""
    from persona.models import gguf_lora

    llama, hf = effect_pair("smollm2-135m")
    attn = hf.model.model.layers[0].self_attn
    shapes = {p: tuple(getattr(attn, p).weight.shape) for p in ("q_proj", "k_proj")}
    folder = random_adapter(tmp_path / "qk", shapes, len(hf.model.model.layers), "smollm2-135m")
    assert adapter_effect_error(llama, hf, "smollm2-135m", "random-qk", folder) < BOUND

    monkeypatch.setattr(gguf_lora, "_permute_rows", lambda b, n_head, module: b)
    wrong = tmp_path / "wrong.gguf"
    gguf_lora.write_gguf_lora(folder, llama.gguf, wrong)
    llama.adapters["random-qk-unpermuted"] = llama.lib.llama_adapter_lora_init(llama.model, str(wrong).encode())
    assert adapter_effect_error(llama, hf, "smollm2-135m", "random-qk-unpermuted", folder) > 0.5


def test_gemma_adapter_does_on_llama_what_it_does_in_peft(effect_pair, tmp_path):
    llama, hf = effect_pair("gemma3-270m")
    attn = hf.model.model.layers[0].self_attn
    shapes = {p: tuple(getattr(attn, p).weight.shape) for p in ("q_proj", "k_proj", "v_proj", "o_proj")}
    folder = random_adapter(tmp_path / "g", shapes, len(hf.model.model.layers), "gemma3-270m")
    assert adapter_effect_error(llama, hf, "gemma3-270m", "random-gemma", folder) < BOUND


def test_adapter_on_a_module_llama_cannot_patch_is_a_clear_error(tmp_path, llama):
    from safetensors.numpy import save_file

    folder = write_pack(tmp_path / "pack", MINIMAL + '[model]\nbase = "smollm2-135m"\nadapter = "adapter"\n')
    (folder / "adapter").mkdir()
    save_file({"base_model.model.lm_head.lora_A.weight": np.zeros((8, 576), np.float32),
               "base_model.model.lm_head.lora_B.weight": np.zeros((49152, 8), np.float32)},
              str(folder / "adapter" / "adapter_model.safetensors"))
    (folder / "adapter" / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["lm_head"], "bias": "none",
         "base_model_name_or_path": "smollm2-135m"}))
    proc = run_cli("ask", str(folder), "hi", "--max-tokens", "2")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "lm_head" in proc.stderr and "hint:" in proc.stderr
