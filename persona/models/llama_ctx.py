"""The llama.cpp plumbing under the llama backend: cores, context ops, metadata, logs."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any


def physical_cores() -> int:
    """Cores this process may use, counting hyper-threads once (llama.cpp's own default)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    siblings = set()
    for cpu in cpus:
        try:
            siblings.add(Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list").read_text().strip())
        except OSError:
            siblings.add(str(cpu))
    return max(1, len(siblings))


class ContextOps:
    """The llama_context operations PromptCache needs."""

    def __init__(self, lib: Any, ctx: Any) -> None:
        self.lib, self.ctx, self.mem = lib, ctx, lib.llama_get_memory(ctx)

    def truncate(self, n: int) -> bool:
        return bool(self.lib.llama_memory_seq_rm(self.mem, 0, n, -1))

    def clear(self) -> None:
        self.lib.llama_memory_clear(self.mem, True)

    def save(self):
        size = self.lib.llama_state_seq_get_size(self.ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        return buf if self.lib.llama_state_seq_get_data(self.ctx, buf, size, 0) == size else None

    def restore(self, state) -> bool:
        self.lib.llama_memory_seq_rm(self.mem, 0, -1, -1)
        return self.lib.llama_state_seq_set_data(self.ctx, state, len(state), 0) == len(state)


def meta(lib: Any, model: Any, key: str) -> str | None:
    size = lib.llama_model_meta_val_str(model, key.encode(), None, 0)
    if size < 0:
        return None
    buf = ctypes.create_string_buffer(size + 1)
    lib.llama_model_meta_val_str(model, key.encode(), buf, size + 1)
    return buf.value.decode("utf-8", errors="replace")


_LOG_CB = None


def quiet(lib: Any) -> None:
    """llama.cpp logs every load to stderr; keep it for PERSONA_LLAMA_LOG=1."""
    global _LOG_CB
    if _LOG_CB is None and not os.environ.get("PERSONA_LLAMA_LOG"):
        _LOG_CB = lib.llama_log_callback(lambda level, text, data: None)
        lib.llama_log_set(_LOG_CB, ctypes.c_void_p(0))
