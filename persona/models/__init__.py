"""Model registry and backends. Loaded bases are shared: one per model source and backend."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from persona.errors import ModelError
from persona.models.base import Backend, GenerationParams, Stats
from persona.models.registry import ALIASES, DEFAULT_MODEL, ModelSpec, resolve

__all__ = ["ALIASES", "BACKENDS", "DEFAULT_MODEL", "Backend", "GenerationParams", "ModelSpec", "Stats",
           "choose_backend", "load_backend", "resolve"]

BACKENDS = ("auto", "llama", "hf", "openai")
LLAMA_OPTIONS = ("n_threads", "n_ctx", "n_batch")  # [model] keys the llama backend reads
_LOADED: dict[str, Backend] = {}


def choose_backend(spec: ModelSpec, name: str | None = "auto") -> str:
    """``auto`` (or PERSONA_BACKEND) → llama for GGUF files, hf for Hugging Face folders and hub ids."""
    name = name or "auto"
    if name == "auto":
        name = os.environ.get("PERSONA_BACKEND", "auto") or "auto"
    if name not in BACKENDS:
        raise ModelError(f"unknown backend {name!r}", f"use one of {', '.join(BACKENDS)}")
    if name == "auto":
        return "llama" if spec.kind == "gguf" else "hf"
    if name == "openai":
        return name
    if name == "llama" and spec.kind != "gguf":
        raise ModelError(f"the llama backend runs GGUF models; {spec.ref!r} is a {spec.kind} model",
                         "use --backend hf (or [model] backend = \"hf\") for Hugging Face folders and hub ids")
    return name


def _wanted(name: str | None) -> str:
    name = name or "auto"
    return (os.environ.get("PERSONA_BACKEND") or "auto") if name == "auto" else name


def load_backend(ref: str | None, progress: Callable[[str], None] | None = None, backend: str | None = "auto",
                 options: dict[str, Any] | None = None) -> Backend:
    """The backend for a model reference, loading it once per process.

    ``options`` are the pack's [model] settings; the llama backend reads
    n_threads, n_ctx and n_batch from them, and the first load of a base wins;
    the openai backend reads its own (models/openai_backend.py OPTIONS).
    """
    if _wanted(backend) == "openai":  # the weights are the server's: nothing to resolve here
        from persona.models.openai_backend import OPTIONS, OpenAIBackend

        opts = {k: v for k, v in (options or {}).items() if k in OPTIONS}
        key = "|".join(["openai", repr(sorted(opts.items())), os.environ.get("PERSONA_OPENAI_BASE_URL", ""),
                        ref or DEFAULT_MODEL])
        if key not in _LOADED:
            _LOADED[key] = OpenAIBackend(ref or DEFAULT_MODEL, opts)
        return _LOADED[key]
    spec = resolve(ref)
    kind = choose_backend(spec, backend)
    key = kind + "|" + ("|".join(spec.parts) or spec.source)
    if key not in _LOADED:
        if kind == "llama":
            from persona.models.llama import LlamaBackend

            opts = {k: v for k, v in (options or {}).items() if k in LLAMA_OPTIONS and v}
            _LOADED[key] = LlamaBackend(spec, opts).load(progress)
        else:
            from persona.models.hf import HFBackend

            _LOADED[key] = HFBackend(spec).load(progress)
    return _LOADED[key]
