"""Prompt assembly within the model's context window.

What goes in, in priority order: the system prompt, the newest turn (the user's
message and any tool messages after it), the example dialogues, older history.
When it does not fit, examples drop first (SillyTavern's "gradually push out"),
then the oldest history turns, and as a last resort the system prompt and the
newest message are shortened. The result never exceeds ``limit`` tokens.

The layout keeps a chat's prompt byte-stable from turn to turn, so a backend
that keeps its KV cache (llama) evaluates only what is new: system prompt,
examples, history in order, then this turn's *notes* (lore entries, mood notes:
what changes every turn) as one system message just before the newest user
message, then that message. See docs/architecture.md, "Prompt layout".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from persona.conversation import Message
from persona.errors import InputError

Counter = Callable[[list[dict[str, str]]], int]


@dataclass
class ContextReport:
    prompt_tokens: int = 0
    limit: int = 0
    examples_used: int = 0
    examples_dropped: int = 0
    history_dropped: int = 0  # messages
    truncated: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


# limit is the context window less max_new_tokens (--max-tokens, or the pack's [sampling]).
HINT = "lower --max-tokens (or the pack's [sampling] max_new_tokens) well below the model's context window"

def to_model_message(msg: Message) -> dict[str, str]:
    """What the model sees of a message. Tool traffic is shown in the Hermes
    ``<tool_call>`` / ``<tool_response>`` tags small chat models know best; a
    tool result has role ``tool`` (ChatML renders it as its own turn, Gemma's
    template as a user turn) so it stays part of the turn that asked for it."""
    if msg.role == "function_call":
        call = msg.tool_call or {}
        body = json.dumps({"name": call.get("name"), "arguments": call.get("arguments", {})}, ensure_ascii=False) \
            if msg.tool_call else msg.content
        return {"role": "assistant", "content": f"<tool_call>{body}</tool_call>"}
    if msg.role == "observation":
        return {"role": "tool", "content": f"<tool_response>{msg.content}</tool_response>"}
    return {"role": msg.role, "content": msg.content}


def _groups(history: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    """Split history into turns, each starting at a user message."""
    groups: list[list[dict[str, str]]] = []
    for msg in history:
        if msg["role"] == "user" or not groups:
            groups.append([msg])
        else:
            groups[-1].append(msg)
    return groups


def split_notes(messages: list[dict]) -> tuple[list[dict[str, str]], dict[str, str] | None]:
    """Take out the messages plugins marked ``"note": True``; join them into one system message."""
    notes = [m["content"] for m in messages if m.get("note") and m.get("content")]
    rest = [m for m in messages if not m.get("note")]
    return rest, ({"role": "system", "content": "\n\n".join(notes)} if notes else None)


def assemble(system: dict[str, str] | None, examples: list[list[dict[str, str]]],
             history: list[dict[str, str]], count: Counter, limit: int,
             note: dict[str, str] | None = None) -> tuple[list[dict[str, str]], ContextReport]:
    """Choose what fits in ``limit`` tokens; see the module docstring for the order."""
    if limit <= 0:
        raise InputError(f"the reply's token limit leaves {max(limit, 0)} tokens of the context window "
                         "for the prompt", HINT)
    report = ContextReport(limit=limit)
    head = [dict(system)] if system else []
    turns = _groups(history)
    newest = [dict(m) for m in turns.pop()] if turns else []
    if note is not None:
        newest.insert(0, dict(note))
    kept_examples = list(examples)

    def build() -> list[dict[str, str]]:
        return head + [m for ex in kept_examples for m in ex] + [m for t in turns for m in t] + newest

    total = count(build())
    if total > limit:
        # Re-rendering the whole prompt after each drop is quadratic in the
        # conversation length, so drop by each message's marginal cost next to
        # the system prompt (templates add default system prompts to a lone
        # message), then re-check the exact total.
        anchor = head or [{"role": "system", "content": ""}]
        anchor_cost = count(anchor)
        cache: dict[tuple[str, str], int] = {}

        def cost(msgs: list[dict[str, str]]) -> int:
            total = 0
            for m in msgs:
                key = (m["role"], m["content"])
                if key not in cache:
                    cache[key] = max(0, count(anchor + [m]) - anchor_cost)
                total += cache[key]
            return total

        estimate = count(head) + cost(build()[len(head):])
        while estimate > limit and (kept_examples or turns):
            if kept_examples:
                estimate -= cost(kept_examples.pop())
                report.examples_dropped += 1
            else:
                dropped = turns.pop(0)
                estimate -= cost(dropped)
                report.history_dropped += len(dropped)
        total = count(build())
        while total > limit and (kept_examples or turns):
            if kept_examples:
                kept_examples.pop()
                report.examples_dropped += 1
            else:
                report.history_dropped += len(turns.pop(0))
            total = count(build())
        # Last resort: shorten the longest of the system prompt and the newest messages.
        while total > limit:
            # Tool traffic is never cut: half a JSON object helps nobody.
            candidates = head + [m for m in newest if m["role"] in ("user", "system")]
            longest = max(candidates, key=lambda m: len(m["content"]), default=None)
            if longest is None or len(longest["content"]) < 8:
                raise InputError(f"the chat template alone needs {total} tokens, over the {limit} tokens "
                                 "the reply's token limit leaves for the prompt", HINT)
            keep = max(1, int(len(longest["content"]) * min(0.9, limit / total)))
            if any(longest is m for m in head):
                longest["content"] = longest["content"][:keep]
            else:
                longest["content"] = longest["content"][-keep:]
            report.truncated = True
            total = count(build())
    if report.truncated:
        report.notes.append("the system prompt or message was shortened to fit the context window")
    report.examples_used = len(kept_examples)
    report.prompt_tokens = total
    return build(), report
