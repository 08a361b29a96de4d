"""llama.cpp's sampler chain, built in the order transformers samples.

transformers applies the repetition penalty to the logits, then temperature,
top_k, top_p, and draws (or takes the argmax when not sampling). llama.cpp's
own default chain adds top_k 40 and min_p 0.05 and orders them differently, so
the same pack settings would mean something else on each backend. The penalty
window gets the prompt's last tokens first, since transformers penalises
those too (persona/models/hf.py: a window of ``repetition_penalty_range``).
"""

from __future__ import annotations

from typing import Any

from persona.models.base import GenerationParams


def sampler_chain(lib: Any, params: GenerationParams, prompt: list[int], n_vocab: int,
                  n_ctx: int | None = None) -> Any:
    """A llama_sampler chain for these settings; the caller frees it."""
    chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
    add = lambda s: lib.llama_sampler_chain_add(chain, s)  # noqa: E731
    if params.repetition_penalty != 1.0:
        last_n = params.repetition_penalty_range or n_ctx or len(prompt) + params.max_new_tokens
        penalties = lib.llama_sampler_init_penalties(n_vocab, last_n, float(params.repetition_penalty), 0.0, 0.0)
        for tok in prompt[-last_n:]:
            lib.llama_sampler_accept(penalties, tok)
        add(penalties)
    if params.temperature > 0:
        add(lib.llama_sampler_init_temp(float(params.temperature)))
        if params.top_k and params.top_k > 0:
            add(lib.llama_sampler_init_top_k(int(params.top_k)))
        if params.top_p < 1.0:
            add(lib.llama_sampler_init_top_p(float(params.top_p), 1))
        seed = lib.LLAMA_DEFAULT_SEED if params.seed is None else int(params.seed) & 0xFFFFFFFF
        add(lib.llama_sampler_init_dist(seed))
    else:
        add(lib.llama_sampler_init_greedy())
    return chain
