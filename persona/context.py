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
message, then that message. Messages placed *at a depth* (world-info "@ D"
entries, the author's note, post-history instructions) go N chat messages
before the end (0: after the newest), without touching the chat's own
messages. See docs/architecture.md, "Prompt layout".
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


def split_placed(messages: list[dict]) -> tuple[list[dict], list[dict], dict[str, list[str]]]:
    """Take out the messages plugins placed in the chat: ``"depth": N`` ones (as inserts for
    :func:`assemble`) and ``"authors_note": "top"|"bottom"`` ones (the note's slots, by name)."""
    inserts = [{"role": m["role"], "content": m["content"], "depth": max(0, m["depth"])}
               for m in messages if type(m.get("depth")) is int and m.get("content")]
    slots: dict[str, list[str]] = {"top": [], "bottom": []}
    for m in messages:
        if m.get("authors_note") in slots and m.get("content"):
            slots[m["authors_note"]].append(m["content"])
    rest = [m for m in messages if m.get("depth") is None and m.get("authors_note") is None]
    return rest, inserts, slots


def place(chat: list[dict[str, str]], inserts: list[dict], note: dict[str, str] | None = None,
          newest_at: int = 0) -> list[dict[str, str]]:
    """``chat`` with each insert ``depth`` messages before its end (0: after the last one), and the
    note before ``chat[newest_at]``.

    An insert never splits a tool call from its result (it moves up past tool results).
    Inserts at one depth keep their order; those of one role are joined into one
    message, as SillyTavern joins them. The chat's own messages are the same objects,
    unchanged, so what comes before the first insert is byte-stable between turns.
    """
    n = len(chat)
    at: dict[int, list[dict]] = {}
    for ins in sorted(inserts, key=lambda i: -i["depth"]):  # deeper first; stable within a depth
        i = max(0, n - ins["depth"])
        while 0 < i < n and chat[i]["role"] == "tool":
            i -= 1
        bucket = at.setdefault(i, [])
        if bucket and bucket[-1]["role"] == ins["role"] and bucket[-1]["depth"] == ins["depth"]:
            bucket[-1]["content"] += "\n" + ins["content"]
        else:
            bucket.append(dict(ins))
    if note is not None:
        at.setdefault(newest_at, []).append(note)
    out: list[dict[str, str]] = []
    for i in range(n + 1):
        out.extend(m if m is note else {"role": m["role"], "content": m["content"]} for m in at.get(i, []))
        if i < n:
            out.append(chat[i])
    return out


def assemble(system: dict[str, str] | None, examples: list[list[dict[str, str]]],
             history: list[dict[str, str]], count: Counter, limit: int,
             note: dict[str, str] | None = None,
             inserts: list[dict] | None = None) -> tuple[list[dict[str, str]], ContextReport]:
    """Choose what fits in ``limit`` tokens; see the module docstring for the order.

    ``inserts`` (``{"role", "content", "depth"}``) go into the chat at their depth
    (:func:`place`); they are never dropped or shortened, and count against the limit."""
    if limit <= 0:
        raise InputError(f"the reply's token limit leaves {max(limit, 0)} tokens of the context window "
                         "for the prompt", HINT)
    report = ContextReport(limit=limit)
    head = [dict(system)] if system else []
    turns = _groups(history)
    newest = [dict(m) for m in turns.pop()] if turns else []
    note = dict(note) if note is not None else None
    kept_examples = list(examples)

    def build() -> list[dict[str, str]]:
        older = [m for t in turns for m in t]
        return head + [m for ex in kept_examples for m in ex] + place(older + newest, inserts or [], note, len(older))

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
            candidates = head + [m for m in newest + ([note] if note else []) if m["role"] in ("user", "system")]
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
