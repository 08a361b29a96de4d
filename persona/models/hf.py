"""The transformers backend: bf16 on CPU (CUDA when present), streaming, adapters.

The only module of the engine that imports torch and transformers, and only
inside functions, so the CLI starts fast and its error paths cost nothing.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from persona import envvars
from persona.errors import GenerationError, ModelError
from persona.models import cache
from persona.models.base import GenerationParams, Stats, StopTrimmer
from persona.models.registry import ALIASES, ModelSpec

Progress = Callable[[str], None]
# Seconds to wait for the next token before giving up on a stuck generation.
TOKEN_TIMEOUT_S = 120.0  # PERSONA_TOKEN_TIMEOUT overrides it, read per reply


def _dtype_and_device():
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    # bf16: half the memory and a faster first token on CPU (bench/RESULTS.md).
    name = os.environ.get("PERSONA_DTYPE", "bfloat16")
    if name not in ("bfloat16", "float32", "float16"):
        raise ModelError(f"PERSONA_DTYPE={name!r} is not supported", "use bfloat16, float16 or float32")
    return getattr(torch, name), device


def weights_folder(spec: ModelSpec, progress: Progress | None = None) -> Path | str:
    """A folder (or hub id) transformers can load this model from, converting once."""
    say = progress or (lambda msg: None)
    if spec.kind != "gguf":
        return spec.source
    files = [Path(p) for p in spec.parts] or [Path(spec.source)]
    sha = cache.file_sha256(files)  # about 0.3 s per 100 MB, once per file
    folder = cache.cached(sha)
    if folder is not None:
        return folder
    gguf = cache.assemble_parts(files, f"{spec.alias}.gguf") if spec.parts else files[0]
    from persona.models.convert import convert_gguf

    title = f"converting {spec.alias or gguf.name} once into the model cache"
    return cache.write_atomically(sha, lambda tmp: convert_gguf(gguf, tmp, spec.chat_template, title, say))


def is_cached(spec: ModelSpec) -> bool:
    if spec.kind != "gguf":
        return True
    files = [Path(p) for p in spec.parts] or [Path(spec.source)]
    return cache.cached(cache.file_sha256(files)) is not None


class HFBackend:
    name = "hf"

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.model_id = spec.alias or spec.ref
        self.model = None
        self.tokenizer = None
        self.load_seconds = 0.0
        self.context_window = 2048
        self.adapters: dict[str, Path] = {}
        self.active_adapter: str | None = None
        self._lock = threading.Lock()  # one generation at a time on a shared base

    def load(self, progress: Progress | None = None) -> HFBackend:
        folder = weights_folder(self.spec, progress)
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a cached load takes well under a second
        hf_logging.set_verbosity_error()
        dtype, device = _dtype_and_device()
        local = self.spec.kind != "hub"
        t0 = time.perf_counter()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=local)
            self.model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=dtype, local_files_only=local, use_safetensors=True)
        except OSError as exc:
            if self.spec.kind == "hub":
                raise ModelError(f"could not load {self.spec.ref!r} from the model hub ({type(exc).__name__})",
                                 "this machine may be offline; use an alias (`persona models`), a local folder or a .gguf file") from None
            raise ModelError(f"could not load model from {folder}: {exc}",
                             "delete the cache folder and retry, or re-install the model package") from None
        if self.spec.chat_template and not self.tokenizer.chat_template:
            self.tokenizer.chat_template = self.spec.chat_template
        self.model.to(device).eval()
        self.load_seconds = time.perf_counter() - t0
        self.context_window = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)
        self._eos = self._eos_ids()
        return self

    def _eos_ids(self) -> list[int]:
        tok = self.tokenizer
        ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
        vocab = tok.get_vocab()
        for marker in ("<|im_end|>", "<end_of_turn>", "<|endoftext|>", "<|eot_id|>"):
            if marker in vocab:
                ids.add(vocab[marker])
        return sorted(ids)

    # -- prompt ---------------------------------------------------------------

    def render(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        return len(self.tokenizer(self.render(messages), add_special_tokens=False)["input_ids"])

    # -- generation -------------------------------------------------------------

    def stream(self, messages: list[dict[str, str]], params: GenerationParams,
               cancel: threading.Event, stats: Stats) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        timeout = envvars.number("PERSONA_TOKEN_TIMEOUT", TOKEN_TIMEOUT_S)
        with self._lock:
            inputs = self.tokenizer(self.render(messages), return_tensors="pt",
                                    add_special_tokens=False).to(self.model.device)
            stats.prompt_tokens = int(inputs["input_ids"].shape[1])
            streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True,
                                            timeout=timeout)
            stop_now = threading.Event()  # set when the consumer leaves or a stop string appears

            class _Cancel(StoppingCriteria):
                def __call__(self, input_ids, scores, **kwargs):
                    done = cancel.is_set() or stop_now.is_set()
                    return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

            sampling = params.temperature > 0
            kwargs = dict(
                **inputs, streamer=streamer, max_new_tokens=params.max_new_tokens,
                do_sample=sampling, logits_processor=penalty_processors(params),
                stopping_criteria=StoppingCriteriaList([_Cancel()]),
                eos_token_id=self._eos, pad_token_id=self.tokenizer.pad_token_id or self._eos[0],
            )
            if sampling:
                kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k or None)
            if params.seed is not None:
                torch.manual_seed(params.seed)
            result: dict = {}

            def run() -> None:
                try:
                    with torch.inference_mode():
                        result["ids"] = self.model.generate(**kwargs)
                except BaseException as exc:  # reported to the consumer below
                    result["error"] = exc
                    streamer.end()

            thread = threading.Thread(target=run, name="persona-generate", daemon=True)
            t0 = time.perf_counter()
            thread.start()
            trimmer = StopTrimmer(list(params.stop) + list(self.spec.stop))
            try:
                for chunk in streamer:
                    if stats.first_token_s is None:
                        stats.first_token_s = time.perf_counter() - t0
                    out = trimmer.feed(chunk)
                    if out:
                        yield out
                    if trimmer.hit:
                        stop_now.set()
                        break
                tail = trimmer.flush()
                if tail:
                    yield tail
            except queue.Empty:
                stop_now.set()
                raise GenerationError(f"the model produced no token for {timeout:g} s",
                                      "the machine may be overloaded; set PERSONA_TOKEN_TIMEOUT to wait longer") from None
            finally:
                stop_now.set()
                thread.join()
            t_end = time.perf_counter()
            if "error" in result:
                raise GenerationError(f"generation failed: {result['error']}", "run with --debug for details") from result["error"]
            if "ids" in result:
                stats.new_tokens = int(result["ids"].shape[1]) - stats.prompt_tokens
            if stats.first_token_s is not None:
                stats.decode_s = max(t_end - t0 - stats.first_token_s, 1e-9)
            stats.stopped = ("cancelled" if cancel.is_set() else "stop" if trimmer.hit
                             else "length" if stats.new_tokens >= params.max_new_tokens else "eos")

    # -- adapters ---------------------------------------------------------------

    def use_adapter(self, name: str | None, path: str | os.PathLike[str] | None) -> None:
        """Switch to a pack's LoRA adapter on this shared base (loaded once), or to none."""
        with self._lock:
            if name is None:
                if self.adapters and self.active_adapter is not None:
                    self.model.disable_adapters()
                self.active_adapter = None
                return
            if name not in self.adapters:
                self._load_adapter(name, Path(path))
            self.model.enable_adapters()
            self.model.set_adapter(name)
            self.active_adapter = name

    def _load_adapter(self, name: str, path: Path) -> None:
        check_adapter_base(path, self.spec, self.model_id)
        try:
            info = self.model.load_adapter(str(path), adapter_name=name)  # a local folder: no hub access
        except (RuntimeError, ValueError, KeyError) as exc:
            self._drop_adapter(name)
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "version of PEFT" in first:  # the installed pair, not the adapter (transformers 5.24 + peft 0.21)
                raise ModelError(f"the installed transformers and peft do not work together: {first}",
                                 "reinstall the locked versions with `make setup` "
                                 "(or pip install -r requirements.lock --no-deps)") from None
            raise ModelError(f"adapter {path} does not fit {self.model_id}: {first}",
                             "the adapter was trained on another base model; retrain it on this one") from None
        mismatched = getattr(info, "mismatched_keys", None)
        if mismatched:
            self._drop_adapter(name)
            raise ModelError(f"adapter {path} does not fit {self.model_id}: {len(mismatched)} tensors have other shapes",
                             "the adapter was trained on another base model; retrain it on this one")
        self.adapters[name] = path

    def _drop_adapter(self, name: str) -> None:
        try:
            self.model.delete_adapter(name)
        except Exception:  # nothing was injected; nothing to undo
            pass


@functools.cache
def _windowed_penalty() -> type:
    """transformers' RepetitionPenaltyLogitsProcessor, fed only the last ``last_n`` tokens."""
    from transformers import RepetitionPenaltyLogitsProcessor

    class WindowedRepetitionPenalty(RepetitionPenaltyLogitsProcessor):
        def __init__(self, penalty: float, last_n: int) -> None:
            super().__init__(penalty)
            self.last_n = last_n

        def __call__(self, input_ids, scores):
            return super().__call__(input_ids[:, -self.last_n:] if self.last_n > 0 else input_ids, scores)

    return WindowedRepetitionPenalty


def penalty_processors(params: GenerationParams) -> list:
    """transformers' repetition penalty over a window of the last tokens.

    transformers applies it to the whole context, system prompt included, so it
    pushes down the very words a character sheet teaches (beetles, "my dear
    fellow") and the character fades as the chat grows. llama.cpp, Ollama and
    KoboldCpp penalise a window of recent tokens; so do we, with transformers'
    own processor fed that window.
    """
    if params.repetition_penalty == 1.0:
        return []
    return [_windowed_penalty()(float(params.repetition_penalty), params.repetition_penalty_range)]


def check_adapter_base(path: Path, spec: ModelSpec, model_id: str) -> dict:
    """The adapter's config, if it may be put on this base; a ModelError naming both if not."""
    try:
        config = json.loads((path / "adapter_config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"adapter {path}: unreadable adapter_config.json ({exc})",
                         "re-save the adapter with peft's save_pretrained") from None
    recorded = (config.get("base_model_name_or_path") or "") if isinstance(config, dict) else ""
    if not base_matches(recorded, spec):
        raise ModelError(f"adapter {path} was trained on {recorded!r}, but the pack's model is {model_id!r}",
                         f"set [model] base to the adapter's base, or retrain it with --base {model_id}")
    return config


def base_matches(recorded: str, spec: ModelSpec) -> bool:
    """False only when the adapter names a *known* model other than this one.

    An unknown name (a training machine's local path) is checked by shape at load.
    """
    if not recorded or recorded in spec.names:
        return True
    for alias in ALIASES.values():
        if recorded == alias.name or recorded in alias.hub_ids:
            return False
    return True
