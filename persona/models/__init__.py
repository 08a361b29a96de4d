"""Model registry and backends. Loaded bases are shared: one per model source."""

from __future__ import annotations

from collections.abc import Callable

from persona.models.base import Backend, GenerationParams, Stats
from persona.models.registry import ALIASES, DEFAULT_MODEL, ModelSpec, resolve

__all__ = ["ALIASES", "DEFAULT_MODEL", "Backend", "GenerationParams", "ModelSpec", "Stats",
           "load_backend", "resolve"]

_LOADED: dict[str, Backend] = {}


def load_backend(ref: str | None, progress: Callable[[str], None] | None = None) -> Backend:
    """The backend for a model reference, loading it once per process."""
    spec = resolve(ref)
    key = "|".join(spec.parts) or spec.source
    if key not in _LOADED:
        from persona.models.hf import HFBackend

        _LOADED[key] = HFBackend(spec).load(progress)
    return _LOADED[key]
