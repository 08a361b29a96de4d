"""Export a stored conversation: ShareGPT (as in persona.conversation) or Markdown."""

from __future__ import annotations

from persona.conversation import Conversation
from persona.textsafe import dumps_json

FORMATS = ("sharegpt", "markdown")


def export_text(conv: Conversation, fmt: str, title: str = "") -> str:
    if fmt == "sharegpt":
        return dumps_json(conv.to_sharegpt(), indent=2) + "\n"  # C1 escaped too: same data once parsed
    if fmt == "markdown":
        lines = [f"# {title}", ""] if title else []
        for msg in conv.messages:
            if msg.role == "system":
                lines += ["> " + line for line in msg.content.splitlines()] + [""]
            elif msg.role == "function_call":
                lines += [f"*tool call:* `{msg.content}`", ""]
            elif msg.role == "observation":
                lines += [f"*tool result:* `{msg.content}`", ""]
            else:
                who = "You" if msg.role == "user" else (title or "Character")
                lines += [f"**{who}:** {msg.content}", ""]
        return "\n".join(lines)
    raise ValueError(f"unknown format {fmt!r}")
