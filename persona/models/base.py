"""What every backend provides, and the sampling settings it receives."""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class GenerationParams:
    temperature: float = 0.8
    top_p: float = 0.9
    top_k: int = 0
    repetition_penalty: float = 1.1
    max_new_tokens: int = 200
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    # repetition_penalty looks at the last N tokens only (0: the whole context),
    # as llama.cpp's and Ollama's repeat_last_n (64) and KoboldCpp's rep_pen_range do.
    repetition_penalty_range: int = 64

    @classmethod
    def from_sampling(cls, sampling: dict[str, Any], **overrides: Any) -> GenerationParams:
        """The pack's [sampling], then the overrides that are set (an unset CLI flag is None)."""
        given = check_overrides(overrides)
        known = {k: v for k, v in {**sampling, **given}.items()
                 if k in cls.__dataclass_fields__ and v is not None}
        return cls(**known)


SEED_MAX = 2**32 - 1  # llama.cpp's seeds are 32-bit


@functools.cache
def _sampling_validator():
    """The pack schema's [sampling] ranges plus the seed's, built once per process (every turn checks)."""
    import json

    import jsonschema

    from persona import paths

    schema = json.loads((paths.PACKAGE_DIR / "pack_schema.json").read_text())["properties"]["sampling"]
    schema["properties"]["seed"] = {"type": "integer", "minimum": 0, "maximum": SEED_MAX}
    return schema, jsonschema.Draft202012Validator(schema)


def check_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """The set overrides, checked against the ranges a pack's [sampling] must keep; raises InputError."""
    from persona.errors import InputError

    given = {k: v for k, v in overrides.items() if v is not None}
    for key, value in given.items():
        if isinstance(value, float) and not math.isfinite(value):  # NaN passes every range check
            raise InputError(f"{key} {value} is not a number", "give a finite number")
    schema, validator = _sampling_validator()
    error = next(iter(validator.iter_errors(given)), None)
    if error is not None:
        key = str(error.path[0]) if error.path else "sampling"
        raise InputError(f"{key} {error.message}",
                         f"allowed: {_range(schema['properties'].get(key, {}))}" if key in schema["properties"]
                         else "see `persona ask --help`")
    return given


def _range(prop: dict[str, Any]) -> str:
    low = prop.get("minimum", prop.get("exclusiveMinimum"))
    high = prop.get("maximum")
    kind = "a whole number" if prop.get("type") == "integer" else "a number"
    if low is None and high is None:
        return kind
    return f"{kind} from {low if low is not None else '-inf'}{' (exclusive)' if 'exclusiveMinimum' in prop else ''}" \
           f" to {high if high is not None else 'any'}"


@dataclass
class Stats:
    """Filled in by a backend while it streams."""

    prompt_tokens: int = 0
    cached_tokens: int = 0      # prompt tokens whose KV cache was reused (llama backend)
    prompt_eval_s: float | None = None  # evaluating the rest of the prompt
    new_tokens: int = 0
    first_token_s: float | None = None
    decode_s: float = 0.0
    stopped: str = ""  # "eos", "length", "stop", "cancelled"

    @property
    def tokens_per_s(self) -> float | None:
        return self.new_tokens / self.decode_s if self.decode_s > 0 and self.new_tokens else None


class Backend(Protocol):
    name: str
    model_id: str
    context_window: int
    load_seconds: float

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        """Tokens of the prompt these chat messages render to, with the generation prompt."""

    def stream(self, messages: list[dict[str, str]], params: GenerationParams,
               cancel: threading.Event, stats: Stats) -> Iterator[str]:
        """Yield text chunks of the reply until done or ``cancel`` is set."""

    def use_adapter(self, name: str | None, path: str | None) -> None:
        """Activate the named adapter (loading it once), or none."""


class StopTrimmer:
    """Holds back text that might be the start of a stop string, and trims at one.

    Streaming must never show the user the first half of a stop string that
    turns out to be complete one token later.
    """

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.text = ""
        self.emitted = 0
        self.hit = False

    def feed(self, chunk: str) -> str:
        self.text += chunk
        for stop in self.stops:
            idx = self.text.find(stop)
            if idx != -1:
                self.hit = True
                self.text = self.text[:idx]
                return self._emit(len(self.text))
        hold = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(self.text)), 0, -1):
                if self.text.endswith(stop[:n]):
                    hold = max(hold, n)
                    break
        return self._emit(len(self.text) - hold)

    def flush(self) -> str:
        return self._emit(len(self.text))

    def _emit(self, upto: int) -> str:
        out = self.text[self.emitted:upto]
        self.emitted = max(self.emitted, upto)
        return out
