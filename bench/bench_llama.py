"""Benchmark: the llama backend against hf and against bare llama-cpp-python, in one run.

Rows: decode speed (hf bf16, persona's llama backend, llama-cpp-python's own
``Llama`` on the same GGUF: the ceiling), with and without a pack adapter; the
time to first token at turn 1 and turn 20 of a growing chat, with and without
KV reuse; an adapter switch A → B → none → A; the GGUF encodings (why bf16);
and a cold start to the first token in a new process. Markdown on stdout.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from persona.models import llama_files, load_backend, registry  # noqa: E402
from persona.models.base import GenerationParams, Stats  # noqa: E402

SYSTEM = ("You are Captain Mara, a retired smuggler who now runs the Salt & Lantern, a tavern on the "
          "docks of Port Veyra. You speak in short, salty sentences with sailor's words. "
          "You never say you are an AI. Answer User in two or three sentences.")
QUESTIONS = ["Tell me about the night you outran the harbour navy.", "What do you pour for sailors?",
             "Who is the harbour master?", "What became of the Black Gull?", "Do you miss the sea?"]
PARAMS = dict(temperature=0.0, repetition_penalty=1.15, seed=0)
MARA_ADAPTER = ROOT / "personas" / "mara-of-the-lantern" / "adapter"


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def gen(backend, messages, n: int, **kw) -> tuple[str, Stats]:
    stats = Stats()
    text = "".join(backend.stream(messages, GenerationParams(max_new_tokens=n, **{**PARAMS, **kw}),
                                  threading.Event(), stats))
    return text, stats


def bare_decode(gguf: Path, tokens: list[int], n: int, threads: int) -> float:
    """llama-cpp-python's high-level Llama on the same file and prompt: tokens/s."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=threads, n_batch=512, verbose=False)
    best = 0.0
    for _ in range(3):
        llm.reset()
        t0, first, count = time.perf_counter(), None, 0
        for _ in llm.generate(tokens, temp=0.0, repeat_penalty=1.15, top_k=0, top_p=1.0, min_p=0.0):
            count += 1
            if first is None:
                first = time.perf_counter()
            if count >= n:
                break
        best = max(best, (count - 1) / (time.perf_counter() - first))
    del llm
    return best


def chat_ttft(backend, turns: int, reuse: bool) -> list[float]:
    """Time to first token per turn of one growing chat (replies of 24 tokens)."""
    messages = [{"role": "system", "content": SYSTEM}]
    out = []
    if hasattr(backend, "cache"):
        backend.cache.reset()
    for i in range(turns):
        messages.append({"role": "user", "content": QUESTIONS[i % len(QUESTIONS)] + f" ({i + 1})"})
        if not reuse and hasattr(backend, "cache"):
            backend.cache.reset()
        text, stats = gen(backend, messages, 24)
        out.append(stats.first_token_s)
        messages.append({"role": "assistant", "content": text.strip() or "Aye."})
    return out


def random_adapter(folder: Path) -> Path:
    """A second adapter for the switch test: random LoRA weights on q/v of every layer."""
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(1)
    tensors = {}
    for i in range(30):
        for proj, out in (("q_proj", 576), ("v_proj", 192)):
            pre = f"base_model.model.model.layers.{i}.self_attn.{proj}"
            tensors[f"{pre}.lora_A.weight"] = rng.normal(0, 0.04, (8, 576)).astype(np.float32)
            tensors[f"{pre}.lora_B.weight"] = rng.normal(0, 0.01, (out, 8)).astype(np.float32)
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"],
        "bias": "none", "base_model_name_or_path": "smollm2-135m"}))
    return folder


def switch_ms(backend, adapters: list[tuple[str | None, Path | None]]) -> list[float]:
    times = []
    for name, path in adapters:
        t0 = time.perf_counter()
        backend.use_adapter(name, str(path) if path else None)
        backend._use(backend.active_adapter)  # the llama_set_adapters_lora call of the next generation
        times.append((time.perf_counter() - t0) * 1000)
    return times


def cold_start(cache_dir: str) -> float:
    """A new `persona ask` process, model cache warm: seconds until it has printed a 1-token reply."""
    env = dict(os.environ, PERSONA_CACHE_DIR=cache_dir, PERSONA_HOME=tempfile.mkdtemp(prefix="persona-bench-"))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "persona", "ask", "captain-mara", "Hello!", "--max-tokens", "1",
                               "--json"], capture_output=True, text=True, env=env, cwd=ROOT)
        wall = time.perf_counter() - t0
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["timings"]["backend"] == "llama"
        best = min(best, wall)
    return best


def main(report=print) -> None:
    load_before = os.getloadavg()[0]
    if load_before > 0.3:
        say(f"warning: load average {load_before:.2f}; other processes will add noise")
    spec = registry.resolve("smollm2-135m")
    hf = load_backend("smollm2-135m", backend="hf")
    llama = load_backend("smollm2-135m", backend="llama")
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTIONS[0]}]
    tokens = llama.tokenize(llama.render(messages))
    n = 128

    say("decode: hf, llama, bare llama-cpp-python …")
    rows = {}
    for label, backend, adapter in (("hf", hf, None), ("llama", llama, None),
                                    ("hf + mara adapter", hf, "mara"), ("llama + mara adapter", llama, "mara")):
        backend.use_adapter(adapter, str(MARA_ADAPTER) if adapter else None)
        gen(backend, messages, 8)  # warm-up
        runs = [gen(backend, messages, n)[1] for _ in range(3)]
        rows[label] = max(s.tokens_per_s for s in runs)
        backend.use_adapter(None, None)
    ceiling = bare_decode(llama.gguf, tokens, n, llama.n_threads)

    say("time to first token over a 20-turn chat …")
    ttft = {"hf": chat_ttft(hf, 20, True), "llama, reuse": chat_ttft(llama, 20, True),
            "llama, no reuse": chat_ttft(llama, 20, False)}

    say("adapter switches …")
    tmp = Path(tempfile.mkdtemp(prefix="persona-bench-adapter-"))
    other = random_adapter(tmp / "b")
    switch_ms(llama, [("a", MARA_ADAPTER), ("b", other), (None, None)])  # first loads convert and load
    switches = [switch_ms(llama, [("a", MARA_ADAPTER), ("b", other), (None, None), ("a", MARA_ADAPTER)])
                for _ in range(5)]
    flat = [t for run in switches for t in run]

    say("GGUF encodings …")
    enc = {}
    source = llama_files.source_gguf(spec)
    for name in ("source", "q8_0", "bf16"):
        path = source if name == "source" else llama_files.runtime_gguf(spec, enc=name)
        enc[name] = encoding_speed(llama, path, tokens)

    say("cold start …")
    cold = cold_start(os.environ["PERSONA_CACHE_DIR"])

    import datetime

    import llama_cpp

    report("## llama backend: smollm2-135m\n")
    report(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}; "
           f"1-min load average at start {load_before:.2f}, at end {os.getloadavg()[0]:.2f}; "
           f"{os.cpu_count()} cores; llama-cpp-python {llama_cpp.__version__}")
    report(f"- llama.cpp threads {llama.n_threads}, n_batch {llama.n_batch}, context {llama.context_window}, "
           f"runtime GGUF encoding `{llama_files.encoding()}`; greedy, repetition_penalty 1.15 (last 64), "
           f"{n} new tokens, best of 3\n")
    report("| measurement | hf | llama | bare llama-cpp-python | llama / hf | llama / bare |")
    report("|---|---|---|---|---|---|")
    report(f"| decode, tok/s | {rows['hf']:.1f} | {rows['llama']:.1f} | {ceiling:.1f} | "
           f"{rows['llama'] / rows['hf']:.2f}x | {rows['llama'] / ceiling:.2f}x |")
    report(f"| decode with the mara adapter, tok/s | {rows['hf + mara adapter']:.1f} | "
           f"{rows['llama + mara adapter']:.1f} | | {rows['llama + mara adapter'] / rows['hf + mara adapter']:.2f}x | |")
    report("")
    report("| time to first token, s | turn 1 | turn 20 | turn 20 / turn 1 |")
    report("|---|---|---|---|")
    for label, values in ttft.items():
        report(f"| {label} | {values[0]:.3f} | {values[-1]:.3f} | {values[-1] / values[0]:.2f}x |")
    report("")
    report(f"- adapter switch A → B → none → A, ms: median {statistics.median(flat):.2f}, "
           f"max {max(flat):.2f} over {len(flat)} switches (no base reload; the next prompt is re-read)")
    report(f"- cold start, new `persona ask` process to a 1-token reply, model cache warm: {cold:.2f} s (best of 3)")
    report("")
    report("| runtime GGUF encoding | prefill, tok/s | decode, tok/s |")
    report("|---|---|---|")
    for name, (prefill, decode) in enc.items():
        report(f"| {name} | {prefill:.0f} | {decode:.1f} |")


def encoding_speed(llama, path: Path, tokens: list[int]) -> tuple[float, float]:
    """Prefill and decode tokens/s of llama.cpp on one GGUF file (a fresh context)."""
    from persona.models.llama import LlamaBackend

    other = LlamaBackend(llama.spec, {"n_threads": llama.n_threads, "gguf": path}).load()
    long = [{"role": "system", "content": SYSTEM * 6}, {"role": "user", "content": QUESTIONS[0]}]
    best_p = best_d = 0.0
    for _ in range(3):
        other.cache.reset()
        _, stats = gen(other, long, 64)
        best_p = max(best_p, (stats.prompt_tokens - stats.cached_tokens) / stats.prompt_eval_s)
        best_d = max(best_d, stats.tokens_per_s or 0.0)
    return best_p, best_d


if __name__ == "__main__":
    os.environ.setdefault("PERSONA_CACHE_DIR", tempfile.mkdtemp(prefix="persona-bench-"))
    main()
