"""The llama backend's KV cache across turns and chats: prefix reuse and saved chat states.

One llama.cpp context holds the KV cache of one token sequence (the *live*
one). A new prompt that extends it (the next turn of the same chat) evaluates
only its new tokens. A prompt that differs drops the cache from the first
different token on: correct first, then as fast as the shared prefix allows.

Switching between chats would throw away the live chat's cache, so before a
large part of it is dropped its KV state is saved (llama.cpp's per-sequence
state API) into a small LRU, bounded in bytes. A later prompt that shares more
with a saved state than with the live one restores it. States are matched by
their tokens, not by a chat id, so any front end gets this for free.

The adapter is part of every key: K and V depend on it, so a state computed
under one adapter is never reused under another.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

from persona import envvars

# Keep states only when the dropped part is worth a re-read, and stop at a budget.
# PERSONA_KV_MIN_SAVE and PERSONA_KV_STATES_MB override them when a cache is made.
MIN_SAVE_TOKENS = 256
BUDGET_MB = 256
MAX_STATES = 8


class Context(Protocol):
    """What the cache needs from a llama.cpp context (llama.py provides it)."""

    def truncate(self, n: int) -> bool:
        """Drop the KV cache from position ``n`` on; False if this memory cannot."""

    def clear(self) -> None: ...

    def save(self) -> Any:
        """The live sequence's state, as an opaque buffer with ``len()`` in bytes."""

    def restore(self, state: Any) -> bool: ...


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass
class Saved:
    adapter: str | None
    tokens: list[int]
    state: Any = field(repr=False)


class PromptCache:
    def __init__(self, ctx: Context, budget: int | None = None, min_save: int | None = None) -> None:
        self.ctx = ctx
        self.budget = budget if budget is not None else int(
            envvars.number("PERSONA_KV_STATES_MB", BUDGET_MB, allow_low=True) * 2**20)
        self.min_save = min_save if min_save is not None else int(
            envvars.number("PERSONA_KV_MIN_SAVE", MIN_SAVE_TOKENS, integer=True, allow_low=True))
        self.tokens: list[int] = []      # the live sequence: KV exists for exactly these
        self.adapter: str | None = None  # the adapter it was computed under
        self.saved: OrderedDict[int, Saved] = OrderedDict()
        self.saves = self.restores = 0

    def prepare(self, prompt: list[int], adapter: str | None) -> int:
        """Make the live KV a prefix of ``prompt``; returns how many tokens it already holds.

        At least the last two prompt tokens are always left to evaluate: the
        last one's logits pick the first new token, and a batch of two is
        computed with the same kernels as a cold prompt (llama.py, _chunks).
        """
        usable = max(0, len(prompt) - 2)
        live = common_prefix(self.tokens, prompt) if adapter == self.adapter else 0
        best_key, best = None, live
        for key, saved in self.saved.items():
            if saved.adapter == adapter:
                n = common_prefix(saved.tokens, prompt)
                if n > best:
                    best_key, best = key, n
        if len(self.tokens) - live >= self.min_save:  # about to lose much: keep a copy
            self._save_live()
        if best_key is not None and best - live >= self.min_save // 4:
            saved = self.saved.pop(best_key)
            if self.ctx.restore(saved.state):
                self.restores += 1
                self.tokens, self.adapter = list(saved.tokens), saved.adapter
                live = best
            else:
                self._reset(adapter)
                live = 0
        keep = min(live, usable)
        if keep < len(self.tokens) and not self.ctx.truncate(keep):
            self._reset(adapter)
            keep = 0
        del self.tokens[keep:]
        self.adapter = adapter
        return keep

    def extend(self, tokens: list[int]) -> None:
        """Record tokens just evaluated into the live KV."""
        self.tokens.extend(tokens)

    def forget(self, keep: int) -> None:
        """After an aborted evaluation: only the first ``keep`` tokens are known good."""
        if not self.ctx.truncate(keep):
            self._reset(self.adapter)
            return
        del self.tokens[keep:]

    def reset(self) -> None:
        """Forget everything: the live KV and every saved state."""
        self._reset(None)
        self.saved.clear()

    def _reset(self, adapter: str | None) -> None:
        self.ctx.clear()
        self.tokens = []
        self.adapter = adapter

    def _save_live(self) -> None:
        if not self.tokens:
            return
        state = self.ctx.save()
        if state is None or len(state) > self.budget:
            return
        self.saved[id(state)] = Saved(self.adapter, list(self.tokens), state)
        self.saves += 1
        while len(self.saved) > MAX_STATES or sum(len(s.state) for s in self.saved.values()) > self.budget:
            self.saved.popitem(last=False)
