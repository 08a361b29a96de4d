"""The OpenAI client backend: generation on any OpenAI-compatible server (vLLM, llama.cpp, Ollama, persona serve)."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from persona.errors import GenerationError, ModelError
from persona.models.base import GenerationParams, Stats, StopTrimmer
from persona.models.registry import ALIASES

# [model] keys this backend reads; docs/packs.md describes each.
OPTIONS = ("base_url", "model", "api_key_env", "timeout", "connect_timeout", "max_retries", "n_ctx",
           "extra_sampling")
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"  # `vllm serve`'s default port
DEFAULT_WINDOW = 2048  # without [model] n_ctx: small enough for every base persona ships
MAX_SERVER_STOPS = 4  # OpenAI's limit; the rest are trimmed here, as every stop is anyway


def approx_tokens(text: str) -> int:
    """An estimate that errs high: 3 ASCII characters a token (BPE averages ~4), 1.5 tokens a
    non-ASCII character (byte-level BPEs split CJK into 1-3). No tokenizer is loaded here."""
    ascii_chars = sum(1 for c in text if ord(c) < 128)
    return math.ceil(ascii_chars / 3 + 1.5 * (len(text) - ascii_chars))


class OpenAIBackend:
    """Streams chat completions from a server; ``model`` is [model] model, else the pack's adapter
    name (its id: vLLM's ``--lora-modules`` name), else the base alias (``--served-model-name``)."""

    name = "openai"
    load_seconds = 0.0

    def __init__(self, ref: str, options: dict[str, Any] | None = None) -> None:
        opts = options or {}
        self.ref = ref
        self.model_id = ref
        self.base_url = str(opts.get("base_url") or os.environ.get("PERSONA_OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        self.model = opts.get("model") or None
        self.api_key_env = str(opts.get("api_key_env") or "OPENAI_API_KEY")
        self.timeout = float(opts.get("timeout") or 120.0)  # seconds between two streamed bytes
        self.connect_timeout = float(opts.get("connect_timeout") or 5.0)
        self.max_retries = int(opts.get("max_retries", 2))  # 429/503/connection: backoff 0.5 s, 1 s, ...
        self.context_window = int(opts.get("n_ctx") or DEFAULT_WINDOW)
        self.extra_sampling = bool(opts.get("extra_sampling", True))
        alias = ALIASES.get(ref)
        self.stops = list(alias.stop) if alias else []
        self._adapter = threading.local()  # the engine switches and streams in one thread
        self._client_obj = None

    def model_name(self) -> str:
        return self.model or getattr(self._adapter, "name", None) or self.ref

    def use_adapter(self, name: str | None, path: str | None) -> None:
        """The adapter is the server's: only its name travels, as the request's model."""
        self._adapter.name = name

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        """An over-estimate (:func:`approx_tokens`, 4 a message for the template): the server's
        tokenizer is not here, and trimming a little early beats a request the server refuses."""
        return 3 + sum(4 + approx_tokens(str(m.get("content") or "")) for m in messages)

    def _client(self):
        if self._client_obj is None:
            import openai

            self._client_obj = openai.OpenAI(
                base_url=self.base_url, api_key=os.environ.get(self.api_key_env) or "none",
                timeout=openai.Timeout(self.timeout, connect=self.connect_timeout), max_retries=self.max_retries)
        return self._client_obj

    def request(self, messages: list[dict[str, str]], params: GenerationParams) -> dict[str, Any]:
        """The chat.completions.create arguments for these messages and settings."""
        body: dict[str, Any] = {
            "model": self.model_name(), "messages": messages, "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": params.temperature, "top_p": params.top_p, "max_tokens": params.max_new_tokens,
        }
        stops = [s for s in [*params.stop, *self.stops] if s][:MAX_SERVER_STOPS]
        if stops:
            body["stop"] = stops
        if params.seed is not None:
            body["seed"] = params.seed
        extra = {}
        if self.extra_sampling:  # vLLM, llama.cpp's server and persona serve read these
            if params.top_k:
                extra["top_k"] = params.top_k
            if params.repetition_penalty != 1.0:
                extra["repetition_penalty"] = params.repetition_penalty
        if extra:
            body["extra_body"] = extra
        return body

    def stream(self, messages: list[dict[str, str]], params: GenerationParams,
               cancel: threading.Event, stats: Stats) -> Iterator[str]:
        import openai

        stats.prompt_tokens = self.count_tokens(messages)
        t0 = time.perf_counter()
        try:
            response = self._client().chat.completions.create(**self.request(messages, params))
        except openai.APIError as exc:
            raise self._error(exc) from None
        done = threading.Event()
        # Closing the stream is the cancel the server sees; a watcher does it even while a
        # token is late, so Esc never waits on the network.
        watcher = threading.Thread(target=_close_on_cancel, args=(cancel, done, response),
                                   name="persona-openai-cancel", daemon=True)
        watcher.start()
        trimmer = StopTrimmer(list(params.stop) + self.stops)
        finish = None
        chunks = 0
        try:
            for chunk in response:
                if chunk.usage is not None:
                    stats.prompt_tokens = chunk.usage.prompt_tokens or stats.prompt_tokens
                    stats.new_tokens = chunk.usage.completion_tokens or stats.new_tokens
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish = choice.finish_reason or finish
                piece = choice.delta.content if choice.delta else None
                if piece:
                    chunks += 1
                    if stats.first_token_s is None:
                        stats.first_token_s = time.perf_counter() - t0
                    out = trimmer.feed(piece)
                    if out:
                        yield out
                    if trimmer.hit or cancel.is_set():
                        break
            if not (trimmer.hit or cancel.is_set()):
                if finish is None:
                    raise GenerationError(f"the model server at {self.base_url} ended the stream mid-reply",
                                          "the server may have crashed or restarted; check its log and retry")
                tail = trimmer.flush()
                if tail:
                    yield tail
        except Exception as exc:  # a stream the watcher closed fails in whatever way httpx reads it
            if not cancel.is_set():
                if isinstance(exc, openai.APIError):
                    raise self._error(exc, mid_stream=True) from None
                raise
        finally:
            done.set()
            response.close()
        stats.new_tokens = stats.new_tokens or chunks
        if stats.first_token_s is not None:
            stats.decode_s = max(time.perf_counter() - t0 - stats.first_token_s, 1e-9)
        stats.stopped = ("cancelled" if cancel.is_set() else "stop" if trimmer.hit
                         else "length" if finish == "length" else "eos")

    def _error(self, exc: Exception, mid_stream: bool = False) -> Exception:
        """One error + hint for what the openai package raised."""
        import openai

        where = f"the model server at {self.base_url}"
        if isinstance(exc, openai.APITimeoutError):
            return GenerationError(f"{where} did not answer within {self.timeout:g} s",
                                   "the server may be overloaded; raise [model] timeout to wait longer")
        if isinstance(exc, openai.APIConnectionError):
            if mid_stream:
                return GenerationError(f"{where} closed the connection mid-reply",
                                       "the server may have crashed or restarted; check its log and retry")
            return ModelError(f"cannot reach {where}",
                              "start the server (`persona scale vllm` prints a vllm serve line), or point "
                              "[model] base_url / PERSONA_OPENAI_BASE_URL at a running one")
        status = getattr(exc, "status_code", None)
        detail = " ".join(str(getattr(exc, "message", exc)).split())[:200]
        if status in (401, 403):
            return ModelError(f"{where} refused the API key (HTTP {status})",
                              f"set ${self.api_key_env} to the server's key ([model] api_key_env names the variable)")
        if status == 404:
            return ModelError(f"{where} has no model {self.model_name()!r}",
                              "set [model] model to one its /v1/models lists, or serve the adapter under this "
                              "name (`persona scale vllm`)")
        if status in (429, 503):
            return GenerationError(f"{where} is busy (HTTP {status}) after {self.max_retries} retries",
                                   "try again shortly, or raise [model] max_retries")
        if status == 400 and "context" in detail.lower():
            return GenerationError(f"{where} refused the prompt: {detail}",
                                   "set [model] n_ctx to the server's context length (vLLM's --max-model-len)")
        return GenerationError(f"{where} failed: HTTP {status}: {detail}" if status else f"{where} failed: {detail}",
                               "check the server's log")


def _close_on_cancel(cancel: threading.Event, done: threading.Event, response) -> None:
    while not done.wait(0.05):
        if cancel.is_set():
            response.close()
            return
