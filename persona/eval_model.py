"""What the eval asks of the model: per-sample losses on the character's tokens, and replies through the chat path."""

from __future__ import annotations

import math
import threading

from persona.train import collate, to_messages, tokenize


def row_losses(backend, rows: list[dict], max_len: int = 512) -> list[tuple[float, int]]:
    """``(summed loss, token count)`` of each row's assistant tokens (the training mask)."""
    import torch

    tok, model = backend.tokenizer, backend.model
    items = [tokenize(tok, to_messages(r), max_len) for r in rows]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]))
    out: dict[int, tuple[float, int]] = {}
    with torch.no_grad():
        for start in range(0, len(order), 4):  # few rows a batch, similar lengths: little padding
            idx = order[start:start + 4]
            ids, mask, labels = collate(items, idx, pad)
            losses, owner = _token_losses(model, ids.to(model.device), mask.to(model.device),
                                          labels.to(model.device))
            for row, i in enumerate(idx):
                mine = owner == row
                out[i] = (float(losses[mine].sum()), int(mine.sum()))
    return [out[i] for i in range(len(items))]


def _token_losses(model, ids, mask, labels):
    """Each labelled token's loss and the batch row it belongs to (the output layer at those positions only)."""
    import torch

    from persona.train import labelled_logits

    logits, target, keep = labelled_logits(model, ids, mask, labels)
    return torch.nn.functional.cross_entropy(logits, target, reduction="none"), keep.nonzero()[:, 0]


def pooled_perplexity(losses: list[tuple[float, int]]) -> float:
    """exp of the mean loss per token over the rows (each token weighs the same, as in training)."""
    total, count = sum(x for x, _ in losses), sum(n for _, n in losses)
    if not count:
        raise ValueError("no labelled tokens")
    return math.exp(total / count)


def generate(backend, rows: list[dict], max_new_tokens: int, seed: int, temperature: float = 0.7,
             sampling: dict | None = None) -> list[str]:
    """One reply for each row, from its turns before the last assistant turn (``seed + i`` for row i);
    ``sampling`` overrides temperature, top_p, repetition_penalty (the sampling sweep)."""
    from persona.models.base import GenerationParams, Stats

    out = []
    for i, row in enumerate(rows):
        msgs = to_messages(row)
        while msgs and msgs[-1]["role"] == "assistant":
            msgs.pop()
        params = GenerationParams(**{"temperature": temperature, "top_p": 0.9, **(sampling or {})},
                                  max_new_tokens=max_new_tokens, seed=seed + i)
        out.append("".join(backend.stream(msgs, params, threading.Event(), Stats())).strip())
    return out
