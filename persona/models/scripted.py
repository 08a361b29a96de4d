"""A deterministic backend for unit tests of the engine's own logic."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from persona.models.base import GenerationParams, Stats, StopTrimmer


class ScriptedBackend:
    """Replies from a list, in order (the last one repeats); streams word by word.

    Tokens are counted as whitespace-separated words plus 4 per message, so
    context-budget tests can reason about exact numbers.
    """

    name = "scripted"

    def __init__(self, replies: list[str] | None = None, context_window: int = 2048,
                 model_id: str = "scripted") -> None:
        self.replies = list(replies or ["..."])
        self.context_window = context_window
        self.model_id = model_id
        self.load_seconds = 0.0
        self.calls: list[list[dict[str, str]]] = []
        self.adapter: str | None = None
        self.fail_with: Exception | None = None

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(len(m["content"].split()) + 4 for m in messages) + 2

    def stream(self, messages: list[dict[str, str]], params: GenerationParams,
               cancel: threading.Event, stats: Stats) -> Iterator[str]:
        self.calls.append(messages)
        if self.fail_with is not None:
            raise self.fail_with
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        stats.prompt_tokens = self.count_tokens(messages)
        stats.first_token_s = 0.0
        trimmer = StopTrimmer(params.stop)
        words = reply.split(" ")
        for i, word in enumerate(words[: params.max_new_tokens]):
            if cancel.is_set():
                stats.stopped = "cancelled"
                return
            stats.new_tokens += 1
            out = trimmer.feed(word if i == 0 else " " + word)
            if out:
                yield out
            if trimmer.hit:
                stats.stopped = "stop"
                return
        tail = trimmer.flush()
        if tail:
            yield tail
        stats.stopped = "length" if len(words) > params.max_new_tokens else "eos"

    def use_adapter(self, name: str | None, path: str | None) -> None:
        self.adapter = name
